"""Periodic work: send due retries and timers, re-send lost messages, reap attempts whose worker died.

Each sweep starts with one set-based query over an indexed column and then handles a bounded batch, so it
stays cheap however many rows there are.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models.functions import Now

from engine.models import InstanceState, ItemRun, PhaseRun, PhaseState
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer, load_runs, lock_instance
from engine.runtime.clock import db_now
from engine.runtime.dispatch import AttemptRef, send_to_broker
from engine.runtime.failures import error_record
from engine.runtime.journal import unit_of_work
from engine.runtime.kinds.wait import WAIT
from engine.runtime.retries import handle_attempt_failure

logger = logging.getLogger(__name__)
BATCH = 500
# A ready attempt nobody claimed for this long probably lost its broker message; send it again.
RESEND_AFTER = timedelta(seconds=60)
REAPER = Actor.system("reaper")
TIMER = Actor.system("timer")


def due_work_dispatch() -> int:
    """Send attempts whose retry is due, finish elapsed timers, and re-send unclaimed ready attempts."""
    sent = 0
    due_phases = PhaseRun.objects.filter(
        state=PhaseState.WAITING, next_run_at__lte=Now(), instance__state=InstanceState.RUNNING
    ).values_list("pk", "instance_id", "phase_type")[:BATCH]
    for pk, instance_id, phase_type in due_phases:
        if phase_type == "wait":
            wait_elapsed(instance_id=instance_id, phase_run_id=pk)
        else:
            send_to_broker(AttemptRef(pk))
        sent += 1
    due_items = ItemRun.objects.filter(
        state=PhaseState.WAITING, next_run_at__lte=Now(), instance__state=InstanceState.RUNNING
    ).values_list("pk", "phase_run_id")[:BATCH]
    for pk, phase_run_id in due_items:
        send_to_broker(AttemptRef(phase_run_id, item_run_id=pk))
        sent += 1
    return sent + resend_unclaimed()


def resend_unclaimed() -> int:
    stale = db_now() - RESEND_AFTER
    running = {"instance__state": InstanceState.RUNNING, "state": PhaseState.READY, "updated_at__lt": stale}
    phases = list(PhaseRun.objects.filter(**running).values_list("pk", flat=True)[:BATCH])
    items = list(ItemRun.objects.filter(**running).values_list("pk", "phase_run_id")[:BATCH])
    # Touch them so the next sweep does not send the same ones again while they wait in the queue.
    PhaseRun.objects.filter(pk__in=phases).update(updated_at=Now())
    ItemRun.objects.filter(pk__in=[pk for pk, _ in items]).update(updated_at=Now())
    for pk in phases:
        send_to_broker(AttemptRef(pk))
    for pk, phase_run_id in items:
        send_to_broker(AttemptRef(phase_run_id, item_run_id=pk))
    return len(phases) + len(items)


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


def leases_reap() -> int:
    """Turn attempts whose lease expired into `transient` failures ("worker lost") that follow the policy."""
    reaped = 0
    expired_phases = PhaseRun.objects.filter(state=PhaseState.ACTIVE, lease_expires_at__lt=Now()).values_list(
        "pk", "instance_id", "lease_token"
    )[:BATCH]
    for pk, instance_id, token in expired_phases:
        reaped += reap(instance_id=instance_id, model=PhaseRun, pk=pk, token=token)
    expired_items = ItemRun.objects.filter(state=PhaseState.ACTIVE, lease_expires_at__lt=Now()).values_list(
        "pk", "instance_id", "lease_token"
    )[:BATCH]
    for pk, instance_id, token in expired_items:
        reaped += reap(instance_id=instance_id, model=ItemRun, pk=pk, token=token)
    return reaped


def reap(*, instance_id: object, model: type[PhaseRun] | type[ItemRun], pk: int, token: str | None) -> int:
    with unit_of_work():
        instance = lock_instance(instance_id)
        runs = load_runs(instance)
        run: PhaseRun | ItemRun = model.objects.get(pk=pk)
        if isinstance(run, PhaseRun):
            run = runs[run.phase_id]
        now = db_now(instance)
        # Re-check under the lock: the worker may have finished or heartbeated since the query above.
        expired = run.lease_expires_at is not None and run.lease_expires_at < now
        if run.state != PhaseState.ACTIVE or run.lease_token != token or not expired:
            return 0
        phase_run = run if isinstance(run, PhaseRun) else run.phase_run
        phase_run = runs[phase_run.phase_id]
        message = f"worker lost: the lease held by {run.lease_owner or 'a worker'} expired"
        error = error_record(category="transient", message=message, at=now, attempt=run.attempt, lost=True)
        advancer = Advancer(instance, actor=REAPER, now=now, runs=runs)
        handle_attempt_failure(advancer, phase_run, run, error, lost=True)
        advancer.run()
        logger.warning("reaped %s #%s of instance %s: %s", model.__name__, pk, instance_id, message)
        return 1
