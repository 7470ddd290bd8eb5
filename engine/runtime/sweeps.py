"""Periodic work that sends messages: due retries and timers, and ready attempts whose message was lost.

Each sweep reads a bounded batch of due rows with one set-based query on a partial index, marks them sent
with one update, and sends. A row is sent once; only if it is still due a grace period later (its message
was lost, or is stuck behind a backlog) is it sent again. Crash recovery (expired leases) is reaper.py.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Now

from engine.models import InstanceState, ItemRun, PhaseRun, PhaseState, TemplateVersion
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer, load_runs, lock_instance
from engine.runtime.clock import db_now
from engine.runtime.dispatch import AttemptRef, send_to_broker
from engine.runtime.journal import unit_of_work
from engine.runtime.kinds.wait import WAIT
from engine.runtime.plans import plan_for

logger = logging.getLogger(__name__)
BATCH = 1000
# Elapsed timers each advance their instance (a whole engine cycle), so a tick handles fewer of them.
TIMER_BATCH = 100
TIMER = Actor.system("timer")


def resend_after() -> timedelta:
    """How long a sent message may go unanswered before the sweep sends it again."""
    return timedelta(seconds=settings.PHASEGATE["RESEND_AFTER_SECONDS"])


def due_work_dispatch() -> int:
    """Send due retries, finish elapsed timers, and re-send ready attempts nobody claimed; return how many."""
    now = db_now()
    stale = now - resend_after()
    return _send_due_retries(stale) + _fire_timers() + _resend_unclaimed(stale)


def _not_sent_since(stale: Any) -> Q:
    return Q(sent_at__isnull=True) | Q(sent_at__lt=stale)


def _mark_sent(model: type[PhaseRun] | type[ItemRun], pks: list[int]) -> None:
    if pks:
        model.objects.filter(pk__in=pks).update(sent_at=Now())


def _queues(rows: list[tuple[int, str, int]]) -> dict[int, str | None]:
    """The queue of each (pk, phase id, version id): a phase routed to its own workers stays there."""
    versions = TemplateVersion.objects.defer("definition").in_bulk({version for _, _, version in rows})
    plans = {pk: plan_for(version) for pk, version in versions.items()}
    return {pk: plans[version].phases[phase_id].queue for pk, phase_id, version in rows}


def _send_due_retries(stale: Any) -> int:
    due = {"state": PhaseState.WAITING, "next_run_at__lte": Now(), "instance__state": InstanceState.RUNNING}
    phases = list(
        PhaseRun.objects.filter(_not_sent_since(stale), **due)
        .exclude(phase_type="wait")
        .values_list("pk", "phase_id", "instance__version_id")[:BATCH]
    )
    items = list(
        ItemRun.objects.filter(_not_sent_since(stale), **due).values_list(
            "pk", "phase_run_id", "phase_run__phase_id", "instance__version_id"
        )[:BATCH]
    )
    return _send(phases, items)


def _resend_unclaimed(stale: Any) -> int:
    """A ready attempt nobody claimed for a while probably lost its broker message; send it again."""
    ready = {"state": PhaseState.READY, "updated_at__lt": stale, "instance__state": InstanceState.RUNNING}
    phases = list(
        PhaseRun.objects.filter(_not_sent_since(stale), **ready).values_list(
            "pk", "phase_id", "instance__version_id"
        )[:BATCH]
    )
    items = list(
        ItemRun.objects.filter(_not_sent_since(stale), **ready).values_list(
            "pk", "phase_run_id", "phase_run__phase_id", "instance__version_id"
        )[:BATCH]
    )
    return _send(phases, items)


def _send(phases: list[tuple[int, str, int]], items: list[tuple[int, int, str, int]]) -> int:
    if not phases and not items:
        return 0
    queues = _queues([*phases, *((pk, phase_id, version) for pk, _, phase_id, version in items)])
    # Marked first: a sweep that overlaps this one (or the next tick) does not send them again.
    _mark_sent(PhaseRun, [pk for pk, _, _ in phases])
    _mark_sent(ItemRun, [pk for pk, *_ in items])
    for pk, _, _ in phases:
        send_to_broker(AttemptRef(pk, queue=queues[pk]))
    for pk, phase_run_id, _, _ in items:
        send_to_broker(AttemptRef(phase_run_id, item_run_id=pk, queue=queues[pk]))
    return len(phases) + len(items)


def _fire_timers() -> int:
    due = PhaseRun.objects.filter(
        state=PhaseState.WAITING,
        phase_type="wait",
        next_run_at__lte=Now(),
        instance__state=InstanceState.RUNNING,
    ).values_list("pk", "instance_id")[:TIMER_BATCH]
    fired = 0
    for pk, instance_id in due:
        try:
            wait_elapsed(instance_id=instance_id, phase_run_id=pk)
            fired += 1
        except Exception:  # one broken row must not stop the others
            logger.exception("timer of phase run #%s (instance %s) could not fire", pk, instance_id)
    return fired


def wait_elapsed(*, instance_id: object, phase_run_id: int) -> None:
    """A timer fired, or a signal's timeout passed."""
    with unit_of_work():
        instance = lock_instance(instance_id)
        runs = load_runs(instance)
        run = runs.by_pk(phase_run_id)
        now = db_now(instance)
        if run is None or run.state != PhaseState.WAITING or not run.next_run_at or run.next_run_at > now:
            return
        advancer = Advancer(instance, actor=TIMER, now=now, runs=runs)
        WAIT.elapsed(advancer, run, advancer.plan.phases[run.phase_id])
        advancer.run()
