"""ISO 8601 durations of days, hours, minutes and seconds (`P7D`, `PT30S`, `P1DT12H`)."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<days>\d+)D)?(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
# Years, months and weeks match this looser form, so they get a message that says why they are refused.
_CALENDAR_UNITS = re.compile(r"^P(?=[^T]*[YMW])(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T.*)?$")
MAX_DURATION = timedelta(days=3650)


class DurationError(ValueError):
    """The text is not a duration this format accepts."""


def parse_duration(text: str) -> timedelta:
    """Parse `P…` into a timedelta; months and years are refused because their length varies."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        if isinstance(text, str) and _CALENDAR_UNITS.match(text):
            raise DurationError(f"{text!r} uses years, months or weeks; write days instead (e.g. P30D)")
        raise DurationError(
            f"{text!r} is not an ISO 8601 duration of days, hours, minutes and seconds, e.g. P1DT12H"
        )
    parts = {name: float(value) for name, value in match.groupdict().items() if value is not None}
    try:
        duration = timedelta(**parts)
    except OverflowError:  # digits enough to overflow timedelta are still "longer than ten years"
        duration = timedelta.max
    if duration > MAX_DURATION:
        raise DurationError(f"{text!r} is longer than ten years")
    return duration


def format_duration(duration: timedelta) -> str:
    """The inverse of parse_duration, for display and export."""
    total = int(duration.total_seconds())
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(
        f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if value
    )
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "" if days else "T0S")
