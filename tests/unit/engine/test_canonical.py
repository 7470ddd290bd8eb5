"""The identity of a template definition."""

from __future__ import annotations

from engine.definition.canonical import canonical_json, checksum


def test_key_order_and_white_space_do_not_change_the_checksum():
    assert checksum({"b": [1, {"y": 2, "x": 1}], "a": "é"}) == checksum(
        {"a": "é", "b": [1, {"x": 1, "y": 2}]}
    )


def test_a_whole_float_is_the_same_number_as_the_integer():
    assert canonical_json({"backoff": 2.0, "items": [3.0, 1.5]}) == '{"backoff":2,"items":[3,1.5]}'
    assert checksum({"backoff": 2.0}) == checksum({"backoff": 2})


def test_different_content_gives_a_different_checksum():
    assert checksum({"name": "a"}) != checksum({"name": "b"})
