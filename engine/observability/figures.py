"""The operators' figures: the dashboard, /api/metrics/ and /metrics read them here (one rule each).

Figures of a time range (throughput, durations, failures, retries, instances finished) are sums of the
hourly counts of engine.observability.counting: a few stored rows per hour, plus the open edges of the
range counted live. Figures of "now" (open phases by SLA status, open dead letters, unfinished instances,
queue and reaper lag) are GROUP BYs over partial indexes that hold only the open rows; they count rows
(`COUNT(*)`, not a column) so PostgreSQL answers from the index alone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from django.db.models import Count, Min, QuerySet

from engine.models import (
    DeadLetter,
    DeadLetterState,
    Figure,
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
from engine.observability import counting

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

    @cached_property
    def counts(self) -> counting.RangeCounts:
        """The range's hourly counts, summed once for all the figures of a request."""
        return counting.range_counts(
            self.since, self.until, template_id=self.template.pk if self.template else None
        )

    @cached_property
    def template_keys(self) -> dict[int, str]:
        ids = {template for template, *_ in self.counts.totals}
        return dict(WorkflowTemplate.objects.filter(pk__in=ids).values_list("pk", "key")) if ids else {}


# --- the figures of "now" (also Prometheus gauges) --------------------------------------------------------


def instances_by_state(scope: Scope) -> dict[str, int]:
    """Unfinished instances as they stand, finished ones that finished within the range."""
    counts = unfinished_instances(scope)
    for (_, _, figure, label), n in scope.counts.totals.items():
        if figure == Figure.INSTANCES_FINISHED:
            counts[label] += n
    return counts


def unfinished_instances(scope: Scope) -> dict[str, int]:
    """Every state, with the count of the instances in it now for the unfinished ones (0 for the rest)."""
    counts = dict.fromkeys(InstanceState.values, 0)
    unfinished = scope.instances().filter(state__in=UNFINISHED_INSTANCE_STATES)
    for row in unfinished.order_by().values("state").annotate(n=Count("*")):
        counts[row["state"]] = row["n"]
    return counts


def open_human_sla(scope: Scope) -> dict[str, int]:
    """Open human phases by SLA status (`none` where the phase has no SLA)."""
    counts = {"on_schedule": 0, "at_risk": 0, "behind_schedule": 0, "none": 0}
    open_human = scope.phase_runs().filter(state=PhaseState.ACTIVE, phase_type="human")
    for row in open_human.order_by().values("sla_status").annotate(n=Count("*")):
        counts[row["sla_status"] or "none"] = counts.get(row["sla_status"] or "none", 0) + row["n"]
    return counts


def dead_letters_open(scope: Scope) -> dict[str, int]:
    """Open dead letters by error category."""
    rows = scope.dead_letters().filter(state=DeadLetterState.OPEN).order_by().values("category")
    return {row["category"]: row["n"] for row in rows.annotate(n=Count("*"))}


def queue_lag(scope: Scope, now: datetime) -> dict[str, Any]:
    """Attempts ready for a worker and how long the oldest has waited (0 when none waits)."""
    phases = scope.phase_runs().filter(state=PhaseState.READY, phase_type__in=AUTOMATED_TYPES)
    items = scope.item_runs().filter(state=PhaseState.READY)
    ready, oldest = 0, None
    for qs in (phases, items):
        row = qs.order_by().aggregate(n=Count("*"), oldest=Min("updated_at"))
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
            .aggregate(n=Count("*"), oldest=Min("lease_expires_at"))
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


# --- the figures of the range (hourly counts, engine.observability.counting) ----------------------------


def throughput_per_hour(scope: Scope) -> list[dict[str, Any]]:
    """Per hour of the range: instances completed and phases finished (completed or failed)."""
    hours: dict[datetime, dict[str, int]] = {}
    moment = counting.floor_hour(scope.since)
    while moment <= scope.until:
        hours[moment] = _empty_hour()
        moment += timedelta(hours=1)
    names = {
        (Figure.INSTANCES_FINISHED, InstanceState.COMPLETED): "instances_completed",
        (Figure.PHASES_FINISHED, PhaseState.COMPLETED): "phases_completed",
        (Figure.PHASES_FINISHED, PhaseState.FAILED): "phases_failed",
    }
    for (hour, figure, label), n in scope.counts.hourly.items():
        if (figure, label) in names:
            hours.setdefault(hour, _empty_hour())[names[(figure, label)]] += n
    return [{"hour": hour.isoformat(), **values} for hour, values in sorted(hours.items())]


def _empty_hour() -> dict[str, int]:
    return {"instances_completed": 0, "phases_completed": 0, "phases_failed": 0}


def phase_durations(scope: Scope, *, limit: int = 50) -> list[dict[str, Any]]:
    """p50 and p95 of started → finished, in seconds, per template and phase completed in the range.

    From the duration histogram: each figure lies within the bounds of the bucket the exact percentile
    falls in (`counting.BOUNDS`).
    """
    groups: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    keys = scope.template_keys
    for (template, phase, figure, label), n in scope.counts.totals.items():
        if figure == Figure.DURATION and n:
            groups[(keys[template], phase)][label] = n
    rows = [
        {"template": key, "phase": phase, "count": sum(buckets.values()),
         "p50": counting.quantile(buckets, 0.5), "p95": counting.quantile(buckets, 0.95)}
        for (key, phase), buckets in groups.items()
    ]  # fmt: skip
    rows.sort(key=lambda row: (-row["count"], row["template"], row["phase"]))
    return rows[:limit]


def failures_by_category(scope: Scope) -> dict[str, int]:
    """Work that failed for good in the range (each one became a dead letter), by error category."""
    counts: dict[str, int] = defaultdict(int)
    for (_, _, figure, label), n in scope.counts.totals.items():
        if figure == Figure.FAILURES:
            counts[label] += n
    return dict(sorted(counts.items()))


def retries(scope: Scope) -> dict[str, Any]:
    """Attempts beyond each run's first, of phases and map items that finished in the range."""
    keys = scope.template_keys
    per_phase = {
        (keys[template], phase): n
        for (template, phase, figure, _), n in scope.counts.totals.items()
        if figure == Figure.RETRIES and n
    }
    top = sorted(per_phase.items(), key=lambda pair: (-pair[1], pair[0]))[:20]
    return {
        "total": sum(per_phase.values()),
        "by_phase": [{"template": key, "phase": phase, "retries": n} for (key, phase), n in top],
    }


def dashboard(scope: Scope, *, now: datetime) -> dict[str, Any]:
    """Every figure of the dashboard, as JSON-ready data (also `GET /api/metrics/`)."""
    sweeps = sweep_ages(now)
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
        "reaper": {**expired_leases(now), "last_run_seconds_ago": sweeps.get("reaper")},
        "sweeps_last_run_seconds_ago": sweeps,
    }
