"""Step 2 of validation: the JSON Schema in template.schema.json, every error with its JSON pointer."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from engine.definition.problems import Problem, pointer, truncate

SCHEMA_PATH = Path(__file__).with_name("template.schema.json")


Parts = tuple[str | int, ...]


# --- Step 2: the JSON Schema ------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def template_validator() -> Draft202012Validator:
    """The validator for template.schema.json (loaded once)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@lru_cache(maxsize=1)
def metaschema_validator() -> Draft202012Validator:
    # What Draft202012Validator.check_schema uses, but iter_errors reports every problem, not the first.
    meta = Draft202012Validator.META_SCHEMA
    return Draft202012Validator(meta, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_problems(document: Any) -> list[Problem]:
    """Pass 1: every error of the template schema, as `schema` problems."""
    errors = template_validator().iter_errors(document)
    return [problem for error in errors for problem in from_schema_error(error, code="schema", base=())]


def from_schema_error(error: ValidationError, *, code: str, base: Parts) -> Iterator[Problem]:
    custom = error.schema.get("errorMessage") if isinstance(error.schema, Mapping) else None
    if isinstance(custom, str):
        yield Problem(pointer(*base, *error.absolute_path), code, custom)
        return
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        # One problem per unknown field, pointing at the field itself and saying what is allowed instead.
        allowed = sorted(error.schema.get("properties", {}))
        for name in error.instance:
            if name not in allowed:
                where = pointer(*base, *error.absolute_path, name)
                yield Problem(
                    where, code, truncate(f"unknown field {name!r}; allowed here: {', '.join(allowed)}")
                )
        return
    best = _most_specific(error)
    yield Problem(pointer(*base, *best.absolute_path), code, _message(best))


def _most_specific(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf failures, the sub-error that says most: deepest, and not a mere type mismatch."""
    while error.context:
        error = min(error.context, key=lambda sub: (sub.validator == "type", -len(sub.absolute_path)))
    return error


def _message(error: ValidationError) -> str:
    if error.validator == "type":
        expected = error.validator_value
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"expected {wanted}, got {_json_type(error.instance)}"
    return truncate(error.message)


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
