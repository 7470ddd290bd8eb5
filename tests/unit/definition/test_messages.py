"""Problems a person understands: every one at once, in words, with the field's name."""

from __future__ import annotations

from engine.definition.validation import validate


def doc(**top):
    return {
        "format": "phasegate/v1",
        "key": "ok",
        "name": "Ok",
        "phases": [
            {"id": "a", "type": "wait", "duration": "PT1M", "depends_on": ["b"]},
            {"id": "b", "type": "wait", "duration": "PT1M", "depends_on": ["a"]},
        ],
        **top,
    }


def test_a_schema_problem_does_not_hide_a_cycle():
    found = {(p.code, p.path) for p in validate(doc(key=""))}
    assert ("schema", "/key") in found
    assert any(code == "cycle" for code, _ in found)


def test_messages_name_the_field_and_say_the_rule_in_words():
    by_path = {p.path: p.message for p in validate(doc(key="Bad Key"))}
    assert by_path["/key"].startswith('key "Bad Key" is not allowed: use a lowercase letter first')
    assert "does not match" not in by_path["/key"]
    empty = {p.path: p.message for p in validate(doc(key=""))}
    assert empty["/key"] == "key must not be empty"


def test_a_missing_field_and_a_wrong_value_in_words():
    document = doc()
    del document["name"]
    document["phases"][1]["type"] = "pause"
    messages = {p.path: p.message for p in validate(document)}
    assert messages[""] == "the field name is required"
    assert any("pause" in m and "does not match" not in m for m in messages.values())
