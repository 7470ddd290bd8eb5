"""Django forms built from a phase's JSON Schema, and the small forms of the phase pages.

`SchemaForm(schema, data=...)` renders one field per property of an object schema:

| JSON Schema | field |
| --- | --- |
| `string` | text (a textarea unless `maxLength` is short) |
| `string` + `format: uri` / `email` | URL / e-mail input |
| `string` + `format: date` / `date-time` | date / date-and-time input |
| `enum` (any scalar type) | select |
| `integer`, `number` | number input with `minimum` / `maximum` |
| `boolean` | checkbox; a select of yes/no when the schema requires an answer |
| `array` of strings | textarea, one value per line |
| `array` of an enum | checkboxes |
| anything else | JSON textarea |

Required properties are marked, `title` is the label and `description` the help text. `to_json()` gives
the data to submit, with empty optional values left out. The schema itself has the last word: the service
validates the data against it and the view puts its problems beside the fields (`add_problems`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

SHORT_TEXT = 200


def _label(name: str, prop: Mapping[str, Any]) -> str:
    title = prop.get("title")
    return str(title) if title else name.replace("_", " ").capitalize()


def _display(value: Any) -> str:
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def _choices(values: list[Any], required: bool) -> list[tuple[str, str]]:
    choices = [
        (json.dumps(value) if not isinstance(value, str) else value, _display(value)) for value in values
    ]
    # Always a blank first choice: a required select must be answered, not left on its first option.
    return [("", "—"), *choices]


class LinesField(forms.CharField):
    """A list of strings typed one per line."""

    widget = forms.Textarea(attrs={"rows": 4})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return "\n".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [line.strip() for line in str(text or "").splitlines() if line.strip()]


class EnumField(forms.TypedChoiceField):
    """A select over an enum of any scalar type; the value keeps its JSON type."""

    def __init__(self, *, values: list[Any], required: bool, **kwargs: Any) -> None:
        by_key = {(json.dumps(v) if not isinstance(v, str) else v): v for v in values}
        super().__init__(
            choices=_choices(values, required),
            coerce=lambda key: by_key[key],
            empty_value=None,
            required=required,
            **kwargs,
        )

    def prepare_value(self, value: Any) -> Any:
        return value if isinstance(value, str) or value is None else json.dumps(value)


def _string_field(prop: Mapping[str, Any], common: dict[str, Any]) -> forms.Field:
    fmt = prop.get("format")
    if fmt == "uri":
        return forms.URLField(assume_scheme="https", widget=forms.URLInput, **common)
    if fmt == "email":
        return forms.EmailField(**common)
    if fmt == "date":
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if fmt == "date-time":
        return forms.DateTimeField(
            widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), **common
        )
    max_length = prop.get("maxLength")
    widget: forms.Widget = (
        forms.TextInput()
        if isinstance(max_length, int) and max_length <= SHORT_TEXT
        else forms.Textarea(attrs={"rows": 3})
    )
    return forms.CharField(
        max_length=max_length if isinstance(max_length, int) else None,
        min_length=prop.get("minLength") if isinstance(prop.get("minLength"), int) else None,
        strip=True,
        widget=widget,
        **common,
    )


def _number_bounds(prop: Mapping[str, Any]) -> dict[str, Any]:
    bounds = {}
    if isinstance(prop.get("minimum"), int | float):
        bounds["min_value"] = prop["minimum"]
    if isinstance(prop.get("maximum"), int | float):
        bounds["max_value"] = prop["maximum"]
    return bounds


def field_for(prop: Mapping[str, Any], *, name: str, required: bool) -> forms.Field:
    """The Django form field for one property of a form schema."""
    common: dict[str, Any] = {
        "label": _label(name, prop),
        "required": required,
        "help_text": str(prop.get("description") or ""),
    }
    kind = prop.get("type")
    if "enum" in prop and isinstance(prop["enum"], list):
        return EnumField(values=prop["enum"], **common)
    if kind == "string":
        return _string_field(prop, common)
    if kind == "integer":
        return forms.IntegerField(**_number_bounds(prop), **common)
    if kind == "number":
        return forms.FloatField(**_number_bounds(prop), **common)
    if kind == "boolean":
        if required:  # an answer is required: an unticked box cannot tell "no" from "not answered"
            return EnumField(values=[True, False], **common)
        common["required"] = False
        return forms.BooleanField(**common)
    if kind == "array" and isinstance(prop.get("items"), Mapping):
        items = prop["items"]
        if isinstance(items.get("enum"), list):
            return forms.TypedMultipleChoiceField(
                choices=[(v, str(v)) for v in items["enum"]],
                widget=forms.CheckboxSelectMultiple,
                **common,
            )
        if items.get("type") == "string":
            common["help_text"] = (common["help_text"] + " One per line.").strip()
            return LinesField(**common)
    return forms.JSONField(widget=forms.Textarea(attrs={"rows": 4}), **common)


class SchemaForm(forms.Form):
    """A form for an object JSON Schema (a phase's `form`)."""

    def __init__(self, schema: Mapping[str, Any] | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = schema or {}
        properties = self.schema.get("properties") or {}
        required = set(self.schema.get("required") or ())
        for name, prop in properties.items():
            if isinstance(prop, Mapping):
                self.fields[name] = field_for(prop, name=name, required=name in required)
                if "default" in prop and name not in self.initial:
                    self.initial[name] = prop["default"]

    def to_json(self) -> dict[str, Any]:
        """The cleaned values as JSON: dates as ISO strings, empty optional values left out."""
        data: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            field = self.fields[name]
            if value is None or value == "" or (value == [] and not field.required):
                continue
            data[name] = _json_value(value)
        return data

    def add_problems(self, problems: Mapping[str, list[str]]) -> None:
        """Put the service's validation problems beside their fields ("" and unknown fields on the form)."""
        for name, messages in problems.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if timezone.is_aware(value) else timezone.make_aware(value)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return value


def initial_from(schema: Mapping[str, Any] | None, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Form initial values from data submitted before (dates back to objects the widgets show)."""
    initial: dict[str, Any] = {}
    properties = (schema or {}).get("properties") or {}
    for name, value in (data or {}).items():
        prop = properties.get(name) or {}
        if prop.get("format") == "date-time" and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = timezone.localtime(datetime.fromisoformat(value.replace("Z", "+00:00")))
        initial[name] = value
    return initial


# --- the small forms of the pages ------------------------------------------------------------------------


class OutcomeField(forms.ChoiceField):
    widget = forms.RadioSelect


def outcome_field(outcomes: tuple[str, ...]) -> forms.Field:
    return OutcomeField(
        choices=[(o, o.replace("_", " ").capitalize()) for o in outcomes],
        initial=outcomes[0] if len(outcomes) == 1 else None,
        label="Outcome",
    )


class CompleteForm(SchemaForm):
    """The phase's form plus its outcome (shown when the phase has more than one)."""

    def __init__(
        self, schema: Mapping[str, Any] | None, outcomes: tuple[str, ...], *args: Any, **kwargs: Any
    ):
        super().__init__(schema, *args, **kwargs)
        self.outcomes = outcomes
        if len(outcomes) > 1:
            self.fields["pg_outcome"] = outcome_field(outcomes)

    @property
    def outcome(self) -> str | None:
        if len(self.outcomes) == 1:
            return self.outcomes[0]
        return self.cleaned_data.get("pg_outcome")

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data.pop("pg_outcome", None)
        return data

    def add_problems(self, problems: Mapping[str, list[str]]) -> None:
        renamed = {
            ("pg_outcome" if name == "outcome" and "outcome" not in self.fields else name): m
            for name, m in problems.items()
        }
        super().add_problems(renamed)


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", widget=forms.Textarea(attrs={"rows": 3}), max_length=10_000)


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="— nobody —", label="Assign to"
    )
    reason = forms.CharField(required=False, max_length=2000, label="Note")

    def __init__(self, *args: Any, candidates: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = (
            candidates if candidates is not None else get_user_model().objects.none()
        )  # type: ignore[attr-defined]


class StartForm(SchemaForm):
    """The start parameters of a template, from its `params` schema, plus an optional business key."""

    def __init__(self, schema: Mapping[str, Any] | None, *args: Any, **kwargs: Any) -> None:
        super().__init__(schema, *args, **kwargs)
        self.fields["pg_business_key"] = forms.CharField(
            label="Business key",
            required=False,
            max_length=200,
            help_text="Optional: starting again with the same key returns the unfinished instance.",
        )

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data.pop("pg_business_key", None)
        return data
