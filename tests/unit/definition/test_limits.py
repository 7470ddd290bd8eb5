"""Documents over the limits are refused before anything else is parsed or checked.

How long that takes is measured, not asserted: `bench/limits.py` prints it.
"""

from __future__ import annotations

import json

import pytest

import engine.definition.validation as validation
from engine.definition.validation import MAX_BYTES, MAX_DEPTH, validate
from tests.unit.definition.documents import base_document, minimal_document

TWO_MIB = 2 * 1024 * 1024


@pytest.fixture
def later_steps_must_not_run(monkeypatch):
    """A refused document never reaches the schema or the semantic checks (they would be the slow part)."""

    def reached(*args, **kwargs):
        raise AssertionError("a later validation step ran")

    monkeypatch.setattr(validation, "schema_problems", reached)
    monkeypatch.setattr(validation, "semantic_problems", reached)


def _checked(document):
    return [(problem.code, problem.path) for problem in validate(document)]


def _nested(levels):
    """A template whose params schema nests so that the whole document is `levels` containers deep."""
    document = base_document()
    inner: dict = {}
    for _ in range(levels - 2):  # the template itself and `params` are the first two levels
        inner = {"not": inner}
    document["params"] = inner
    return document


def _wait_phases(count):
    return minimal_document(*({"id": f"p{i}", "type": "wait", "duration": "PT1M"} for i in range(count)))


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_two_mib_of_bytes_is_too_large():
    document = base_document()
    document["description"] = "x" * TWO_MIB

    problems = _checked(json.dumps(document).encode())

    assert problems == [("too_large", "")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_two_mib_of_text_is_too_large():
    problems = _checked(" " * TWO_MIB + "{}")

    assert problems == [("too_large", "")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_two_mib_python_document_is_too_large():
    document = base_document()
    document["phases"][0]["description"] = "é" * (TWO_MIB // 2)

    problems = _checked(document)

    assert problems == [("too_large", "")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_size_counts_utf8_bytes_not_characters():
    document = base_document()
    document["description"] = "é" * (MAX_BYTES // 2)  # fewer characters than the limit, more bytes

    problems = _checked(document)

    assert problems == [("too_large", "")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_one_string_shared_many_times_is_refused_without_serialising_it():
    chunk = "x" * 100_000
    document = base_document()
    document["phases"][0]["form"]["examples"] = [chunk] * 10_000  # a gigabyte once written out

    problems = _checked(document)

    assert problems == [("too_large", "")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_hundred_deep_python_document_is_too_large():
    problems = _checked(_nested(100))

    assert problems == [("too_large", "")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_hundred_deep_json_text_is_too_large():
    problems = _checked(json.dumps(_nested(100)))

    assert problems == [("too_large", "")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_text_too_deep_for_the_json_parser_is_too_large():
    problems = _checked("[" * 1_000_000)

    assert problems == [("too_large", "")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_a_list_that_contains_itself_is_too_large():
    document = base_document()
    loop: list = []
    loop.append(loop)
    document["ui"] = {"loop": loop}

    problems = _checked(document)

    assert problems == [("too_large", "")]


def test_depth_limit_is_inclusive():
    assert _checked(_nested(MAX_DEPTH)) == []
    assert _checked(_nested(MAX_DEPTH + 1)) == [("too_large", "")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_501_phases_are_too_large():
    problems = _checked(_wait_phases(501))

    assert problems == [("too_large", "/phases")]


@pytest.mark.usefixtures("later_steps_must_not_run")
def test_501_phases_as_text_are_too_large():
    problems = _checked(json.dumps(_wait_phases(501)))

    assert problems == [("too_large", "/phases")]


def test_500_phases_are_allowed():
    document = _wait_phases(500)
    for index in range(1, 500):
        document["phases"][index]["depends_on"] = [f"p{index - 1}"]

    problems = _checked(document)

    assert problems == []


@pytest.mark.parametrize(
    "where",
    [
        lambda doc: doc.update(name="Re\x00view"),
        lambda doc: doc["phases"][0].update(description="a\x00"),
        lambda doc: doc.update({"x-\x00": 1}),
    ],
)
def test_a_nul_character_anywhere_refuses_the_whole_document(where):
    document = minimal_document({"id": "only", "type": "wait", "duration": "PT1S"})
    where(document)
    for form in (document, json.dumps(document)):
        problems = validate(form)
        assert [(p.path, p.code) for p in problems] == [("", "schema")]
        assert "NUL" in problems[0].message
