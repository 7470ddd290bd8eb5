"""Operations on running instances, each with an actor and a reason, each in the audit trail.

Each operation locks the instance, re-reads the state after the lock, and refuses with TransitionRejected
when the state does not allow it, so two people acting at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import can_proceed

from engine.errors import Conflict, NotFound, TransitionRejected
from engine.models import (
    DeadLetter,
    DeadLetterState,
    InstanceState,
    ItemRun,
    PhaseRun,
    PhaseState,
    WorkflowInstance,
)
from engine.models.states import UNFINISHED_INSTANCE_STATES, UNFINISHED_PHASE_STATES
from engine.runtime import scheduler
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer, lock_instance
from engine.runtime.clock import db_now
from engine.runtime.dispatch import AttemptRef, dispatch
from engine.runtime.journal import apply_transition, unit_of_work
from engine.runtime.sla import sla_refresh


@contextmanager
def locked(instance_id: Any, actor: Actor) -> Iterator[Advancer]:
    """A unit of work with the instance locked and an Advancer ready; advances at the end."""
    with unit_of_work():
        try:
            instance = lock_instance(instance_id)
        except Exception as exc:
            if exc.__class__.__name__ == "DoesNotExist":
                raise NotFound(f"no instance {instance_id}") from None
            raise
        advancer = Advancer(instance, actor=actor, now=db_now(instance))
        yield advancer
        advancer.run()


def _require(obj: Any, transition: str, what: str) -> None:
    if not can_proceed(getattr(obj, transition)):
        raise TransitionRejected(f"cannot {what}: {obj} is {obj.state}", state=obj.state, action=transition)


def _phase(advancer: Advancer, phase_id: str) -> PhaseRun:
    try:
        return advancer.runs[phase_id]
    except KeyError:
        raise NotFound(f"instance has no phase {phase_id!r}") from None


# --- instance operations --------------------------------------------------------------------------------


def cancel_instance(*, instance_id: Any, actor: Actor, reason: str) -> None:
    with locked(instance_id, actor) as adv:
        _require(adv.instance, "cancel", "cancel the instance")
        apply_transition(adv.instance, "cancel", actor=actor, reason=reason, at=adv.now)
        for run in adv.runs.values():
            if run.state in UNFINISHED_PHASE_STATES:
                cancel_items(adv, run, reason)
                apply_transition(run, "cancel", actor=actor, reason=reason, at=adv.now)
        children_cascade(adv, "cancel", reason)


def cancel_items(adv: Advancer, run: PhaseRun, reason: str) -> None:
    if run.phase_type != "map":
        return
    for item in ItemRun.objects.filter(phase_run=run, round=run.round, state__in=UNFINISHED_PHASE_STATES):
        apply_transition(item, "cancel", actor=adv.actor, reason=reason, at=adv.now)


def suspend_instance(*, instance_id: Any, actor: Actor, reason: str) -> None:
    """Stop dispatching; attempts already running finish, nothing new starts until resume."""
    with locked(instance_id, actor) as adv:
        _require(adv.instance, "suspend", "suspend the instance")
        apply_transition(adv.instance, "suspend", actor=actor, reason=reason, at=adv.now)
        children_cascade(adv, "suspend", reason)


def resume_instance(*, instance_id: Any, actor: Actor, reason: str) -> None:
    """Run again: phases whose failure suspended the instance are retried, ready attempts are sent again,
    and open phases' due times move out by the time spent suspended."""
    with locked(instance_id, actor) as adv:
        _require(adv.instance, "resume", "resume the instance")
        apply_transition(adv.instance, "resume", actor=actor, reason=reason, at=adv.now)
        children_cascade(adv, "resume", reason)
        for run in adv.runs.values():
            if run.state == PhaseState.FAILED and adv.plan.phases[run.phase_id].on_fail == "suspend":
                _retry_phase(adv, run, reason)
        _redispatch_ready(adv)
    sla_refresh(instance_id=instance_id, now=timezone.now())


def retry_instance(*, instance_id: Any, actor: Actor, reason: str) -> None:
    """A failed instance runs its failed phases again."""
    with locked(instance_id, actor) as adv:
        _require(adv.instance, "retry", "retry the instance")
        rerun_instance(adv, reason)
        for phase_id in scheduler.blocking_failures(adv.plan, adv.runs.states(), adv.runs.routed()):
            _retry_phase(adv, adv.runs[phase_id], reason)
        _redispatch_ready(adv)


def rerun_instance(
    adv: Advancer, reason: str, *, transition: str = "retry", metadata: dict[str, Any] | None = None
) -> None:
    """A failed instance runs again (`retry`: failed → running; `reopen`: completed → running): a 409
    when, since it finished, another instance started with its business key and is still unfinished (the
    key is one unfinished instance's)."""
    try:
        with transaction.atomic():  # a savepoint: the constraint may refuse the save
            apply_transition(
                adv.instance, transition, actor=adv.actor, reason=reason, at=adv.now, metadata=metadata
            )
    except IntegrityError:
        instance = adv.instance
        holder = (
            WorkflowInstance.objects.filter(
                template_id=instance.template_id,
                business_key=instance.business_key,
                state__in=UNFINISHED_INSTANCE_STATES,
            )
            .exclude(pk=instance.pk)
            .values_list("pk", flat=True)
            .first()
        )
        raise Conflict(
            f"cannot run {instance} again: instance {holder} holds its business key "
            f"{instance.business_key!r} and is not finished",
            business_key=instance.business_key,
            holder=str(holder) if holder else None,
        ) from None


def _redispatch_ready(adv: Advancer) -> None:
    """Attempts made ready while the instance could not run were refused by workers; send them again."""
    refs = [
        AttemptRef(run.pk, queue=adv.plan.phases[run.phase_id].queue)
        for run in adv.runs.values()
        if run.state == PhaseState.READY
    ]
    items = ItemRun.objects.filter(instance=adv.instance, state=PhaseState.READY).values_list(
        "pk", "phase_run_id"
    )
    refs += [AttemptRef(phase_run_id, item_run_id=pk) for pk, phase_run_id in items]
    dispatch(refs)


def _retry_phase(adv: Advancer, run: PhaseRun, reason: str) -> None:
    spec = adv.plan.phases[run.phase_id]
    close_dead_letters(run, actor=adv.actor, reason=reason)
    if spec.type == "map" and ItemRun.objects.filter(phase_run=run, round=run.round).exists():
        # Only the items that failed run again; the ones that succeeded keep their output.
        apply_transition(run, "retry", actor=adv.actor, reason=reason)
        apply_transition(run, "open", actor=adv.actor, at=adv.now, due_at=None)
        items = list(ItemRun.objects.filter(phase_run=run, round=run.round).order_by("index"))
        for item in items:
            if item.state == PhaseState.FAILED:
                apply_transition(item, "requeue", actor=adv.actor, reason=reason)
        adv.release_items(run, spec, items)
        return
    apply_transition(run, "retry", actor=adv.actor, reason=reason)
    adv.open(run, spec)


def close_dead_letters(
    run: PhaseRun, *, actor: Actor, reason: str, state: str = DeadLetterState.RETRIED
) -> None:
    """Resolve the phase's open dead letters: retried when the work runs again, discarded when it is not."""
    DeadLetter.objects.filter(phase_run=run, state=DeadLetterState.OPEN).update(
        state=state,
        resolved_at=timezone.now(),
        resolved_by=actor.user,
        resolution_reason=reason,
    )


# --- phase operations -----------------------------------------------------------------------------------


def retry_failed_phase(*, instance_id: Any, phase_id: str, actor: Actor, reason: str) -> None:
    """Run a failed phase again; a failed instance goes back to running."""
    with locked(instance_id, actor) as adv:
        run = _phase(adv, phase_id)
        _require(run, "retry", f"retry {phase_id}")
        revive(adv, reason, excluding=phase_id)
        _retry_phase(adv, run, reason)


def skip_phase(*, instance_id: Any, phase_id: str, actor: Actor, reason: str) -> None:
    """Skip a phase; the phases after it run as if it had been skipped by a choice."""
    with locked(instance_id, actor) as adv:
        run = _phase(adv, phase_id)
        _require(run, "skip", f"skip {phase_id}")
        if adv.instance.is_finished and adv.instance.state != InstanceState.FAILED:
            raise TransitionRejected(f"the instance is {adv.instance.state}")
        cancel_items(adv, run, reason)
        close_dead_letters(run, actor=actor, reason=reason)
        apply_transition(run, "skip", actor=actor, reason=reason, at=adv.now)
        revive(adv, reason)


def revive(adv: Advancer, reason: str, *, excluding: str | None = None) -> None:
    """A failed instance runs again once no failure stops it (but `excluding`, about to run again)."""
    if adv.instance.state != InstanceState.FAILED:
        return
    blocking = set(scheduler.blocking_failures(adv.plan, adv.runs.states(), adv.runs.routed())) - {excluding}
    if not blocking:
        rerun_instance(adv, reason)


def reopen_phases(adv: Advancer, target: str, *, reason: str) -> list[str]:
    """Reset `target` and every phase after it that had started; they run again. History stays."""
    states = adv.runs.states()
    reset = scheduler.reopen_set(adv.plan, target, states)
    for phase_id in reversed(reset):  # downstream first, so nothing is made ready against a stale upstream
        run = adv.runs[phase_id]
        if run.state == PhaseState.PENDING:
            continue
        cancel_items(adv, run, reason)
        apply_transition(run, "reopen", actor=adv.actor, reason=reason, metadata={"reopened_by": target})
    return list(reset)


def reopen_phase(*, instance_id: Any, phase_id: str, actor: Actor, reason: str) -> list[str]:
    with locked(instance_id, actor) as adv:
        run = _phase(adv, phase_id)
        reopenable = (
            InstanceState.RUNNING,
            InstanceState.SUSPENDED,
            InstanceState.FAILED,
            InstanceState.COMPLETED,
        )
        if adv.instance.state not in reopenable:
            raise TransitionRejected(f"cannot reopen {phase_id}: the instance is {adv.instance.state}")
        if run.state == PhaseState.PENDING:
            raise TransitionRejected(f"cannot reopen {phase_id}: it has not started")
        if adv.instance.state == InstanceState.COMPLETED:
            rerun_instance(adv, reason, transition="reopen")  # a completed instance runs again from there
        reset = reopen_phases(adv, phase_id, reason=reason)
        if adv.instance.state == InstanceState.FAILED and not scheduler.blocking_failures(
            adv.plan, adv.runs.states(), adv.runs.routed()
        ):
            rerun_instance(adv, reason)
        return reset


# --- dead letters ---------------------------------------------------------------------------------------


def retry_dead_letter(*, dead_letter_id: int, actor: Actor, reason: str) -> None:
    letter = DeadLetter.objects.filter(pk=dead_letter_id).first()
    if letter is None:
        raise NotFound(f"no dead letter {dead_letter_id}")
    with locked(letter.instance_id, actor) as adv:
        letter = DeadLetter.objects.select_for_update().get(pk=dead_letter_id)
        if letter.state != DeadLetterState.OPEN:
            raise TransitionRejected(f"dead letter {dead_letter_id} is already {letter.state}")
        run = adv.runs[letter.phase_id]
        if letter.item_run_id is None:
            _require(run, "retry", f"retry {letter.phase_id}")
            revive(adv, reason, excluding=letter.phase_id)
            _retry_phase(adv, run, reason)
        else:
            _retry_item(adv, run, letter.item_run_id, reason)
        _resolve(letter, DeadLetterState.RETRIED, actor=actor, reason=reason)


def _retry_item(adv: Advancer, run: PhaseRun, item_run_id: int, reason: str) -> None:
    """Run a failed map item again. A map that failed runs again; one that completed (the item's failure
    was tolerated) collects again and completes once more with the item's result; a completed instance is
    reopened for it. Each step is in the audit trail."""
    item = ItemRun.objects.get(pk=item_run_id)
    _require(item, "requeue", f"retry item {item.index} of {run.phase_id}")
    if item.round != run.round:
        raise TransitionRejected(f"item {item.index} belongs to an earlier round of {run.phase_id}")
    spec = adv.plan.phases[run.phase_id]
    replayed = {"phase_id": run.phase_id, "item": item.index}
    if run.state == PhaseState.FAILED:
        revive(adv, reason, excluding=run.phase_id)
        apply_transition(run, "retry", actor=adv.actor, reason=reason)
        apply_transition(run, "open", actor=adv.actor, at=adv.now, due_at=None)
    elif run.state == PhaseState.COMPLETED:
        if adv.instance.state == InstanceState.COMPLETED:
            rerun_instance(adv, reason, transition="reopen", metadata=replayed)
        if adv.instance.state not in (InstanceState.RUNNING, InstanceState.SUSPENDED):
            raise TransitionRejected(
                f"cannot retry item {item.index} of {run.phase_id}: the instance is {adv.instance.state}",
                state=adv.instance.state,
            )
        apply_transition(run, "replay_items", actor=adv.actor, reason=reason, metadata=replayed)
    apply_transition(item, "requeue", actor=adv.actor, reason=reason)
    items = list(ItemRun.objects.filter(phase_run=run, round=run.round).order_by("index"))
    adv.release_items(run, spec, items)


def discard_dead_letter(*, dead_letter_id: int, actor: Actor, reason: str) -> None:
    with unit_of_work():
        letter = DeadLetter.objects.select_for_update().filter(pk=dead_letter_id).first()
        if letter is None:
            raise NotFound(f"no dead letter {dead_letter_id}")
        if letter.state != DeadLetterState.OPEN:
            raise TransitionRejected(f"dead letter {dead_letter_id} is already {letter.state}")
        _resolve(letter, DeadLetterState.DISCARDED, actor=actor, reason=reason)


def _resolve(letter: DeadLetter, state: str, *, actor: Actor, reason: str) -> None:
    letter.state, letter.resolved_at, letter.resolved_by = state, timezone.now(), actor.user
    letter.resolution_reason = reason
    letter.save(update_fields=["state", "resolved_at", "resolved_by", "resolution_reason"])


def children_cascade(adv: Advancer, operation: str, reason: str) -> None:
    """Sub-workflows follow their parent's cancel, suspend and resume."""
    from engine.runtime.subworkflows import children_cascade as cascade

    cascade(adv, operation, reason)
