"""Business calendar for SLAs: workdays, holidays and the IANA time zone they are read in.

Pure and deterministic: no clock, every datetime in and out is aware, and results are in UTC.

With `business_days`, a duration is consumed only on working days, and a business day is a local calendar day
of the calendar's zone: whole days of the duration move the local date (keeping the wall-clock time), so
"P1D" from Friday 10:00 is Monday 10:00 even across a DST change; the part shorter than a day is elapsed time
spent inside working days. Time on a non-working day does not count: a start on a Saturday counts from the
next workday's local midnight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

ALL_WEEKDAYS = frozenset(range(1, 8))
MIDNIGHT = time(0)
ONE_DAY = timedelta(days=1)


def is_time_zone(name: object) -> bool:
    """Whether `name` is an IANA time zone that zoneinfo can load."""
    if not isinstance(name, str) or not name:
        return False
    try:
        ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for path-like keys, OSError for directories
        return False
    return True


@dataclass(frozen=True)
class BusinessCalendar:
    """Workdays (ISO weekday numbers, 1 = Monday), holidays, and the IANA time zone they are read in."""

    timezone: str = "UTC"
    workdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # Without a single weekday to work on, finding the next workday would never end.
        if not self.workdays & ALL_WEEKDAYS:
            raise ValueError("a business calendar needs at least one workday between 1 (Monday) and 7")

    @classmethod
    def from_document(cls, calendar: Mapping[str, Any] | None) -> BusinessCalendar:
        """The calendar a template's `calendar` object describes; absent means UTC, Monday to Friday."""
        if not calendar:
            return cls()
        return cls(
            timezone=calendar.get("timezone", "UTC"),
            workdays=frozenset(int(day) for day in calendar.get("workdays", (1, 2, 3, 4, 5))),
            holidays=frozenset(date.fromisoformat(day) for day in calendar.get("holidays", ())),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_workday(self, day: date) -> bool:
        """Whether `day` (a local date) is a working day: one of the workdays and not a holiday."""
        return day.isoweekday() in self.workdays and day not in self.holidays

    def next_workday(self, day: date) -> date:
        """The first working day after `day`."""
        day += ONE_DAY
        while not self.is_workday(day):
            day += ONE_DAY
        return day

    def due(self, start: datetime, duration: timedelta, *, business_days: bool) -> datetime:
        """When something started at `start` that may take `duration` is due (aware UTC datetimes)."""
        start = _as_utc(start)
        if not business_days:
            return start + duration
        if duration < timedelta(0):
            raise ValueError("an SLA duration cannot be negative")
        zone = self.zone
        cursor = self._working_start(start, zone)
        day, clock = cursor.date(), cursor.time()
        for _ in range(duration.days):
            day = self.next_workday(day)
        return self._add_working_time(_at(day, clock, zone), duration - timedelta(days=duration.days), zone)

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Elapsed time between `start` and `end` that falls on working days."""
        start, end = _as_utc(start), _as_utc(end)
        zone = self.zone
        total = timedelta(0)
        day, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        while day <= last:
            if self.is_workday(day):
                low = max(start, _at(day, MIDNIGHT, zone))
                high = min(end, _at(day + ONE_DAY, MIDNIGHT, zone))
                if high > low:
                    total += high - low
            day += ONE_DAY
        return total

    def elapsed_fraction(
        self, start: datetime, due: datetime, now: datetime, *, business_days: bool
    ) -> float:
        """How much of the time allowed between `start` and `due` has passed at `now`, from 0.0 to 1.0.

        With `business_days`, only working time counts, so a weekend does not bring a phase closer to at_risk.
        """
        start, due, now = _as_utc(start), _as_utc(due), _as_utc(now)
        if now >= due:
            return 1.0
        if now <= start:
            return 0.0
        if business_days:
            allowed, passed = self.working_time(start, due), self.working_time(start, now)
        else:
            allowed, passed = due - start, now - start
        if not allowed:  # due lies in non-working time right after start; nothing to spend yet
            return 0.0
        return min(max(passed / allowed, 0.0), 1.0)

    def _working_start(self, start: datetime, zone: ZoneInfo) -> datetime:
        """`start` in local time, or the next workday's local midnight when it falls on a non-working day."""
        local = start.astimezone(zone)
        if self.is_workday(local.date()):
            return local
        return _at(self.next_workday(local.date()), MIDNIGHT, zone).astimezone(zone)

    def _add_working_time(self, moment: datetime, remaining: timedelta, zone: ZoneInfo) -> datetime:
        """Spend `remaining` (less than a day) as elapsed time inside working days, from `moment` (UTC)."""
        while remaining > timedelta(0):
            day = moment.astimezone(zone).date()
            if not self.is_workday(day):
                moment = _at(self.next_workday(day), MIDNIGHT, zone)
                continue
            day_end = _at(day + ONE_DAY, MIDNIGHT, zone)
            if remaining <= day_end - moment:
                return moment + remaining
            remaining -= day_end - moment
            moment = _at(self.next_workday(day), MIDNIGHT, zone)
        return moment


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time; a time skipped by DST resolves with the earlier offset."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{moment.isoformat()} is a naive datetime; the engine works with aware UTC datetimes"
        )
    return moment.astimezone(UTC)
