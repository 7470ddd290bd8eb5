"""Compensation (sagas): undo the completed phases of a failed or cancelled instance, last completed first.

When an instance fails and its template compensates on failure (the default), or when an operator asks
(`instance_compensate`, on a failed or cancelled instance, with a reason), every completed phase that names a
`compensate` activity gets a `CompensationRun`, ordered by completion time, newest first. They run one at a
time on workers, each with its own retries (`compensate.retry`); one that fails for good stops the chain
(`compensation.failed` event). Each step is audited on its phase: `compensation_planned`, `compensate_start`,
`compensate_retry`, `compensate_complete`, `compensate_fail`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from engine import access
from engine.activities import ActivityContext, get_activity
from engine.definition.expressions import ExpressionError
from engine.definition.plan import Compensation, Plan
from engine.errors import Conflict, TransitionRejected
from engine.models import CompensationRun, InstanceState, PhaseRun, PhaseState
from engine.runtime.actors import Actor
from engine.runtime.clock import db_now
from engine.runtime.failures import error_from_exception, error_record
from engine.runtime.journal import emit_event, record, unit_of_work
from engine.runtime.limits import time_limit
from engine.runtime.plans import plan_for

logger = logging.getLogger(__name__)

PERMISSION = "engine.override_workflowinstance"
COMPENSABLE_STATES = (InstanceState.FAILED, InstanceState.CANCELLED)
LOST_MESSAGE_AFTER = timedelta(minutes=2)


# --- planning ----------------------------------------------------------------------------------------------


def compensations_plan(adv: Any, *, reason: str) -> list[CompensationRun]:
    """Create the compensation steps of `adv.instance` (locked by the caller) and make the first ready."""
    plan: Plan = adv.plan
    done = [
        run
        for run in adv.runs.values()
        if run.state == PhaseState.COMPLETED and plan.phases[run.phase_id].compensate is not None
    ]
    done.sort(key=lambda run: (run.finished_at or adv.now, run.position), reverse=True)
    steps = []
    for order, run in enumerate(done, start=1):
        compensation = plan.phases[run.phase_id].compensate
        assert compensation is not None
        step = CompensationRun(
            instance=adv.instance,
            phase_run=run,
            phase_id=run.phase_id,
            order=order,
            activity=compensation.activity,
            reason=reason,
        )
        try:
            step.input = _input(adv, compensation)
        except ExpressionError as exc:
            step.error = error_record(category="data", message=f"compensate.input: {exc}", at=adv.now)
        steps.append(step)
    steps = [_saved(step) for step in steps]
    for step in steps:
        _audit(step, "compensation_planned", actor=adv.actor, reason=reason, order=step.order)
    if steps:
        _start_next(adv.instance.pk, actor=adv.actor, now=adv.now)
    return steps


def _saved(step: CompensationRun) -> CompensationRun:
    step.save()
    return step


def _input(adv: Any, compensation: Compensation) -> dict[str, Any]:
    if not compensation.input:
        return {}
    activation = adv.activation(*compensation.input.values())
    return {name: expression.evaluate(activation) for name, expression in compensation.input.items()}


def instance_compensate(*, instance_id: Any, user: Any, reason: str) -> list[CompensationRun]:
    """An operator compensates a failed or cancelled instance that was not compensated yet."""
    from engine.runtime.operations import locked

    access.require_override_instance(user, "compensate")
    reason = access.require_reason(reason)
    actor = Actor.of(user)
    with locked(instance_id, actor) as adv:
        if adv.instance.state not in COMPENSABLE_STATES:
            raise TransitionRejected(
                f"cannot compensate: the instance is {adv.instance.state}; only failed or cancelled ones",
                state=adv.instance.state,
            )
        if CompensationRun.objects.filter(instance_id=instance_id).exists():
            raise Conflict("this instance was compensated already (or is being compensated)")
        steps = compensations_plan(adv, reason=reason)
        if not steps:
            raise TransitionRejected("no completed phase of this instance names a compensate activity")
        return steps


# --- sequencing --------------------------------------------------------------------------------------------


def _start_next(instance_id: Any, *, actor: Actor, now: datetime) -> CompensationRun | None:
    """Make the next pending step ready, unless an earlier one failed for good or is still running."""
    steps = list(CompensationRun.objects.filter(instance_id=instance_id).select_related("phase_run"))
    if any(
        step.state in (PhaseState.FAILED, PhaseState.READY, PhaseState.ACTIVE, PhaseState.WAITING)
        for step in steps
    ):
        return None
    pending = [step for step in steps if step.state == PhaseState.PENDING]
    if not pending:
        return None
    step = min(pending, key=lambda s: s.order)
    if step.error is not None:  # its input could not be computed: it fails without running
        step.fail(error=step.error, at=now)
        step.save()
        _audit(step, "compensate_fail", actor=actor, reason=step.error["message"])
        _emit_failed(step)
        return None
    step.make_ready()
    step.save()
    send(step)
    return step


def send(step: CompensationRun, countdown: float | None = None) -> None:
    """Ask a worker to run the step once the current transaction commits."""
    queue = _compensation(step).queue or settings.CELERY_TASK_DEFAULT_QUEUE
    step_id = step.pk
    transaction.on_commit(lambda: celery_send(step_id, queue=queue, countdown=countdown))


def celery_send(step_id: int, *, queue: str, countdown: float | None) -> None:
    from celery import current_app

    # By name, as `dispatch.celery_send`: the runtime never imports the tasks that call it.
    current_app.send_task("engine.tasks.compensation_run", args=[step_id], queue=queue, countdown=countdown)


def _compensation(step: CompensationRun) -> Compensation:
    compensation = plan_for(step.instance.version).phases[step.phase_id].compensate
    assert compensation is not None
    return compensation


# --- running -----------------------------------------------------------------------------------------------


def compensation_run(*, step_id: int, actor: Actor) -> bool:
    """Claim, run and record one attempt of a compensation step; False when there was nothing to run."""
    claimed = _claim(step_id, actor)
    if claimed is None:
        return False
    step, token, compensation = claimed
    output, error = _execute(step, compensation)
    _record(step_id, token, output=output, error=error, actor=actor)
    return True


def _claim(step_id: int, actor: Actor) -> tuple[CompensationRun, str, Compensation] | None:
    with unit_of_work():
        step = (
            CompensationRun.objects.select_for_update(of=("self",))
            .select_related("instance__version", "phase_run")
            .filter(pk=step_id)
            .first()
        )
        if step is None:
            return None
        now = db_now()
        due = step.state == PhaseState.READY or (
            step.state == PhaseState.WAITING and step.next_run_at is not None and step.next_run_at <= now
        )
        if not due:
            return None  # a duplicate message, or a retry that is not due yet
        compensation = _compensation(step)
        token = str(uuid.uuid4())
        lease = (
            compensation.timeout or timedelta(seconds=settings.PHASEGATE["DEFAULT_LEASE_SECONDS"])
        ) + timedelta(seconds=30)
        step.claim_attempt(token=token, at=now, lease_expires_at=now + lease)
        step.save()
        _audit(step, "compensate_start", actor=actor, attempt=step.attempt)
        return step, token, compensation


def _execute(
    step: CompensationRun, compensation: Compensation
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    instance = step.instance
    try:
        activity = get_activity(step.activity)
    except LookupError as exc:
        return None, error_record(category="system", message=str(exc), at=db_now(), attempt=step.attempt)
    context = ActivityContext(
        instance_id=str(instance.pk),
        business_key=instance.business_key,
        phase_id=step.phase_id,
        attempt=step.attempt,
        idempotency_key=f"{instance.pk}:{step.phase_id}:compensate",
        params=instance.params or {},
    )
    try:
        with time_limit(compensation.timeout):
            result = activity.function(dict(step.input or {}), context)
    except Exception as exc:
        logger.info("compensation of %s, attempt %s, failed: %r", step.phase_id, step.attempt, exc)
        return None, error_from_exception(exc, at=db_now(), attempt=step.attempt)
    if result is None:
        result = {}
    if not isinstance(result, dict):
        message = f"a compensation returns a JSON object, not {type(result).__name__}"
        return None, error_record(category="data", message=message, at=db_now(), attempt=step.attempt)
    return result, None


def _record(step_id: int, token: str, *, output: Any, error: Any, actor: Actor) -> None:
    with unit_of_work():
        step = (
            CompensationRun.objects.select_for_update(of=("self",))
            .select_related("instance__version", "phase_run")
            .get(pk=step_id)
        )
        if step.state != PhaseState.ACTIVE or step.lease_token != token:
            return  # the lease was given away (the sweep thought this worker dead): its result is not ours
        now = db_now()
        if error is None:
            step.complete(output=output, at=now)
            step.save()
            _audit(step, "compensate_complete", actor=actor, attempt=step.attempt)
            _start_next(step.instance_id, actor=actor, now=now)
            return
        _fail_attempt(step, error, actor=actor, now=now)


def _fail_attempt(step: CompensationRun, error: dict[str, Any], *, actor: Actor, now: datetime) -> None:
    policy = _compensation(step).retry
    if policy.should_retry(category=error.get("category", "system"), attempt=step.attempt):
        delay = policy.delay(step.attempt)
        step.wait_retry(error=error, next_run_at=now + delay)
        step.save()
        _audit(step, "compensate_retry", actor=actor, reason=error.get("message", ""), attempt=step.attempt)
        send(step, countdown=delay.total_seconds() or None)
        return
    step.fail(error=error, at=now)
    step.save()
    _audit(step, "compensate_fail", actor=actor, reason=error.get("message", ""), attempt=step.attempt)
    _emit_failed(step)


def _emit_failed(step: CompensationRun) -> None:
    emit_event(
        instance_id=step.instance_id,
        name="compensation.failed",
        payload={"instance_id": str(step.instance_id), "phase_id": step.phase_id, "error": step.error},
    )


def _audit(step: CompensationRun, name: str, *, actor: Actor, reason: str = "", **metadata: Any) -> None:
    run: PhaseRun = step.phase_run
    record(
        run,
        name,
        source=run.state,
        target=run.state,
        actor=actor,
        reason=reason,
        metadata={"compensation_id": step.pk, "activity": step.activity, "state": step.state, **metadata},
    )


# --- the sweep ---------------------------------------------------------------------------------------------


def compensations_due(*, now: datetime | None = None) -> int:
    """Send due retries and ready steps whose message may be lost; expired leases fail as `transient`."""
    now = now or db_now()
    due = CompensationRun.objects.filter(
        Q(state=PhaseState.WAITING, next_run_at__lte=now)
        | Q(state=PhaseState.READY, created_at__lte=now - LOST_MESSAGE_AFTER)
    ).select_related("instance__version")[:500]
    sent = 0
    for step in due:
        celery_send(
            step.pk, queue=_compensation(step).queue or settings.CELERY_TASK_DEFAULT_QUEUE, countdown=None
        )
        sent += 1
    actor = Actor.system("reaper")
    for step_id in CompensationRun.objects.filter(
        state=PhaseState.ACTIVE, lease_expires_at__lt=now
    ).values_list("pk", flat=True)[:500]:
        with unit_of_work():
            step = (
                CompensationRun.objects.select_for_update(of=("self",))
                .select_related("instance__version", "phase_run")
                .get(pk=step_id)
            )
            if step.state == PhaseState.ACTIVE and step.lease_expires_at and step.lease_expires_at < now:
                message = "the worker running this compensation vanished (lease expired)"
                _fail_attempt(
                    step,
                    error_record(category="transient", message=message, at=now, attempt=step.attempt),
                    actor=actor,
                    now=now,
                )
                sent += 1
    return sent
