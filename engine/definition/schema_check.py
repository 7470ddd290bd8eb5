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


# What the schema's patterns mean, in words (the pattern itself says little to a person).
PATTERN_WORDS = {
    "^[a-z][a-z0-9_.-]{0,79}$": "a lowercase letter first, then lowercase letters, digits, _ . or -; "
    "at most 80 characters (e.g. market_daily)",
    "^[a-z][a-z0-9_]{0,62}$": "a lowercase letter first, then lowercase letters, digits or _; at most 63 "
    "characters (e.g. review_data)",
    "^[A-Za-z][A-Za-z0-9_.-]{0,62}$": "a letter first, then letters, digits, _ . or -; at most 63 characters",
    "^[A-Za-z_][A-Za-z0-9_.:-]{0,199}$": "a letter or _ first, then letters, digits, _ . : or - "
    "(e.g. market.ingest)",
    "^[A-Za-z0-9_.:-]{1,100}$": "letters, digits, _ . : or -; 1 to 100 characters",
    "^[a-z][a-z0-9_-]{0,62}$": "a lowercase letter first, then lowercase letters, digits, _ or -",
    "^[A-Z][A-Z0-9_]{0,99}$": "an upper-case code such as RETRY_INGESTION",
    "^[A-Za-z][A-Za-z0-9_.-]{0,79}$": "a letter first, then letters, digits, _ . or -; at most 80 characters",
}
DURATION_WORDS = "an ISO 8601 duration such as PT30M, PT2H, P1D or P1DT12H"
# What the string formats ask for, in words and with an example.
FORMAT_WORDS = {
    "uri": "a link with its scheme (e.g. https://example.com/plan)",
    "email": "an e-mail address (e.g. ana@example.com)",
    "date": "a date as YYYY-MM-DD (e.g. 2026-03-31)",
    "date-time": "a date and time with its time zone (e.g. 2026-03-31T09:30:00Z)",
    "time": "a time with its time zone (e.g. 09:30:00Z)",
    "duration": DURATION_WORDS,
    "uuid": "a UUID (e.g. 123e4567-e89b-12d3-a456-426614174000)",
}


def error_words(error: ValidationError, *, whole: str) -> str:
    """The designer's wording of any JSON Schema error (instance params, an attempt's input, …): the most
    specific reason, with the field's name; `whole` names the document itself (e.g. "params")."""
    return _message(_most_specific(error), whole=whole)


def data_problems(validator: Draft202012Validator, data: Any, *, whole: str) -> list[dict[str, str]]:
    """Every way `data` (start params, an attempt's input, a form's data) breaks its schema, sorted by
    path: `{"path": JSON pointer, "message": error_words}`. A missing required field is a problem of its
    own at the field's pointer, so a form can show it beside the field."""
    found: dict[tuple[str | int, ...], list[str]] = {}
    for error in validator.iter_errors(data):
        parts = tuple(error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, Mapping):
            # jsonschema reports `required` once per missing name, each error listing all of them.
            for name in _missing(error):
                found.setdefault((*parts, name), [f"{_title(error.schema, name)} is required"])
        else:
            found.setdefault(parts, []).append(error_words(error, whole=whole))
    ordered = sorted(found.items(), key=lambda item: [str(part) for part in item[0]])
    return [
        {"path": pointer(*parts), "message": message} for parts, messages in ordered for message in messages
    ]


def _missing(error: ValidationError) -> list[str]:
    value = error.validator_value if isinstance(error.validator_value, list) else []
    return [str(name) for name in value if isinstance(error.instance, Mapping) and name not in error.instance]


def _title(schema: object, name: str) -> str:
    """A property's name as its schema's `title` gives it (the label a form shows), else its key."""
    properties = schema.get("properties") if isinstance(schema, Mapping) else None
    prop = properties.get(name) if isinstance(properties, Mapping) else None
    title = prop.get("title") if isinstance(prop, Mapping) else None
    return title if isinstance(title, str) and title.strip() else name


def field_name(error: ValidationError, whole: str = "the template") -> str:
    """The field an error is about, as a person names it: its schema's `title` where it has one (the
    label a form shows), else `id`, `phases[2]`, `the template`."""
    path = list(error.absolute_path)
    if not path:
        return whole
    title = error.schema.get("title") if isinstance(error.schema, Mapping) else None
    if isinstance(title, str) and title.strip():
        return title
    last = path[-1]
    if isinstance(last, int):
        parent = next((str(part) for part in reversed(path[:-1]) if isinstance(part, str)), "item")
        return f"{parent}[{last}]"
    return str(last)


def _shown(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def _message(error: ValidationError, whole: str = "the template") -> str:
    """The error in words, with the field's name: never JSON Schema's own phrasing of the rule."""
    field, rule, value = field_name(error, whole), error.validator, error.validator_value
    if rule == "type":
        wanted = " or ".join(value) if isinstance(value, list) else str(value)
        got = _json_type(error.instance)
        return f"{field} must be {_article(wanted)}{wanted}, not {_article(got)}{got}"
    if rule == "pattern":
        if error.instance == "":
            return f"{field} must not be empty"
        if str(value).startswith("^P(?!$)"):
            return truncate(f"{field} {_shown(error.instance)} is not {DURATION_WORDS}")
        words = PATTERN_WORDS.get(str(value), f"the form {value}")
        return truncate(f"{field} {_shown(error.instance)} is not allowed: use {words}")
    if rule == "required":
        missing = _missing(error)
        names = ", ".join(_title(error.schema, name) for name in missing) or ", ".join(value)
        return f"the field {names} is required" if len(missing) <= 1 else f"the fields {names} are required"
    if rule == "enum":
        return truncate(
            f"{field} must be one of {', '.join(map(_shown, value))}, not {_shown(error.instance)}"
        )
    if rule == "format":
        words = FORMAT_WORDS.get(str(value), f"a valid {value}")
        return truncate(f"{field} {_shown(error.instance)} is not {words}")
    if rule == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(error.schema.get("properties", {})) if isinstance(error.schema, Mapping) else []
        unknown = [repr(name) for name in error.instance if name not in allowed]
        what = f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
        return truncate(f"{field} has {what}; allowed here: {', '.join(allowed) or 'none'}")
    if rule == "multipleOf":
        return f"{field} must be a multiple of {value}, not {_shown(error.instance)}"
    if rule == "const":
        return f"{field} must be {_shown(value)}, not {_shown(error.instance)}"
    if rule == "minLength":
        return f"{field} must not be empty" if value == 1 else f"{field} needs at least {value} characters"
    if rule == "maxLength":
        return f"{field} is too long: at most {value} characters"
    if rule == "minItems":
        return f"{field} needs at least {value} entr{'y' if value == 1 else 'ies'}"
    if rule == "maxItems":
        return f"{field} has too many entries: at most {value}"
    if rule == "uniqueItems":
        return f"{field} lists the same entry twice"
    bounds = {"minimum": "at least", "exclusiveMinimum": "more than", "maximum": "at most"}
    if rule in (*bounds, "exclusiveMaximum"):
        return f"{field} must be {bounds.get(rule, 'less than')} {value}, not {_shown(error.instance)}"
    if rule == "maxProperties":
        return f"{field} has too many entries: at most {value}"
    if rule == "minProperties":
        return f"{field} needs at least {value} entr{'y' if value == 1 else 'ies'}"
    return truncate(f"{field}: {error.message}")


def _article(noun: str) -> str:
    return "an " if noun[:1] in "aeiou" else "a "


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
