"""Business calendar for SLAs: workdays, holidays, a time zone. IMPLEMENTATION PENDING (definition helper)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class BusinessCalendar:
    """Workdays (ISO weekday numbers, 1 = Monday), holidays, and the IANA time zone they are read in."""

    timezone: str = "UTC"
    workdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    holidays: frozenset[date] = frozenset()

    def due(self, start: datetime, duration: timedelta, *, business_days: bool) -> datetime:
        """When something started at `start` that may take `duration` is due (aware UTC datetimes)."""
        raise NotImplementedError
