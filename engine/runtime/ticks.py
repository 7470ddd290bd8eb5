"""When a schedule fires: cron expressions (croniter) or intervals, in a time zone, optionally on workdays.

Pure functions of the rule and a moment; the clock is passed in. Every datetime returned is aware, in UTC.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from engine.definition.calendar import BusinessCalendar, is_time_zone

MAX_SKIPPED_TICKS = 5000  # a cron that only ever hits holidays must not loop forever


class BadRule(ValueError):
    """The schedule's timing fields cannot work; the message says which and why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class TickRule:
    """The timing fields of a schedule."""

    cron: str = ""
    interval: timedelta | None = None
    timezone: str = "UTC"
    business_days_only: bool = False
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)

    def check(self) -> None:
        """Raise BadRule when the rule cannot produce ticks."""
        if bool(self.cron) == (self.interval is not None):
            raise BadRule("cron", "give either a cron expression or an interval, not both")
        if self.cron and not croniter.is_valid(self.cron):
            raise BadRule("cron", f"{self.cron!r} is not a cron expression (minute hour day month weekday)")
        if self.cron and len(self.cron.split()) != 5:
            raise BadRule("cron", "a cron expression has five fields: minute hour day month weekday")
        if self.interval is not None and self.interval < timedelta(seconds=1):
            raise BadRule("interval_seconds", "the interval must be at least one second")
        if not is_time_zone(self.timezone):
            raise BadRule("timezone", f"{self.timezone!r} is not an IANA time zone, e.g. America/New_York")

    def next_after(self, moment: datetime) -> datetime | None:
        """The first tick strictly after `moment`; None when no tick comes within MAX_SKIPPED_TICKS."""
        return next(self.ticks_after(moment), None)

    def ticks_after(self, moment: datetime) -> Iterator[datetime]:
        """The ticks after `moment`, in order, skipping non-workdays when asked."""
        zone = ZoneInfo(self.timezone)
        raw = self._raw_ticks(moment.astimezone(zone))
        for _ in range(MAX_SKIPPED_TICKS):
            tick = next(raw)
            if not self.business_days_only or self.calendar.is_workday(tick.astimezone(zone).date()):
                yield tick.astimezone(UTC)
                continue

    def upcoming(self, moment: datetime, count: int) -> list[datetime]:
        """The next `count` ticks after `moment` (fewer when the rule runs dry)."""
        ticks = []
        for tick in self.ticks_after(moment):
            ticks.append(tick)
            if len(ticks) == count:
                break
        return ticks

    def _raw_ticks(self, local: datetime) -> Iterator[datetime]:
        if self.cron:
            iterator = croniter(self.cron, local)
            while True:
                yield iterator.get_next(datetime)
        assert self.interval is not None
        # Intervals count from the Unix epoch, so every process computes the same ticks.
        step = self.interval.total_seconds()
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        index = int((local - epoch).total_seconds() // step) + 1
        while True:
            yield epoch + timedelta(seconds=index * step)
            index += 1
