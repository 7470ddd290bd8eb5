"""engine/definition is pure Python: no Django, and nothing from the engine but itself and engine.errors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

DEFINITION = Path(__file__).resolve().parents[2] / "engine" / "definition"
ALLOWED_ENGINE_MODULES = ("engine.definition", "engine.errors")


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute module an import statement names, with its line (relative imports stay inside)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "engine":
            # `from engine import models` imports engine.models; `from engine import errors` is allowed.
            found += [(node.lineno, f"engine.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _is_forbidden(module: str) -> bool:
    if module == "django" or module.startswith("django."):
        return True
    if module == "engine" or module.startswith("engine."):
        return not any(
            module == allowed or module.startswith(allowed + ".") for allowed in ALLOWED_ENGINE_MODULES
        )
    return False


def _sources() -> list[Path]:
    return sorted(DEFINITION.rglob("*.py"))


def test_there_is_something_to_scan():
    assert {path.name for path in _sources()} >= {"validation.py", "compiler.py", "calendar.py", "plan.py"}


@pytest.mark.parametrize("path", _sources(), ids=lambda path: path.name)
def test_definition_module_imports_no_django_and_no_outer_engine_module(path):
    forbidden = [
        f"{path.name}:{line}: {module}" for line, module in _imported_modules(path) if _is_forbidden(module)
    ]

    assert forbidden == []


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("django", True),
        ("django.db.models", True),
        ("engine.models", True),
        ("engine", True),
        ("engine.runtime.scheduler", True),
        ("engine.errors", False),
        ("engine.definition.plan", False),
        ("engine.definitions", True),
        ("djangorestframework_like", False),
        ("jsonschema", False),
    ],
)
def test_forbidden_rule(module, forbidden):
    assert _is_forbidden(module) is forbidden


def test_scan_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "sneaky.py"
    source.write_text(
        "from engine import errors\n"
        "def f():\n    from django.conf import settings\n    from engine import models\n    import django\n"
    )

    assert [module for _, module in _imported_modules(source) if _is_forbidden(module)] == [
        "django.conf",
        "engine.models",
        "django",
    ]
