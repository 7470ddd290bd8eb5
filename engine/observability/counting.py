"""The hourly counts behind the dashboard's figures of a time range: how they are counted, and summed.

One rule counts: `tallies` turns the raw rows of some spans of time (instances and phase runs by
`finished_at`, map items that needed retries, dead letters by `created_at`) into counts per hour,
template, phase, figure and label, with aggregate queries only. Beat stores them per closed hour
(`span_count`, idempotent: a recount replaces the hours' rows, so work that finished late is picked up);
a range reads the stored hours and counts only its open edges (and any hour not counted yet) live, with
the same rule.

Durations are kept as a histogram with fixed log-scale bounds (the E6 series, 10 ms to 10^7 s), so p50
and p95 over any range come from summed bucket counts, as Prometheus's `histogram_quantile` does: the
answer lies within the bounds of the bucket the true percentile falls in.
"""

from __future__ import annotations

import functools
import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Case, Count, F, Func, IntegerField, Q, Sum, When
from django.db.models.functions import TruncHour

from engine.models import (
    FINISHED_INSTANCE_STATES,
    CountedHour,
    DeadLetter,
    Figure,
    HourlyCount,
    InstanceState,
    ItemRun,
    PhaseRun,
    PhaseState,
    WorkflowInstance,
)

HOUR = timedelta(hours=1)
# Upper bounds (seconds) of the duration buckets: 1.0, 1.5, 2.2, 3.3, 4.7, 6.8 per decade (IEC 60063 E6),
# so neighbouring bounds differ by at most 1.5x; a last bucket (+Inf) takes anything longer than 10^7 s.
BOUNDS: tuple[float, ...] = (
    *(
        float(f"{mantissa}e{exponent}")
        for exponent in range(-2, 7)
        for mantissa in (1.0, 1.5, 2.2, 3.3, 4.7, 6.8)
    ),
    1e7,
)
INF = "+Inf"
LABELS = (*(f"{bound:g}" for bound in BOUNDS), INF)
LABEL_INDEX = {label: index for index, label in enumerate(LABELS)}
NO_DURATION = -1
RECOUNT_HOURS = 2  # closed hours beat counts again each run: late commits land in them
BACKFILL_BATCH = 24  # never-counted older hours beat counts per run (history, after a first deploy)


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(moment: datetime) -> datetime:
    floor = floor_hour(moment)
    return floor if floor == moment else floor + HOUR


# --- counting raw rows ----------------------------------------------------------------------------------

Key = tuple[datetime, int, str, str, str]  # hour, template id, phase id, figure, label


Span = tuple[datetime, datetime]  # [start, end)


def tallies(spans: Iterable[Span], *, template_id: int | None = None) -> dict[Key, int]:
    """Counts of the spans per hour, template, phase, figure and label, from the raw rows: 4 queries
    however many spans (each query ORs their ranges over its time column's index)."""
    counts: dict[Key, int] = defaultdict(int)
    ranges = [(start, end) for start, end in spans if start < end]
    if not ranges:
        return {}

    def within(column: str) -> Q:
        found = Q()
        for start, end in ranges:
            found |= Q(**{f"{column}__gte": start, f"{column}__lt": end})
        return found

    def hour(value: datetime) -> datetime:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    by_template = Q(instance__template_id=template_id) if template_id else Q()
    instances = WorkflowInstance.objects.filter(
        within("finished_at"),
        Q(template_id=template_id) if template_id else Q(),
        state__in=FINISHED_INSTANCE_STATES,
    )
    for row in _per_hour(instances, "finished_at").values("h", "template_id", "state").annotate(n=Count("*")):
        counts[(hour(row["h"]), row["template_id"], "", Figure.INSTANCES_FINISHED, row["state"])] += row["n"]

    phases = (
        _per_hour(PhaseRun.objects.filter(within("finished_at"), by_template), "finished_at")
        .annotate(template=F("instance__template_id"), bucket=DurationBucket())
        .values("h", "template", "phase_id", "state", "bucket")
        .annotate(
            n=Count("*"),
            retried=Sum(
                Case(When(attempt__gt=1, then=F("attempt") - 1), default=0, output_field=IntegerField())
            ),
        )
    )
    for row in phases:
        key = (hour(row["h"]), row["template"], row["phase_id"])
        counts[(*key, Figure.PHASES_FINISHED, row["state"])] += row["n"]
        if row["bucket"] != NO_DURATION:
            counts[(*key, Figure.DURATION, LABELS[row["bucket"]])] += row["n"]
        if row["retried"]:
            counts[(*key, Figure.RETRIES, "")] += row["retried"]

    items = _per_hour(
        ItemRun.objects.filter(within("finished_at"), by_template, attempt__gt=1),
        "finished_at",
    )
    for row in (
        items.values("h", template=F("instance__template_id"), phase=F("phase_run__phase_id"))
        .annotate(n=Sum(F("attempt") - 1))
    ):  # fmt: skip
        counts[(hour(row["h"]), row["template"], row["phase"], Figure.RETRIES, "")] += row["n"]

    letters = _per_hour(DeadLetter.objects.filter(within("created_at"), by_template), "created_at")
    for row in letters.values("h", "phase_id", "category", template=F("instance__template_id")).annotate(
        n=Count("*")
    ):
        counts[(hour(row["h"]), row["template"], row["phase_id"], Figure.FAILURES, row["category"])] += row[
            "n"
        ]
    return dict(counts)


def _per_hour(qs: Any, column: str) -> Any:
    return qs.order_by().annotate(h=TruncHour(column, tzinfo=UTC))


class DurationBucket(Func):
    """The duration bucket's index of a completed run (NO_DURATION for any other), as one SQL CASE.

    Written out here rather than as Case() with a When() per bound: compiling those (in the SELECT and
    again in the GROUP BY) cost several times the CPU of running the query. Only constants go into the
    SQL text: the bounds and the state name.
    """

    output_field = IntegerField()

    def __init__(self) -> None:
        super().__init__(F("state"), F("started_at"), F("finished_at"))

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        (state, p1), (started, p2), (finished, p3) = (
            compiler.compile(e) for e in self.get_source_expressions()
        )
        if connection.vendor == "postgresql":
            seconds = f"EXTRACT(EPOCH FROM ({finished} - {started}))"
        else:  # Django's own SQLite function: the difference in microseconds, exactly
            seconds = f"(django_timestamp_diff({finished}, {started}) / 1000000.0)"
        whens = " ".join(f"WHEN {seconds} <= {bound!r} THEN {index}" for index, bound in enumerate(BOUNDS))
        sql = (
            f"CASE WHEN {state} <> '{PhaseState.COMPLETED.value}' OR {started} IS NULL THEN {NO_DURATION} "
            f"{whens} ELSE {len(BOUNDS)} END"
        )
        return sql, [*p1, *p2, *p3]


# --- storing closed hours -------------------------------------------------------------------------------


def hour_count(hour: datetime, *, now: datetime) -> int:
    """Count one closed hour again, replacing what was stored for it; returns the number of counts."""
    return span_count(hour, hour + HOUR, now=now)


def span_count(start: datetime, end: datetime, *, now: datetime) -> int:
    """Count the closed hours of [start, end) again in one transaction, replacing what was stored for them
    (the raw rows are read once for the whole span); returns the number of counts written."""
    start, end = floor_hour(start), floor_hour(end)
    if end > floor_hour(now):
        raise ValueError(f"the hour {floor_hour(now):%Y-%m-%d %H}h is not closed yet")
    hours = [start + k * HOUR for k in range(int((end - start) / HOUR))]
    with transaction.atomic():
        # The marker rows are written (and so locked) first: two recounts of an hour run one after the other.
        CountedHour.objects.bulk_create(
            [CountedHour(hour=hour, counted_at=now) for hour in hours],
            update_conflicts=True,
            unique_fields=["hour"],
            update_fields=["counted_at"],
        )
        counts = tallies([(start, end)])
        HourlyCount.objects.filter(hour__gte=start, hour__lt=end).delete()
        HourlyCount.objects.bulk_create(
            (
                HourlyCount(
                    hour=hour, template_id=template, phase_id=phase, figure=figure, label=label, value=n
                )
                for (hour, template, phase, figure, label), n in counts.items()
            ),
            batch_size=2000,
        )
    return len(counts)


def spans(hours: Iterable[datetime]) -> list[Span]:
    """Hours as the fewest spans of consecutive hours, newest first."""
    found: list[Span] = []
    for hour in sorted(set(hours), reverse=True):
        if found and found[-1][0] == hour + HOUR:
            found[-1] = (hour, found[-1][1])
        else:
            found.append((hour, hour + HOUR))
    return found


def hours_uncounted(*, now: datetime, limit: int, since: datetime | None = None) -> list[datetime]:
    """Closed hours with no counts yet, newest first, from `since` (default: the first instance's hour)."""
    if since is None:
        first = WorkflowInstance.objects.order_by("created_at").values_list("created_at", flat=True).first()
        if first is None:
            return []
        since = first
    start, end = floor_hour(since), floor_hour(now)
    expected = int((end - start) / HOUR)
    counted = CountedHour.objects.filter(hour__gte=start, hour__lt=end)
    if expected <= 0 or counted.count() >= expected:
        return []
    done = set(counted.values_list("hour", flat=True))
    missing, moment = [], end - HOUR
    while moment >= start and len(missing) < limit:
        if moment not in done:
            missing.append(moment)
        moment -= HOUR
    return missing


def hours_count(*, now: datetime, backfill: int = BACKFILL_BATCH) -> int:
    """Beat's run: recount the last closed hours, then count up to `backfill` never-counted older ones."""
    recent = [floor_hour(now) - k * HOUR for k in range(RECOUNT_HOURS, 0, -1)]
    older = [hour for hour in hours_uncounted(now=now, limit=backfill + RECOUNT_HOURS) if hour not in recent]
    for start, end in spans([*recent, *older[:backfill]]):
        span_count(start, end, now=now)
    return len(recent) + len(older[:backfill])


# --- reading a range ------------------------------------------------------------------------------------


@dataclass
class RangeCounts:
    """A range's counts summed: per (template id, phase, figure, label) the figures read per phase, and
    per (hour, figure, label) the counts read per hour (HOURLY: throughput's)."""

    totals: dict[tuple[int, str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    hourly: dict[tuple[datetime, str, str], int] = field(default_factory=lambda: defaultdict(int))

    def add(self, hour: datetime, template: int, phase: str, figure: str, label: str, n: int) -> None:
        if figure in TOTAL_FIGURES:
            self.totals[(template, phase, figure, label)] += n
        if (figure, label) in HOURLY:
            self.hourly[(hour, figure, label)] += n


HOURLY = (  # throughput per hour
    (Figure.INSTANCES_FINISHED, InstanceState.COMPLETED),
    (Figure.PHASES_FINISHED, PhaseState.COMPLETED),
    (Figure.PHASES_FINISHED, PhaseState.FAILED),
)
TOTAL_FIGURES = (Figure.INSTANCES_FINISHED, Figure.DURATION, Figure.RETRIES, Figure.FAILURES)


def range_counts(since: datetime, until: datetime, *, template_id: int | None = None) -> RangeCounts:
    """The counts of [since, until): stored hours summed in the database, the rest counted live.

    Live: the partial hours at both ends and any hour not counted yet, so the figures are exact whether
    or not beat has run. A fixed number of queries, whatever the rows or the hours not counted.
    """
    result = RangeCounts()
    first, last = ceil_hour(since), floor_hour(until)
    spans: list[Span] = []
    if first >= last:
        spans.append((since, until))
    else:
        counted = set(
            CountedHour.objects.filter(hour__gte=first, hour__lt=last).values_list("hour", flat=True)
        )
        spans.append((since, first))
        moment = first
        while moment < last:
            if moment not in counted:
                _extend(spans, moment, moment + HOUR)
            moment += HOUR
        _extend(spans, last, until)
        if counted:
            _add_stored(result, first, last, template_id)
    for (hour, template, phase, figure, label), n in tallies(spans, template_id=template_id).items():
        result.add(hour, template, phase, figure, label, n)
    return result


def _extend(spans: list[Span], start: datetime, end: datetime) -> None:
    if spans and spans[-1][1] == start:
        spans[-1] = (spans[-1][0], end)
    else:
        spans.append((start, end))


def _add_stored(result: RangeCounts, first: datetime, last: datetime, template_id: int | None) -> None:
    stored = HourlyCount.objects.filter(hour__gte=first, hour__lt=last).order_by()
    if template_id:
        stored = stored.filter(template_id=template_id)
    totals = stored.filter(figure__in=TOTAL_FIGURES).values("template_id", "phase_id", "figure", "label")
    for template, phase, figure, label, n in totals.annotate(n=Sum("value")).values_list(
        "template_id", "phase_id", "figure", "label", "n"
    ):
        result.totals[(template, phase, figure, label)] += n
    # One row per hour (its three sums side by side), not one per hour and count.
    wanted = functools.reduce(operator.or_, (Q(figure=figure, label=label) for figure, label in HOURLY))
    sums = {
        f"n{i}": Sum("value", filter=Q(figure=figure, label=label))
        for i, (figure, label) in enumerate(HOURLY)
    }
    for hour, *values in stored.filter(wanted).values("hour").annotate(**sums).values_list("hour", *sums):
        for (figure, label), n in zip(HOURLY, values, strict=True):
            if n:
                result.hourly[(hour.astimezone(UTC), figure, label)] += n


# --- percentiles from buckets ---------------------------------------------------------------------------


def quantile(buckets: Mapping[str, int], fraction: float) -> float:
    """The `fraction` quantile of a histogram {bucket label: count}, interpolated within its bucket.

    As Prometheus's histogram_quantile: linear between the bucket's lower and upper bound; a quantile that
    falls in the +Inf bucket is the highest finite bound.
    """
    ordered = sorted((LABEL_INDEX[label], n) for label, n in buckets.items() if n)
    total = sum(n for _, n in ordered)
    if not total:
        return 0.0
    rank, below = fraction * total, 0
    for index, n in ordered:
        if below + n >= rank:
            if index >= len(BOUNDS):
                return BOUNDS[-1]
            lower, upper = (BOUNDS[index - 1] if index else 0.0), BOUNDS[index]
            return round(lower + (upper - lower) * (rank - below) / n, 3)
        below += n
    return BOUNDS[-1]


def bucket_bounds(seconds: float) -> tuple[float, float]:
    """The bounds (lower, upper] of the bucket a duration falls in (upper is inf past the last bound)."""
    for index, bound in enumerate(BOUNDS):
        if seconds <= bound:
            return (BOUNDS[index - 1] if index else 0.0), bound
    return BOUNDS[-1], float("inf")
