"""The layers of the code, read from every import statement (including those inside functions).

    interfaces   engine/api, engine/admin, engine/pages, the dashboard's views, designer, engine/tasks.py,
                 management commands: import only the public surface below (and their own package)
    surface      engine.services (writes), engine.selectors (reads), engine.access (who may),
                 engine.models, engine.errors, engine.definition (pure validation)
    machinery    engine.runtime: private to the surface; never imports an interface or the surface above it
    contract     engine.definition: pure Python, no Django, nothing of the engine outside itself

An import that crosses a line on purpose goes in ALLOWED with the reason; anything else fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = ROOT / "engine" / "definition"

SURFACE = (
    "engine.services",
    "engine.selectors",
    "engine.access",
    "engine.models",
    "engine.errors",
    "engine.definition",
)
INTERFACES = {
    "engine.api": ROOT / "engine" / "api",
    "engine.admin": ROOT / "engine" / "admin",
    "engine.pages": ROOT / "engine" / "pages",
    "engine.management": ROOT / "engine" / "management",
    "designer": ROOT / "designer",
    "fixtures.management": ROOT / "fixtures" / "management",
}
INTERFACE_FILES = {
    "engine.tasks": ROOT / "engine" / "tasks.py",
    "engine.observability.views": ROOT / "engine" / "observability" / "views.py",
}

# (importing package, imported module): why it may.
ALLOWED = {
    ("designer", "engine.admin.templates"): "the designer's admin extends the engine's template admins",
    ("designer", "engine.activities"): "the activity picker lists the registered activities",
    ("engine.admin", "engine.roles"): "reads: who holds which role of a template",
    ("designer", "engine.roles"): "reads: which roles of a document nobody holds yet",
    ("engine.api", "engine.roles"): "reads: the publish answer warns of roles nobody holds yet",
    ("engine.management", "engine.activities"): "validate_template checks activity names without a database",
    ("engine.api", "engine.paging"): "pagination helpers, no engine state",
    ("engine.api", "engine.lockout"): "the sign-in lockout message, no engine state",
    ("engine.admin", "engine.paging"): "pagination helpers, no engine state",
    ("engine.pages", "engine.paging"): "pagination helpers, no engine state",
    ("engine.api", "engine.observability"): "the metrics endpoint reads the dashboard's figures",
    ("engine.observability.views", "engine.observability"): "the dashboard's own figures and scrape guard",
}

# Modules that import each other (with no TYPE_CHECKING guard): a lazy import hides a cycle. Known ones,
# each to be untangled by its owner; a new one fails the test.
KNOWN_CYCLES = {
    ("engine.runtime.kinds.wait", "engine.runtime.signals"),
    ("engine.definition.composition", "engine.definition.semantics"),
    ("engine.runtime.journal", "engine.runtime.subworkflows"),
    ("engine.runtime.operations", "engine.runtime.subworkflows"),
}


def _imported_modules(path: Path, *, skip_type_checking: bool = False) -> list[tuple[int, str]]:
    """Every absolute module an import statement names, with its line (relative imports stay inside)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    guarded: set[int] = set()
    if skip_type_checking:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                guarded |= {id(inner) for inner in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in ("engine", "designer"):
            # `from engine import models` imports engine.models.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# --- the contract is pure -------------------------------------------------------------------------------


def _is_forbidden(module: str) -> bool:
    """For engine/definition: Django, or anything of the engine outside engine.definition."""
    if _within(module, "django"):
        return True
    return _within(module, "engine") and not _within(module, "engine.definition")


def _definition_sources() -> list[Path]:
    return sorted(DEFINITION.rglob("*.py"))


def test_there_is_something_to_scan():
    assert {path.name for path in _definition_sources()} >= {"validation.py", "compiler.py", "plan.py"}


@pytest.mark.parametrize("path", _definition_sources(), ids=lambda path: path.name)
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
        ("engine.errors", True),
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
        "from engine.definition import plan\n"
        "def f():\n    from django.conf import settings\n    from engine import models\n    import django\n"
    )

    assert [module for _, module in _imported_modules(source) if _is_forbidden(module)] == [
        "django.conf",
        "engine.models",
        "django",
    ]


# --- interfaces use the surface only --------------------------------------------------------------------


def _interface_sources() -> list[tuple[str, Path]]:
    found = [
        (package, path) for package, folder in INTERFACES.items() for path in sorted(folder.rglob("*.py"))
    ]
    found += list(INTERFACE_FILES.items())
    return [(package, path) for package, path in found if "migrations" not in path.parts]


def _interface_breaks(package: str, path: Path) -> list[str]:
    breaks = []
    for line, module in _imported_modules(path):
        if not (_within(module, "engine") or _within(module, "designer") or _within(module, "fixtures")):
            continue
        if any(_within(module, allowed) for allowed in SURFACE) or _within(module, package):
            continue
        if any(_within(package, who) and _within(module, what) for who, what in ALLOWED):
            continue
        if _within(module, "fixtures") and package == "fixtures.management":
            continue  # the examples' own command uses the examples
        breaks.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    return breaks


@pytest.mark.parametrize(
    ("package", "path"), _interface_sources(), ids=lambda value: getattr(value, "name", value)
)
def test_interfaces_import_only_the_public_surface(package, path):
    assert _interface_breaks(package, path) == []


def test_the_interface_rule_catches_a_runtime_import(tmp_path):
    source = tmp_path / "view.py"
    source.write_text("from engine.runtime.human import phase_claim\nfrom engine.services import phases\n")

    assert [b.rsplit(": ", 1)[1] for b in _interface_breaks_of(source, "engine.pages")] == [
        "engine.runtime.human"
    ]


def _interface_breaks_of(path: Path, package: str) -> list[str]:
    return [
        f"{path}:{line}: {module}"
        for line, module in _imported_modules(path)
        if _within(module, "engine")
        and not any(_within(module, allowed) for allowed in SURFACE)
        and not _within(module, package)
    ]


# --- the machinery looks down only ----------------------------------------------------------------------

ABOVE_RUNTIME = (
    "engine.api",
    "engine.admin",
    "engine.pages",
    "engine.tasks",
    "engine.services",
    "engine.selectors",
    "designer",
)


@pytest.mark.parametrize(
    "path", sorted((ROOT / "engine" / "runtime").rglob("*.py")), ids=lambda path: path.name
)
def test_runtime_never_imports_what_sits_above_it(path):
    upward = [
        f"{path.name}:{line}: {module}"
        for line, module in _imported_modules(path)
        if any(_within(module, above) for above in ABOVE_RUNTIME)
    ]

    assert upward == []


@pytest.mark.parametrize("name", ["access.py", "selectors.py", "services"])
def test_the_surface_never_imports_an_interface(name):
    paths = sorted((ROOT / "engine" / name).rglob("*.py")) if name == "services" else [ROOT / "engine" / name]
    interfaces = ("engine.api", "engine.admin", "engine.pages", "engine.tasks", "designer")
    upward = [
        f"{path.name}:{line}: {module}"
        for path in paths
        for line, module in _imported_modules(path)
        if any(_within(module, interface) for interface in interfaces)
    ]

    assert upward == []


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_two_engine_modules_import_each_other():
    modules = {
        _module_name(path): path for path in (ROOT / "engine").rglob("*.py") if "migrations" not in path.parts
    }
    imports = {
        name: {module for _, module in _imported_modules(path, skip_type_checking=True) if module in modules}
        for name, path in modules.items()
    }
    cycles = {
        (a, b) for a, targets in imports.items() for b in targets if a < b and a in imports.get(b, set())
    }

    assert cycles - KNOWN_CYCLES == set()
    assert ("engine.runtime.human", "engine.runtime.sla") not in cycles
