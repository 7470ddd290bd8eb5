"""JSON Schema to Django form: one field per type, required markers, help, bad values beside the field."""

from __future__ import annotations

from datetime import date

import pytest
from django import forms

from engine.pages.forms import CompleteForm, EnumField, LinesField, SchemaForm, StartForm, initial_from
from engine.runtime.human import form_invalid, form_problems

SCHEMA = {
    "type": "object",
    "required": ["title", "count", "passed", "kind"],
    "properties": {
        "title": {"type": "string", "maxLength": 80, "title": "Title", "description": "A short name."},
        "notes": {"type": "string"},
        "link": {"type": "string", "format": "uri"},
        "contact": {"type": "string", "format": "email"},
        "due": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "count": {"type": "integer", "minimum": 1, "maximum": 10},
        "rate": {"type": "number", "minimum": 0, "maximum": 1},
        "passed": {"type": "boolean", "title": "All passed"},
        "flag": {"type": "boolean"},
        "kind": {"type": "string", "enum": ["random", "stratified"]},
        "level": {"type": "integer", "enum": [1, 2, 3]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "areas": {"type": "array", "items": {"type": "string", "enum": ["eu", "us"]}},
        "extra": {"type": "object"},
    },
}
VALID = {"title": "Sample", "count": "3", "passed": "true", "kind": "random"}


def form(data=None, schema=SCHEMA):
    return SchemaForm(schema, data)


def test_each_type_gets_its_field_and_widget():
    fields = form().fields
    assert isinstance(fields["title"].widget, forms.TextInput)
    assert isinstance(fields["notes"].widget, forms.Textarea)
    assert isinstance(fields["link"], forms.URLField)
    assert isinstance(fields["contact"], forms.EmailField)
    assert isinstance(fields["due"], forms.DateField) and fields["due"].widget.input_type == "date"
    assert (
        isinstance(fields["at"], forms.DateTimeField) and fields["at"].widget.input_type == "datetime-local"
    )
    assert isinstance(fields["count"], forms.IntegerField)
    assert (fields["count"].min_value, fields["count"].max_value) == (1, 10)
    assert isinstance(fields["rate"], forms.FloatField)
    assert isinstance(fields["flag"], forms.BooleanField)
    assert isinstance(fields["passed"], EnumField)  # a required yes/no is a select, not a checkbox
    assert isinstance(fields["kind"], EnumField) and isinstance(fields["kind"].widget, forms.Select)
    assert isinstance(fields["tags"], LinesField)
    assert isinstance(fields["areas"].widget, forms.CheckboxSelectMultiple)
    assert isinstance(fields["extra"], forms.JSONField)


def test_required_labels_and_help_come_from_the_schema():
    fields = form().fields
    assert [name for name, field in fields.items() if field.required] == ["title", "count", "passed", "kind"]
    assert fields["title"].label == "Title" and fields["title"].help_text == "A short name."
    assert fields["notes"].label == "Notes"  # no title: the property name, readable
    assert fields["passed"].label == "All passed"
    assert "required" in str(form()["title"])


def test_selects_start_blank_so_a_required_one_must_be_answered():
    assert form().fields["kind"].choices[0] == ("", "—")
    bound = form({**VALID, "kind": ""})
    assert not bound.is_valid() and "kind" in bound.errors
    assert form().fields["passed"].choices == [("", "—"), ("true", "Yes"), ("false", "No")]


def test_to_json_keeps_json_types_and_leaves_out_empty_optional_values():
    bound = form(
        {
            **VALID,
            "rate": "0.25",
            "level": "2",
            "due": "2026-03-01",
            "at": "2026-03-01T10:30",
            "tags": "alpha\n\n beta \n",
            "areas": ["eu"],
            "flag": "on",
            "extra": '{"a": [1]}',
            "notes": "",
        }
    )
    assert bound.is_valid(), bound.errors
    assert bound.to_json() == {
        "title": "Sample",
        "count": 3,
        "passed": True,
        "kind": "random",
        "rate": 0.25,
        "level": 2,
        "due": "2026-03-01",
        "at": "2026-03-01T10:30:00Z",
        "tags": ["alpha", "beta"],
        "areas": ["eu"],
        "flag": True,
        "extra": {"a": [1]},
    }


def test_the_json_a_valid_form_gives_satisfies_the_schema():
    bound = form({**VALID, "link": "https://example.com/x", "contact": "a@example.com", "tags": "x"})
    assert bound.is_valid(), bound.errors
    assert form_problems(SCHEMA, bound.to_json()) == []


def test_an_unticked_optional_checkbox_is_false():
    bound = form(VALID)
    assert bound.is_valid()
    assert bound.to_json()["flag"] is False


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "This field is required."),
        ("title", "x" * 81, "Ensure this value has at most 80 characters"),
        ("count", "many", "Enter a whole number."),
        ("count", "0", "Ensure this value is greater than or equal to 1."),
        ("rate", "2", "Ensure this value is less than or equal to 1."),
        ("link", "not a link", "Enter a valid URL."),
        ("contact", "nobody", "Enter a valid email address."),
        ("due", "31/31/2026", "Enter a valid date."),
        ("at", "yesterday", "Enter a valid date/time."),
        ("kind", "census", "Select a valid choice."),
        ("extra", "{oops", "Enter a valid JSON."),
    ],
)
def test_bad_values_are_reported_beside_their_field(field, value, message):
    bound = form({**VALID, field: value})
    assert not bound.is_valid()
    assert list(bound.errors) == [field]
    assert message in bound.errors[field][0]


def test_rendered_errors_sit_with_their_field():
    bound = form({**VALID, "count": "many"})
    bound.is_valid()
    assert bound["count"].errors == ["Enter a whole number."]
    assert 'aria-invalid="true"' in str(bound["count"])


def test_problems_from_the_service_land_beside_their_fields():
    bound = form(VALID)
    assert bound.is_valid()
    bound.add_problems({"title": ["'Sample' is too dull"], "": ["the form as a whole"], "unknown": ["lost"]})
    assert bound.errors["title"] == ["'Sample' is too dull"]
    assert bound.non_field_errors() == ["the form as a whole", "lost"]


def test_complete_form_asks_for_an_outcome_only_when_there_is_a_choice():
    single = CompleteForm({"type": "object"}, ("done",), {})
    assert "pg_outcome" not in single.fields and single.is_valid() and single.outcome == "done"
    double = CompleteForm({"type": "object"}, ("approved", "rework"), {"pg_outcome": "rework"})
    assert double.is_valid() and double.outcome == "rework" and double.to_json() == {}
    missing = CompleteForm({"type": "object"}, ("approved", "rework"), {})
    assert not missing.is_valid() and "pg_outcome" in missing.errors
    missing.add_problems({"outcome": ["choose one"]})
    assert "choose one" in missing.errors["pg_outcome"]


def test_a_form_without_a_schema_has_no_fields():
    assert SchemaForm(None).fields == {}
    assert SchemaForm({"type": "object"}, {}).is_valid()


def test_defaults_and_earlier_data_fill_the_form():
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer", "default": 5},
            "at": {"type": "string", "format": "date-time"},
        },
    }
    assert SchemaForm(schema).initial == {"n": 5}
    initial = initial_from(schema, {"n": 2, "at": "2026-03-01T10:30:00Z"})
    assert initial["n"] == 2 and initial["at"].year == 2026 and initial["at"].tzinfo is not None


def test_start_form_adds_a_business_key_that_is_not_a_param():
    bound = StartForm(
        {"type": "object", "properties": {"d": {"type": "string", "format": "date"}}},
        {"d": "2026-01-02", "pg_business_key": "k"},
    )
    assert bound.is_valid()
    assert bound.to_json() == {"d": date(2026, 1, 2).isoformat()}
    assert bound.cleaned_data["pg_business_key"] == "k"


def test_form_problems_read_like_the_designer_with_pointers_and_titles():
    problems = form_problems(
        SCHEMA, {"title": 3, "count": 20, "passed": True, "kind": "random", "at": "noon"}
    )
    assert problems == [
        {
            "path": "/at",
            "message": 'at "noon" is not a date and time with its time zone (e.g. 2026-03-31T09:30:00Z)',
        },
        {"path": "/count", "message": "count must be at most 10, not 20"},
        {"path": "/title", "message": "Title must be a string, not an integer"},
    ]


def test_each_missing_required_field_is_its_own_problem_named_by_its_title():
    assert form_problems(SCHEMA, {"kind": "random", "count": 1}) == [
        {"path": "/passed", "message": "All passed is required"},
        {"path": "/title", "message": "Title is required"},
    ]


def test_form_problems_of_nested_values_and_of_the_whole_form():
    assert form_problems(SCHEMA, [1]) == [{"path": "", "message": "the form data must be a JSON object"}]
    nested = form_problems(
        SCHEMA, {**{"title": "t", "count": 1, "passed": True, "kind": "random"}, "tags": ["a", 2]}
    )
    assert nested == [{"path": "/tags/1", "message": "tags[1] must be a string, not an integer"}]
    closed = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}
    assert form_problems(closed, {"a": "x", "b/c": 1}) == [
        {"path": "", "message": "the form has unknown field 'b/c'; allowed here: a"}
    ]


def test_form_invalid_puts_each_problem_beside_its_top_level_field():
    problems = [
        {"path": "/tags/1", "message": "tags[1] must be a string, not an integer"},
        {"path": "/a~1b", "message": "a/b is required"},
        {"path": "", "message": "the form has unknown field 'z'; allowed here: a"},
    ]
    error = form_invalid(problems)
    assert error.code == "form_invalid"
    assert error.message == "3 problem(s) in the form"
    assert error.extra == {
        "errors": {
            "tags": ["tags[1] must be a string, not an integer"],
            "a/b": ["a/b is required"],
            "": ["the form has unknown field 'z'; allowed here: a"],
        },
        "problems": problems,
    }
