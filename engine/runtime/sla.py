"""SLAs of human phases: at-risk times from the business calendar, the periodic sweep, escalation mail.

A human phase gets its due time when it opens (`kinds/human.py`, `sla_due`). Everything else happens here:

- `sla_prime` computes when the phase turns at_risk (the `at_risk` fraction of its allowed time, counted
  in working time when the SLA is in business days) once per activation, so that the sweep can compare
  plain columns.
- `sla_sweep(now=...)` moves statuses forward with set-based updates on `sla_status` only (never the state
  field): `on_schedule → at_risk → behind_schedule`, one audit row and one `sla.at_risk` /
  `sla.behind_schedule` event per crossing, because a row only crosses when its old status still holds.
  It e-mails the members of the `escalate_to` roles of phases behind schedule once (`escalated_at`), and
  settles `met` / `missed` on phases that finished by any path.
- Time while an instance is suspended does not count: the sweep leaves suspended instances alone, and when
  one runs again it moves the due and at-risk times of its open phases out by the working time the
  suspension took (`sla_reconcile_suspensions`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.urls import reverse

from engine.access import role_holders
from engine.definition.calendar import BusinessCalendar
from engine.definition.plan import Plan, SlaPolicy
from engine.links import absolute_url
from engine.models import (
    InstanceState,
    PhaseRun,
    PhaseState,
    SlaStatus,
    TemplateVersion,
    Transition,
)
from engine.models.states import FINISHED_PHASE_STATES, OPEN_SLA_STATUSES, SLA_RANK
from engine.runtime.actors import Actor
from engine.runtime.journal import emit_event, flush_queued, record, unit_of_work
from engine.runtime.plans import plan_for

logger = logging.getLogger(__name__)

SLA_ACTOR = Actor.system("sla")
BATCH = 500
OPEN_STATUSES = OPEN_SLA_STATUSES
# Suspensions are matched to the instance's suspended_seconds counter from audit timestamps, which are
# written a few milliseconds after the database clock that fed the counter.
COUNTER_SLACK = 1.0


# --- pure arithmetic ----------------------------------------------------------------------------------


def at_risk_time(
    calendar: BusinessCalendar, sla: SlaPolicy, activated_at: datetime, due_at: datetime
) -> datetime:
    """The moment the `at_risk` fraction of the time allowed between activation and due has passed."""
    if sla.at_risk >= 1:
        return due_at
    if not sla.business_days:
        return activated_at + (due_at - activated_at) * max(sla.at_risk, 0.0)
    allowed = calendar.working_time(activated_at, due_at)
    return calendar.due(activated_at, allowed * max(sla.at_risk, 0.0), business_days=True)


def status_at(now: datetime, *, due_at: datetime | None, at_risk_at: datetime | None) -> str:
    """The SLA status of an open phase at `now`: behind once past due, at risk from its at-risk time."""
    if due_at is None:
        return SlaStatus.NONE
    if now > due_at:
        return SlaStatus.BEHIND_SCHEDULE
    if at_risk_at is not None and now >= at_risk_at:
        return SlaStatus.AT_RISK
    return SlaStatus.ON_SCHEDULE


def push_out(
    calendar: BusinessCalendar, sla: SlaPolicy, moment: datetime, lost: tuple[datetime, datetime]
) -> datetime:
    """Move a due (or at-risk) time out by the part of the period `lost` that counts against the SLA."""
    start, end = lost
    if not sla.business_days:
        return moment + (end - start)
    return calendar.due(moment, calendar.working_time(start, end), business_days=True)


# --- priming ------------------------------------------------------------------------------------------


def _needs_priming(run: PhaseRun) -> bool:
    return (
        run.due_at is not None and run.activated_at is not None and run.sla_activated_at != run.activated_at
    )


def _prime_fields(run: PhaseRun, plan: Plan) -> None:
    spec = plan.phases.get(run.phase_id)
    sla = spec.sla if spec is not None else None
    assert run.activated_at is not None and run.due_at is not None
    run.at_risk_at = at_risk_time(plan.calendar, sla, run.activated_at, run.due_at) if sla else None
    run.sla_activated_at = run.activated_at
    # Suspensions before this activation do not count; the reconcile step clips them away once.
    run.sla_suspension_seen = 0


PRIME_FIELDS = ["at_risk_at", "sla_activated_at", "sla_suspension_seen"]


def sla_prime(runs: Iterable[PhaseRun], plan: Plan) -> int:
    """Give freshly opened phases (of one instance, under its lock) their at-risk time."""
    primed = [run for run in runs if _needs_priming(run)]
    for run in primed:
        _prime_fields(run, plan)
        run.save(update_fields=PRIME_FIELDS)
    return len(primed)


def _plans(version_ids: Iterable[int]) -> dict[int, Plan]:
    versions = TemplateVersion.objects.in_bulk(set(version_ids))
    return {pk: plan_for(version) for pk, version in versions.items()}


def _open_sla_runs() -> QuerySet[PhaseRun]:
    """Open human phases with a due time, of instances that run (a suspended one's SLA clock is stopped)."""
    return PhaseRun.objects.filter(
        state=PhaseState.ACTIVE,
        phase_type="human",
        due_at__isnull=False,
        instance__state=InstanceState.RUNNING,
    )


def _prime_pending(instance_id: Any = None) -> int:
    stale = Q(sla_activated_at__isnull=True) | ~Q(sla_activated_at=F("activated_at"))
    candidates = (
        PhaseRun.objects.filter(state=PhaseState.ACTIVE, phase_type="human", due_at__isnull=False)
        .filter(stale, activated_at__isnull=False)
        .annotate(version_id=F("instance__version_id"))
        .only("pk", "phase_id", "activated_at", "due_at", "sla_activated_at", "instance_id", "state")
        .order_by("pk")
    )
    if instance_id is not None:
        candidates = candidates.filter(instance_id=instance_id)
    primed = 0
    last = 0
    while True:
        rows = list(candidates.filter(pk__gt=last)[:BATCH])
        if not rows:
            return primed
        plans = _plans(row.version_id for row in rows)  # type: ignore[attr-defined]
        for row in rows:
            _prime_fields(row, plans[row.version_id])  # type: ignore[attr-defined]
        PhaseRun.objects.bulk_update(rows, PRIME_FIELDS)
        primed += len(rows)
        last = rows[-1].pk


# --- suspensions --------------------------------------------------------------------------------------


def suspension_periods(instance_ids: Iterable[Any]) -> dict[Any, list[tuple[datetime, datetime | None]]]:
    """Each instance's suspensions from its audit trail, oldest first; an open one ends with None."""
    rows = (
        Transition.objects.filter(instance_id__in=list(instance_ids), phase_run__isnull=True)
        .filter(Q(target=InstanceState.SUSPENDED) | Q(source=InstanceState.SUSPENDED))
        .exclude(source=F("target"))
        # An override also writes one summary row with the instance's state before and after; the
        # suspend or resume itself has its own transition row, so counting both would open a period twice.
        .exclude(name__startswith="override_")
        .order_by("id")
        .values_list("instance_id", "source", "target", "created_at")
    )
    periods: dict[Any, list[tuple[datetime, datetime | None]]] = {}
    for instance_id, source, target, at in rows:
        mine = periods.setdefault(instance_id, [])
        if target == InstanceState.SUSPENDED:
            mine.append((at, None))
        elif source == InstanceState.SUSPENDED and mine and mine[-1][1] is None:
            mine[-1] = (mine[-1][0], at)
    return periods


def _unseen(
    periods: Sequence[tuple[datetime, datetime | None]], seen: float
) -> list[tuple[datetime, datetime]]:
    """The ended suspensions that the counter value `seen` does not cover yet (the newest ones)."""
    total, fresh = 0.0, []
    for start, end in periods:
        if end is None:
            continue
        total += (end - start).total_seconds()
        if total > seen + COUNTER_SLACK:
            fresh.append((start, end))
    return fresh


def sla_reconcile_suspensions(*, now: datetime, instance_id: Any = None) -> int:
    """Move due times out by suspensions that ended since they were last looked at; return phases moved."""
    candidates = (
        _open_sla_runs()
        .filter(sla_activated_at=F("activated_at"), instance__suspended_seconds__gt=F("sla_suspension_seen"))
        .annotate(version_id=F("instance__version_id"), counter=F("instance__suspended_seconds"))
        .order_by("pk")
    )
    if instance_id is not None:
        candidates = candidates.filter(instance_id=instance_id)
    moved = 0
    last = 0
    while True:
        with unit_of_work():
            rows = list(candidates.filter(pk__gt=last)[:BATCH])
            if not rows:
                return moved
            last = rows[-1].pk
            plans = _plans(row.version_id for row in rows)  # type: ignore[attr-defined]
            periods = suspension_periods({row.instance_id for row in rows})
            for row in rows:
                moved += _reconcile(row, plans[row.version_id], periods.get(row.instance_id, []), now)  # type: ignore[attr-defined]
            PhaseRun.objects.bulk_update(
                rows, ["due_at", "at_risk_at", "sla_status", "escalated_at", "sla_suspension_seen"]
            )


def _reconcile(
    run: PhaseRun, plan: Plan, periods: list[tuple[datetime, datetime | None]], now: datetime
) -> int:
    spec = plan.phases[run.phase_id]
    seen, run.sla_suspension_seen = run.sla_suspension_seen, run.counter  # type: ignore[attr-defined]
    assert run.activated_at is not None and run.due_at is not None
    lost = [
        (max(start, run.activated_at), end) for start, end in _unseen(periods, seen) if end > run.activated_at
    ]
    if spec.sla is None or not lost:
        return 0
    before = run.due_at
    for period in lost:
        run.due_at = push_out(plan.calendar, spec.sla, run.due_at, period)
        if run.at_risk_at is not None:
            run.at_risk_at = push_out(plan.calendar, spec.sla, run.at_risk_at, period)
    _status_back(run, now)
    paused = sum((end - start).total_seconds() for start, end in lost)
    record(
        run,
        "sla_paused",
        source=run.state,
        target=run.state,
        actor=SLA_ACTOR,
        reason="time while the instance was suspended does not count against the SLA",
        metadata={
            "before": {"due_at": before.isoformat()},
            "after": {"due_at": run.due_at.isoformat()},
            "suspended_seconds": paused,
        },
        emit=False,
    )
    return 1


def _status_back(run: PhaseRun, now: datetime) -> None:
    """After a due time moved out a phase may be on schedule again; the sweep only moves forward."""
    fresh = status_at(now, due_at=run.due_at, at_risk_at=run.at_risk_at)
    if run.sla_status in OPEN_SLA_STATUSES and SLA_RANK[fresh] < SLA_RANK[run.sla_status]:
        run.sla_status = fresh
        if fresh != SlaStatus.BEHIND_SCHEDULE:
            run.escalated_at = None  # a new due time that is missed again is escalated again


def sla_due_change(run: PhaseRun, plan: Plan, *, due_at: datetime, now: datetime) -> None:
    """Give an open phase a new due time (an override): at-risk time and status follow. Caller saves."""
    spec = plan.phases[run.phase_id]
    run.due_at = due_at
    start = run.activated_at or now
    policy = spec.sla or SlaPolicy(duration=due_at - start)
    run.at_risk_at = at_risk_time(plan.calendar, policy, start, due_at) if due_at > start else due_at
    run.sla_activated_at = run.activated_at
    run.sla_status = status_at(now, due_at=due_at, at_risk_at=run.at_risk_at)
    if run.sla_status != SlaStatus.BEHIND_SCHEDULE:
        run.escalated_at = None


def sla_refresh(*, instance_id: Any, now: datetime) -> int:
    """Bring one instance's SLA bookkeeping up to date now (after a resume) instead of at the next sweep."""
    flush_queued()  # the resume's own audit row, maybe still queued, ends the suspension period read below
    _prime_pending(instance_id)
    return sla_reconcile_suspensions(now=now, instance_id=instance_id)


# --- the sweep ----------------------------------------------------------------------------------------


def sla_sweep(*, now: datetime) -> int:
    """Recompute SLA statuses of every open human phase and escalate; return how many phases changed."""
    _prime_pending()
    changed = sla_reconcile_suspensions(now=now)
    changed += _cross(now, SlaStatus.AT_RISK)
    changed += _cross(now, SlaStatus.BEHIND_SCHEDULE)
    changed += _escalate(now)
    changed += _settle_finished()
    return changed


def _cross(now: datetime, target: str) -> int:
    if target == SlaStatus.AT_RISK:
        candidates = _open_sla_runs().filter(
            sla_status=SlaStatus.ON_SCHEDULE, at_risk_at__lte=now, sla_activated_at=F("activated_at")
        )
    else:
        candidates = _open_sla_runs().filter(
            sla_status__in=[SlaStatus.ON_SCHEDULE, SlaStatus.AT_RISK], due_at__lt=now
        )
    candidates = candidates.only("pk", "instance_id", "phase_id", "round", "state", "due_at", "sla_status")
    crossed, last = 0, 0
    while True:
        with unit_of_work():
            # Rows locked by a person acting on them right now are left for the next sweep. The rows read
            # here stay as read until the commit (locked on PostgreSQL; SQLite's IMMEDIATE transaction
            # holds the write lock), so one set-based update moves exactly them, and each crossing is
            # recorded once however sweeps overlap.
            rows = list(
                candidates.filter(pk__gt=last)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")[:BATCH]
            )
            if not rows:
                return crossed
            last = rows[-1].pk
            PhaseRun.objects.filter(pk__in=[row.pk for row in rows]).update(sla_status=target)
            for row in rows:
                _record_crossing(row, target)
            crossed += len(rows)


def _record_crossing(run: PhaseRun, target: str) -> None:
    before = run.sla_status
    due = run.due_at.isoformat() if run.due_at else None
    record(
        run,
        f"sla_{target}",
        source=run.state,
        target=run.state,
        actor=SLA_ACTOR,
        metadata={"before": {"sla_status": before}, "after": {"sla_status": target}, "due_at": due},
        emit=False,
    )
    emit_event(
        instance_id=run.instance_id,
        name=f"sla.{target}",
        payload={
            "instance_id": str(run.instance_id),
            "phase_id": run.phase_id,
            "round": run.round,
            "sla_status": target,
            "due_at": due,
        },
    )


def _escalate(now: datetime) -> int:
    behind = _open_sla_runs().filter(sla_status=SlaStatus.BEHIND_SCHEDULE, escalated_at__isnull=True)
    version_ids = set(behind.values_list("instance__version_id", flat=True).distinct())
    escalating = Q(pk__in=[])
    for version_id, plan in _plans(version_ids).items():
        phase_ids = [p.id for p in plan.phases.values() if p.sla is not None and p.sla.escalate_to]
        if phase_ids:
            escalating |= Q(instance__version_id=version_id, phase_id__in=phase_ids)
    candidates = behind.filter(escalating).select_related("instance__template", "instance__version")
    sent, last = 0, 0
    while True:
        with unit_of_work():
            rows = list(
                candidates.filter(pk__gt=last)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")[:BATCH]
            )
            if not rows:
                return sent
            last = rows[-1].pk
            for run in rows:
                sent += _escalate_one(run, now)


def _escalate_one(run: PhaseRun, now: datetime) -> int:
    """Mark escalated and send the mail in one savepoint: a failed send is tried again next sweep."""
    plan = plan_for(run.instance.version)
    spec = plan.phases[run.phase_id]
    assert spec.sla is not None
    roles = list(spec.sla.escalate_to)
    people = role_holders(run.instance, roles)
    recipients = [person.email for person in people if person.email]
    try:
        with transaction.atomic():
            if not PhaseRun.objects.filter(pk=run.pk, escalated_at__isnull=True).update(escalated_at=now):
                return 0  # escalated by someone else meanwhile
            if recipients:
                send_mail(
                    escalation_subject(run, spec.name),
                    escalation_body(run, spec.name, roles),
                    settings.DEFAULT_FROM_EMAIL,
                    recipients,
                )
    except Exception:
        logger.exception("could not send the escalation of %s of instance %s", run.phase_id, run.instance_id)
        return 0
    if not recipients:
        logger.warning("nobody with an e-mail address holds %s for %s", roles, run.phase_id)
    due = run.due_at.isoformat() if run.due_at else None
    record(
        run,
        "sla_escalated",
        source=run.state,
        target=run.state,
        actor=SLA_ACTOR,
        metadata={"to": roles, "recipients": [person.get_username() for person in people], "due_at": due},
        emit=False,
    )
    emit_event(
        instance_id=run.instance_id,
        name="sla.escalated",
        payload={"instance_id": str(run.instance_id), "phase_id": run.phase_id, "to": roles, "due_at": due},
    )
    return 1


def escalation_subject(run: PhaseRun, phase_name: str) -> str:
    instance = run.instance
    label = instance.business_key or str(instance.pk)[:8]
    return f"[Phasegate] {instance.template.name} {label}: {phase_name} is behind schedule"


def escalation_body(run: PhaseRun, phase_name: str, roles: Sequence[str]) -> str:
    instance = run.instance
    holder = run.assignee.get_username() if run.assignee_id and run.assignee else "nobody (unclaimed)"
    due = run.due_at.isoformat() if run.due_at else "—"
    return (
        f"{phase_name} of {instance.template.name} ({instance.business_key or instance.pk}) was due at {due} "
        f"and is not finished.\n\n"
        f"Held by: {holder}\n"
        f"You receive this because you hold one of these roles: {', '.join(roles)}.\n\n"
        f"Phase page: {absolute_url(reverse('pages:phase_detail', args=[instance.pk, run.phase_id]))}\n"
    )


def _settle_finished() -> int:
    """Finished phases keep met or missed: completed in time is met, finished late is missed."""
    finished = PhaseRun.objects.filter(state__in=FINISHED_PHASE_STATES, sla_status__in=OPEN_STATUSES)
    settled = finished.filter(
        state=PhaseState.COMPLETED, due_at__isnull=False, finished_at__lte=F("due_at")
    ).update(sla_status=SlaStatus.MET)
    settled += finished.filter(due_at__isnull=False, finished_at__gt=F("due_at")).update(
        sla_status=SlaStatus.MISSED
    )
    # Skipped, cancelled or failed in time, or with nothing to judge by: no SLA verdict.
    settled += finished.update(sla_status=SlaStatus.NONE)
    return settled
