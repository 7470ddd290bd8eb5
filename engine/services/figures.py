"""The dashboard's hourly counts for interfaces (beat's task, `manage.py backfill_metrics`).

See engine.observability.counting for what is counted and how a range reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.utils import timezone

from engine.observability import counting

BACKFILL_BATCH = counting.BACKFILL_BATCH


def figures_count() -> int:
    """Beat's run: recount the last closed hours, then count a batch of never-counted older ones."""
    return counting.hours_count(now=timezone.now())


def figures_backfill(
    *, since: datetime | None = None, batch: int = BACKFILL_BATCH
) -> Iterator[list[datetime]]:
    """Count every closed hour not counted yet, newest first, `batch` hours at a time (each hour its own
    transaction); yields each batch's hours once counted. `since` defaults to the first instance's hour."""
    while True:
        now = timezone.now()
        hours = counting.hours_uncounted(now=now, limit=batch, since=since)
        if not hours:
            return
        for start, end in counting.spans(hours):
            counting.span_count(start, end, now=now)
        yield hours


def figures_recount(*, since: datetime, batch: int = BACKFILL_BATCH) -> Iterator[list[datetime]]:
    """Count every closed hour from `since` again (after a correction in the raw rows), newest first."""
    now = timezone.now()
    end, first = counting.floor_hour(now), counting.floor_hour(since)
    while end > first:
        start = max(first, end - batch * counting.HOUR)
        counting.span_count(start, end, now=now)
        yield [start + k * counting.HOUR for k in range(int((end - start) / counting.HOUR))]
        end = start
