"""The operators' figures, computed by aggregate queries: the dashboard, /api/metrics/ and /metrics read them.

Every query is a GROUP BY or a MIN over an indexed column (state, finished_at, created_at, the partial
lease index), so its cost follows the rows of the time range asked for, not the size of the history.
Percentiles run in the database on PostgreSQL (`percentile_cont`); SQLite, the development database, gets
them from the durations of the range in Python.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, QuerySet, Sum
from django.db.models.functions import TruncHour

from engine.models import (
    DeadLetter,
    DeadLetterState,
    InstanceState,
    ItemRun,
    PhaseRun,
    PhaseState,
    SlaStatus,
    SweepHeartbeat,
    WorkflowInstance,
    WorkflowTemplate,
)
from engine.models.states import UNFINISHED_INSTANCE_STATES

RANGES = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24),
          "7d": timedelta(days=7), "30d": timedelta(days=30)}  # fmt: skip
DEFAULT_RANGE = "24h"
AUTOMATED_TYPES = ("task", "gate")  # phases that wait in the queue for a worker while ready
OPEN_SLA_STATES = (SlaStatus.ON_SCHEDULE, SlaStatus.AT_RISK, SlaStatus.BEHIND_SCHEDULE)


class FigureError(ValueError):
    """A filter the figures cannot use (an unknown range or template); `field` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Scope:
    """What the figures cover: a time range ending now, and optionally one template."""

    range_name: str
    since: datetime
    until: datetime
    template: WorkflowTemplate | None = None

    @classmethod
    def parse(cls, *, range_name: str | None, template_key: str | None, now: datetime) -> Scope:
        name = range_name or DEFAULT_RANGE
        if name not in RANGES:
            raise FigureError("range", f"range must be one of {', '.join(RANGES)}, not {name!r}")
        template = None
        if template_key:
            template = WorkflowTemplate.objects.filter(key=template_key).first()
            if template is None:
                raise FigureError("template", f"there is no template with the key {template_key!r}")
        return cls(range_name=name, since=now - RANGES[name], until=now, template=template)

    def instances(self) -> QuerySet[WorkflowInstance]:
        qs = WorkflowInstance.objects.all()
        return qs.filter(template=self.template) if self.template else qs

    def phase_runs(self) -> QuerySet[PhaseRun]:
        qs = PhaseRun.objects.all()
        return qs.filter(instance__template=self.template) if self.template else qs

    def item_runs(self) -> QuerySet[ItemRun]:
        qs = ItemRun.objects.all()
        return qs.filter(instance__template=self.template) if self.template else qs

    def dead_letters(self) -> QuerySet[DeadLetter]:
        qs = DeadLetter.objects.all()
        return qs.filter(instance__template=self.template) if self.template else qs

    def finished_between(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.filter(finished_at__gte=self.since, finished_at__lte=self.until)


# --- the figures of "now" (also Prometheus gauges) --------------------------------------------------------


def instances_by_state(scope: Scope) -> dict[str, int]:
    """Unfinished instances as they stand, finished ones that finished within the range."""
    counts = dict.fromkeys(InstanceState.values, 0)
    unfinished = scope.instances().filter(state__in=UNFINISHED_INSTANCE_STATES)
    finished = scope.finished_between(scope.instances().exclude(state__in=UNFINISHED_INSTANCE_STATES))
    for qs in (unfinished, finished):
        for row in qs.order_by().values("state").annotate(n=Count("pk")):
            counts[row["state"]] = row["n"]
    return counts


def open_human_sla(scope: Scope) -> dict[str, int]:
    """Open human phases by SLA status (`none` where the phase has no SLA)."""
    counts = {"on_schedule": 0, "at_risk": 0, "behind_schedule": 0, "none": 0}
    open_human = scope.phase_runs().filter(state=PhaseState.ACTIVE, phase_type="human")
    for row in open_human.order_by().values("sla_status").annotate(n=Count("pk")):
        counts[row["sla_status"] or "none"] = counts.get(row["sla_status"] or "none", 0) + row["n"]
    return counts


def dead_letters_open(scope: Scope) -> dict[str, int]:
    """Open dead letters by error category."""
    rows = scope.dead_letters().filter(state=DeadLetterState.OPEN).order_by().values("category")
    return {row["category"]: row["n"] for row in rows.annotate(n=Count("pk"))}


def queue_lag(scope: Scope, now: datetime) -> dict[str, Any]:
    """Attempts ready for a worker and how long the oldest has waited (0 when none waits)."""
    phases = scope.phase_runs().filter(state=PhaseState.READY, phase_type__in=AUTOMATED_TYPES)
    items = scope.item_runs().filter(state=PhaseState.READY)
    ready, oldest = 0, None
    for qs in (phases, items):
        row = qs.order_by().aggregate(n=Count("pk"), oldest=Min("updated_at"))
        ready += row["n"]
        if row["oldest"] is not None and (oldest is None or row["oldest"] < oldest):
            oldest = row["oldest"]
    return {"ready": ready, "oldest_seconds": _age(oldest, now)}


def expired_leases(now: datetime) -> dict[str, Any]:
    """Attempts whose lease expired but that the reaper has not taken back yet (the partial lease index)."""
    count, oldest = 0, None
    for model in (PhaseRun, ItemRun):
        row = (
            model.objects.filter(state=PhaseState.ACTIVE, lease_expires_at__lt=now)
            .order_by()
            .aggregate(n=Count("pk"), oldest=Min("lease_expires_at"))
        )
        count += row["n"]
        if row["oldest"] is not None and (oldest is None or row["oldest"] < oldest):
            oldest = row["oldest"]
    return {"count": count, "oldest_seconds": _age(oldest, now)}


def sweep_ages(now: datetime) -> dict[str, float | None]:
    """Seconds since each periodic sweep last finished (None: never ran)."""
    from engine.observability.celery_hooks import SWEEP_TASKS

    ages: dict[str, float | None] = dict.fromkeys(SWEEP_TASKS.values())
    for beat in SweepHeartbeat.objects.all():
        ages[beat.name] = _age(beat.last_run_at, now)
    return ages


def _age(moment: datetime | None, now: datetime) -> float:
    return round(max((now - moment).total_seconds(), 0.0), 3) if moment else 0.0


# --- the figures of the range ---------------------------------------------------------------------------


def throughput_per_hour(scope: Scope) -> list[dict[str, Any]]:
    """Per hour of the range: instances completed and phases finished (completed, skipped or failed)."""
    hours: dict[datetime, dict[str, int]] = {}
    start = scope.since.replace(minute=0, second=0, microsecond=0)
    moment = start
    while moment <= scope.until:
        hours[moment] = {"instances_completed": 0, "phases_completed": 0, "phases_failed": 0}
        moment += timedelta(hours=1)
    completed = scope.finished_between(scope.instances().filter(state=InstanceState.COMPLETED))
    phases = scope.finished_between(
        scope.phase_runs().filter(state__in=(PhaseState.COMPLETED, PhaseState.FAILED))
    )
    for row in (
        completed.order_by().annotate(hour=TruncHour("finished_at")).values("hour").annotate(n=Count("pk"))
    ):
        hours.setdefault(_utc(row["hour"]), _empty_hour())["instances_completed"] = row["n"]
    for row in (
        phases.order_by()
        .annotate(hour=TruncHour("finished_at"))
        .values("hour", "state")
        .annotate(n=Count("pk"))
    ):
        key = "phases_completed" if row["state"] == PhaseState.COMPLETED else "phases_failed"
        hours.setdefault(_utc(row["hour"]), _empty_hour())[key] = row["n"]
    return [{"hour": hour.isoformat(), **values} for hour, values in sorted(hours.items())]


def _empty_hour() -> dict[str, int]:
    return {"instances_completed": 0, "phases_completed": 0, "phases_failed": 0}


def _utc(moment: datetime) -> datetime:
    from datetime import UTC

    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def phase_durations(scope: Scope, *, limit: int = 50) -> list[dict[str, Any]]:
    """p50 and p95 of started → finished, in seconds, per template and phase completed in the range."""
    runs = scope.finished_between(
        scope.phase_runs().filter(state=PhaseState.COMPLETED, started_at__isnull=False)
    )
    rows = _durations_postgres(runs) if connection.vendor == "postgresql" else _durations_python(runs)
    rows.sort(key=lambda row: (-row["count"], row["template"], row["phase"]))
    return rows[:limit]


def _durations_postgres(runs: QuerySet[PhaseRun]) -> list[dict[str, Any]]:
    # percentile_cont has no ORM form: the ORM writes the filtered rows, raw SQL takes the percentiles.
    inner = (
        runs.order_by()
        .values("instance__template__key", "phase_id")
        .annotate(seconds=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
    )
    sql, params = inner.query.sql_with_params()
    query = (
        "SELECT t.key, t.phase_id, COUNT(*),"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM t.seconds)),"
        " percentile_cont(0.95) WITHIN GROUP (ORDER BY EXTRACT(EPOCH FROM t.seconds))"
        f" FROM ({sql}) AS t(key, phase_id, seconds) GROUP BY t.key, t.phase_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return [
            {"template": key, "phase": phase, "count": n, "p50": round(p50, 3), "p95": round(p95, 3)}
            for key, phase, n, p50, p95 in cursor.fetchall()
        ]


def _durations_python(runs: QuerySet[PhaseRun]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], list[float]] = defaultdict(list)
    for key, phase, started, finished in (
        runs.order_by()
        .values_list("instance__template__key", "phase_id", "started_at", "finished_at")
        .iterator(chunk_size=5000)
    ):
        groups[(key, phase)].append(max((finished - started).total_seconds(), 0.0))
    return [
        {"template": key, "phase": phase, "count": len(values), "p50": percentile(values, 0.5),
         "p95": percentile(values, 0.95)}
        for (key, phase), values in groups.items()
    ]  # fmt: skip


def percentile(values: list[float], fraction: float) -> float:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    value = ordered[low] + (ordered[high] - ordered[low]) * (position - low)
    return round(value, 3)


def failures_by_category(scope: Scope) -> dict[str, int]:
    """Work that failed for good in the range (each one became a dead letter), by error category."""
    letters = scope.dead_letters().filter(created_at__gte=scope.since, created_at__lte=scope.until)
    rows = letters.order_by().values("category").annotate(n=Count("pk"))
    return {row["category"]: row["n"] for row in rows}


def retries(scope: Scope) -> dict[str, Any]:
    """Attempts beyond each run's first, of phases and map items that finished in the range."""
    total = 0
    per_phase: dict[tuple[str, str], int] = defaultdict(int)
    phases = scope.finished_between(scope.phase_runs().filter(attempt__gt=1))
    for row in (
        phases.order_by().values("instance__template__key", "phase_id").annotate(n=Sum(F("attempt") - 1))
    ):
        per_phase[(row["instance__template__key"], row["phase_id"])] += row["n"]
        total += row["n"]
    items = scope.finished_between(scope.item_runs().filter(attempt__gt=1))
    for row in (
        items.order_by()
        .values("instance__template__key", "phase_run__phase_id")
        .annotate(n=Sum(F("attempt") - 1))
    ):
        per_phase[(row["instance__template__key"], row["phase_run__phase_id"])] += row["n"]
        total += row["n"]
    top = sorted(per_phase.items(), key=lambda pair: -pair[1])[:20]
    return {
        "total": total,
        "by_phase": [{"template": key, "phase": phase, "retries": n} for (key, phase), n in top],
    }


def dashboard(scope: Scope, *, now: datetime) -> dict[str, Any]:
    """Every figure of the dashboard, as JSON-ready data (also `GET /api/metrics/`)."""
    return {
        "range": scope.range_name,
        "since": scope.since.isoformat(),
        "until": scope.until.isoformat(),
        "template": scope.template.key if scope.template else None,
        "instances_by_state": instances_by_state(scope),
        "throughput_per_hour": throughput_per_hour(scope),
        "phase_durations": phase_durations(scope),
        "failures_by_category": failures_by_category(scope),
        "retries": retries(scope),
        "open_human_phases_by_sla": open_human_sla(scope),
        "dead_letters_open": dead_letters_open(scope),
        "queue": queue_lag(scope, now),
        "reaper": {**expired_leases(now), "last_run_seconds_ago": sweep_ages(now).get("reaper")},
        "sweeps_last_run_seconds_ago": sweep_ages(now),
    }
