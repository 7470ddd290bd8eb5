"""Documents over the limits are refused before anything else, and quickly."""

from __future__ import annotations

import json
import time

from engine.definition.validate import MAX_BYTES, MAX_DEPTH, validate
from tests.unit.definition.documents import base_document, minimal_document

TWO_MIB = 2 * 1024 * 1024


def _timed(document):
    started = time.perf_counter()
    problems = validate(document)
    return [(problem.code, problem.path) for problem in problems], time.perf_counter() - started


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


def test_two_mib_of_bytes_is_too_large():
    document = base_document()
    document["description"] = "x" * TWO_MIB

    problems, seconds = _timed(json.dumps(document).encode())

    assert problems == [("too_large", "")]
    assert seconds < 1.0


def test_two_mib_of_text_is_too_large():
    problems, seconds = _timed(" " * TWO_MIB + "{}")

    assert problems == [("too_large", "")]
    assert seconds < 1.0


def test_two_mib_python_document_is_too_large():
    document = base_document()
    document["phases"][0]["description"] = "é" * (TWO_MIB // 2)

    problems, seconds = _timed(document)

    assert problems == [("too_large", "")]
    assert seconds < 1.0


def test_size_counts_utf8_bytes_not_characters():
    document = base_document()
    document["description"] = "é" * (MAX_BYTES // 2)  # fewer characters than the limit, more bytes

    problems, _ = _timed(document)

    assert problems == [("too_large", "")]


def test_one_string_shared_many_times_is_refused_without_serialising_it():
    chunk = "x" * 100_000
    document = base_document()
    document["phases"][0]["form"]["examples"] = [chunk] * 10_000  # a gigabyte once written out

    problems, seconds = _timed(document)

    assert problems == [("too_large", "")]
    assert seconds < 1.0


def test_hundred_deep_python_document_is_too_large():
    problems, seconds = _timed(_nested(100))

    assert problems == [("too_large", "")]
    assert seconds < 1.0


def test_hundred_deep_json_text_is_too_large():
    problems, seconds = _timed(json.dumps(_nested(100)))

    assert problems == [("too_large", "")]
    assert seconds < 1.0


def test_text_too_deep_for_the_json_parser_is_too_large():
    problems, seconds = _timed("[" * 1_000_000)

    assert problems == [("too_large", "")]
    assert seconds < 1.0


def test_a_list_that_contains_itself_is_too_large():
    document = base_document()
    loop: list = []
    loop.append(loop)
    document["ui"] = {"loop": loop}

    problems, _ = _timed(document)

    assert problems == [("too_large", "")]


def test_depth_limit_is_inclusive():
    assert _timed(_nested(MAX_DEPTH))[0] == []
    assert _timed(_nested(MAX_DEPTH + 1))[0] == [("too_large", "")]


def test_501_phases_are_too_large():
    problems, seconds = _timed(_wait_phases(501))

    assert problems == [("too_large", "/phases")]
    assert seconds < 1.0


def test_501_phases_as_text_are_too_large():
    problems, _ = _timed(json.dumps(_wait_phases(501)))

    assert problems == [("too_large", "/phases")]


def test_500_phases_are_allowed():
    document = _wait_phases(500)
    for index in range(1, 500):
        document["phases"][index]["depends_on"] = [f"p{index - 1}"]

    problems, seconds = _timed(document)

    assert problems == []
    assert seconds < 5.0
