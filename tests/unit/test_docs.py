"""docs/ stays in step with the code it describes."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "engine" / "definition" / "template.schema.json"
FORMAT_DOC = ROOT / "docs" / "template-format.md"


def schema_properties(node: object) -> set[str]:
    """Every property name the schema declares, at any depth."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                found |= set(value)
            found |= schema_properties(value)
    elif isinstance(node, list):
        for item in node:
            found |= schema_properties(item)
    return found


def mentioned(doc: str) -> set[str]:
    """Names written as code: `name`, or "name" inside a code span's JSON."""
    return set(re.findall(r"`([$A-Za-z_][A-Za-z0-9_]*)`", doc)) | set(
        re.findall(r'"([$A-Za-z_][A-Za-z0-9_]*)"', doc)
    )


def test_every_field_of_the_schema_is_described_in_docs_template_format():
    properties = schema_properties(json.loads(SCHEMA.read_text()))
    doc = FORMAT_DOC.read_text()
    missing = sorted(properties - mentioned(doc))

    assert len(properties) > 40  # the walk found the schema's fields
    assert missing == []


def test_every_phase_type_of_the_schema_has_a_row():
    schema = json.loads(SCHEMA.read_text())
    text = json.dumps(schema)
    types = set(re.findall(r'"const": "([a-z_]+)"', text)) & {
        "human", "task", "gate", "choice", "map", "wait", "subworkflow"
    }  # fmt: skip
    doc = FORMAT_DOC.read_text()
    assert types and all(f"| `{kind}` |" in doc for kind in types)


def test_the_readme_points_into_the_repository_not_outside_it():
    readme = (ROOT / "README.md").read_text()
    assert "../shared" not in readme
    for link in ("docs/template-format.md", "docs/operations.md", "docs/architecture.md"):
        assert link in readme and (ROOT / link).exists()
