"""parse_duration / format_duration: ISO 8601 days, hours, minutes and seconds only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.definition.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P7D", timedelta(days=7)),
        ("PT30S", timedelta(seconds=30)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("PT0S", timedelta(0)),
        ("P3650D", timedelta(days=3650)),
    ],
)
def test_parses_days_hours_minutes_seconds(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P2W", "P1Y2M3D", "P1MT1H"])
def test_calendar_units_are_refused_with_the_reason(text):
    with pytest.raises(DurationError, match="years, months or weeks"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["", "P", "PT", "P1DT", "1D", "p1d", "P1H", "PT1D", "P-1D", " P1D", "P1.5D"])
def test_malformed_text_is_refused(text):
    with pytest.raises(DurationError, match="not an ISO 8601 duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", [5, None, 1.5, ["P1D"]])
def test_non_text_is_refused(value):
    with pytest.raises(DurationError):
        parse_duration(value)


@pytest.mark.parametrize("text", ["P3651D", "PT87601H", "P99999999999D", "PT" + "9" * 400 + "S"])
def test_longer_than_ten_years_is_refused_even_past_what_timedelta_holds(text):
    with pytest.raises(DurationError, match="longer than ten years"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(days=7), "P7D"),
        (timedelta(seconds=30), "PT30S"),
        (timedelta(days=1, hours=12), "P1DT12H"),
        (timedelta(hours=1, minutes=5, seconds=3), "PT1H5M3S"),
        (timedelta(0), "PT0S"),
    ],
)
def test_format_is_the_inverse_of_parse(duration, text):
    assert format_duration(duration) == text
    assert parse_duration(format_duration(duration)) == duration
