"""Administrator overrides: each needs a custom permission and a reason, and lands in the audit trail.

Phase overrides need `engine.override_phaserun`, instance overrides `engine.override_workflowinstance`.
They bypass roles (that is what they are for) but not the state machines: an override that finds the
phase or instance already moved on (a worker or a person got there first) raises TransitionRejected, and a
lost optimistic-lock race raises django_fsm.ConcurrentTransition; callers show either as a message.
Each records the administrator as the actor, the reason, and what changed (before and after).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django_fsm import can_proceed

from engine import access
from engine.errors import FormInvalid, NotFound, TransitionRejected
from engine.models import DeadLetterState, InstanceState, PhaseRun, PhaseState, WorkflowInstance
from engine.runtime import compensation, operations, previews
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer
from engine.runtime.human import active_human_runs, form_invalid, form_problems, outcome_for
from engine.runtime.journal import apply_transition, record, unit_of_work
from engine.runtime.operations import cancel_items, close_dead_letters, locked, reopen_phases, revive
from engine.runtime.sla import sla_due_change, sla_prime


def _administrator(user: Any, *, phases: bool, what: str) -> Actor:
    if phases:
        access.require_override_phase(user, what)
    else:
        access.require_override_instance(user, what)
    return Actor.of(user)


def _run(adv: Advancer, phase_id: str) -> PhaseRun:
    run = adv.runs.get(phase_id)
    if run is None:
        raise NotFound(f"instance {adv.instance.pk} has no phase {phase_id!r}")
    return run


def _username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _require_instance_alive(adv: Advancer, what: str) -> None:
    if adv.instance.state in (InstanceState.COMPLETED, InstanceState.CANCELLED):
        raise TransitionRejected(
            f"cannot {what}: the instance is {adv.instance.state}", state=adv.instance.state
        )


def _standing(instance_id: Any) -> dict[str, str]:
    """The instance's state and each phase's state and round: what an override may change."""
    states = {
        "instance": WorkflowInstance.objects.filter(pk=instance_id).values_list("state", flat=True).first()
    }
    for phase_id, state, round_ in PhaseRun.objects.filter(instance_id=instance_id).values_list(
        "phase_id", "state", "round"
    ):
        states[phase_id] = state if round_ == 1 else f"{state} (round {round_})"
    return {key: value or "" for key, value in states.items()}


@contextmanager
def _audited(
    instance_id: Any, action: str, *, actor: Actor, reason: str, phase_id: str = ""
) -> Iterator[None]:
    """Run an override that changes states through the engine's operations, and record one override row
    with what it changed (each phase's and the instance's state before and after), in the same transaction.
    """
    with unit_of_work():
        before = _standing(instance_id)
        yield
        after = _standing(instance_id)
        changed = sorted(key for key in after if before.get(key) != after[key])
        instance = WorkflowInstance.objects.get(pk=instance_id)
        record(
            instance,
            f"override_{action}",
            source=before.get("instance", ""),
            target=instance.state,
            actor=actor,
            reason=reason,
            metadata={
                "override": True,
                "action": action,
                "phase_id": phase_id,
                "before": {key: before.get(key, "") for key in changed},
                "after": {key: after[key] for key in changed},
            },
            emit=False,
        )


# --- phases -------------------------------------------------------------------------------------------


def phase_force_complete(
    *,
    instance_id: Any,
    phase_id: str,
    user: Any,
    reason: str,
    outcome: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> PhaseRun:
    """Complete a phase whatever it was doing. A human phase gets an outcome (its first one by default)
    and, when given, form data checked against its schema; the outcome's `on_outcome` reopen applies."""
    actor = _administrator(user, phases=True, what="force-complete a phase")
    reason = access.require_reason(reason)
    with locked(instance_id, actor) as adv:
        run = _run(adv, phase_id)
        spec = adv.plan.phases[phase_id]
        _require_instance_alive(adv, f"force-complete {phase_id}")
        if not can_proceed(run.force_complete):
            raise TransitionRejected(f"cannot force-complete {phase_id}: it is {run.state}", state=run.state)
        chosen = ""
        submitted = None if data is None else dict(data)
        if spec.type == "human":
            chosen = outcome_for(spec, outcome or spec.outcomes[0])
            if submitted is not None:
                problems = form_problems(spec.form, submitted)
                if problems:
                    raise form_invalid(problems, "the data does not fit the phase's form")
        before = {
            "state": run.state,
            "assignee": _username(run.assignee),
            "outcome": run.outcome,
            "data": run.data,
        }
        cancel_items(adv, run, reason)
        close_dead_letters(run, actor=actor, reason=reason, state=DeadLetterState.DISCARDED)
        apply_transition(
            run,
            "force_complete",
            actor=actor,
            reason=reason,
            metadata={
                "override": True,
                "before": before,
                "after": {"state": PhaseState.COMPLETED, "outcome": chosen, "data": submitted},
            },
            output=dict(run.output or {}) if spec.type != "human" else {},
            outcome=chosen,
            data=submitted,
            by=user,
            at=adv.now,
        )
        target = spec.reopen_on.get(chosen) if chosen else None
        if target:
            reopen_phases(adv, target, reason=reason)
        revive(adv, reason)
        adv.run()
        sla_prime(active_human_runs(adv), adv.plan)
        return run


def phase_skip(*, instance_id: Any, phase_id: str, user: Any, reason: str) -> None:
    actor = _administrator(user, phases=True, what="skip a phase")
    reason = access.require_reason(reason)
    with _audited(instance_id, "skip", actor=actor, reason=reason, phase_id=phase_id):
        operations.skip_phase(instance_id=instance_id, phase_id=phase_id, actor=actor, reason=reason)


def phase_reopen(*, instance_id: Any, phase_id: str, user: Any, reason: str) -> list[str]:
    """Reset the phase and everything after it that had started; returns the phases reset."""
    actor = _administrator(user, phases=True, what="reopen a phase")
    reason = access.require_reason(reason)
    with _audited(instance_id, "reopen", actor=actor, reason=reason, phase_id=phase_id):
        return operations.reopen_phase(instance_id=instance_id, phase_id=phase_id, actor=actor, reason=reason)


def phase_retry(*, instance_id: Any, phase_id: str, user: Any, reason: str) -> None:
    actor = _administrator(user, phases=True, what="retry a phase")
    reason = access.require_reason(reason)
    with _audited(instance_id, "retry", actor=actor, reason=reason, phase_id=phase_id):
        operations.retry_failed_phase(instance_id=instance_id, phase_id=phase_id, actor=actor, reason=reason)


def phase_reassign(
    *, instance_id: Any, phase_id: str, user: Any, assignee: Any | None, reason: str
) -> PhaseRun:
    """Hand an open human phase to anyone (or to nobody), roles or not."""
    actor = _administrator(user, phases=True, what="reassign a phase")
    reason = access.require_reason(reason)
    with locked(instance_id, actor) as adv:
        run = _open_human(adv, phase_id, "reassign")
        before = _username(run.assignee)
        run.assignee = assignee
        run.claimed_at = adv.now if assignee is not None else None
        run.save(update_fields=["assignee", "claimed_at", "updated_at"])
        record(
            run,
            "reassign",
            source=run.state,
            target=run.state,
            actor=actor,
            reason=reason,
            metadata={
                "override": True,
                "before": {"assignee": before},
                "after": {"assignee": _username(assignee)},
            },
        )
        return run


def _open_human(adv: Advancer, phase_id: str, what: str) -> PhaseRun:
    run = _run(adv, phase_id)
    if run.phase_type != "human" or run.state != PhaseState.ACTIVE:
        raise TransitionRejected(
            f"cannot {what} {phase_id}: it is a {run.phase_type} phase that is {run.state}", state=run.state
        )
    if adv.instance.state not in (InstanceState.RUNNING, InstanceState.SUSPENDED):
        raise TransitionRejected(f"cannot {what} {phase_id}: the instance is {adv.instance.state}")
    return run


def phase_sla_extend(
    *, instance_id: Any, phase_id: str, user: Any, due_at: datetime, reason: str
) -> PhaseRun:
    """Give an open human phase a new due time; its at-risk time and SLA status follow."""
    actor = _administrator(user, phases=True, what="extend an SLA")
    reason = access.require_reason(reason)
    if due_at.tzinfo is None:
        raise FormInvalid("the due time needs a time zone", errors={"due_at": ["Give a time zone."]})
    with locked(instance_id, actor) as adv:
        run = _open_human(adv, phase_id, "extend the SLA of")
        if due_at <= adv.now:
            raise FormInvalid(
                "the new due time has passed", errors={"due_at": ["Pick a time in the future."]}
            )
        if run.due_at is not None and due_at <= run.due_at:
            raise FormInvalid(
                "extending an SLA cannot bring the due time forward",
                errors={
                    "due_at": [f"Pick a time after the current due time ({run.due_at:%Y-%m-%d %H:%M} UTC)."]
                },
            )
        before = {"due_at": _iso(run.due_at), "sla_status": run.sla_status}
        sla_due_change(run, adv.plan, due_at=due_at, now=adv.now)
        run.save(
            update_fields=[
                "due_at",
                "at_risk_at",
                "sla_activated_at",
                "sla_status",
                "escalated_at",
                "updated_at",
            ]
        )
        record(
            run,
            "sla_extend",
            source=run.state,
            target=run.state,
            actor=actor,
            reason=reason,
            metadata={
                "override": True,
                "before": before,
                "after": {"due_at": _iso(run.due_at), "sla_status": run.sla_status},
            },
        )
        return run


def phase_data_edit(
    *, instance_id: Any, phase_id: str, user: Any, data: Mapping[str, Any], reason: str
) -> PhaseRun:
    """Correct what a person submitted on a completed human phase; the new data must fit the form."""
    actor = _administrator(user, phases=True, what="edit submitted data")
    reason = access.require_reason(reason)
    new = dict(data) if isinstance(data, Mapping) else data
    with locked(instance_id, actor) as adv:
        run = _run(adv, phase_id)
        spec = adv.plan.phases[phase_id]
        if spec.type != "human" or run.state != PhaseState.COMPLETED:
            raise TransitionRejected(
                f"cannot edit the data of {phase_id}: only a completed human phase has submitted data",
                state=run.state,
            )
        problems = form_problems(spec.form, new)
        if problems:
            raise form_invalid(problems, "the data does not fit the phase's form")
        before = run.data
        run.data = new
        run.save(update_fields=["data", "updated_at"])
        record(
            run,
            "data_edit",
            source=run.state,
            target=run.state,
            actor=actor,
            reason=reason,
            metadata={"override": True, "before": {"data": before}, "after": {"data": new}},
        )
        return run


# --- instances ----------------------------------------------------------------------------------------


def instance_suspend(*, instance_id: Any, user: Any, reason: str) -> None:
    _instance_override(
        "suspend", operations.suspend_instance, instance_id=instance_id, user=user, reason=reason
    )


def instance_resume(*, instance_id: Any, user: Any, reason: str) -> None:
    """Run again; the open phases' due times move out by the time the instance was suspended."""
    _instance_override(
        "resume", operations.resume_instance, instance_id=instance_id, user=user, reason=reason
    )


def instance_cancel(*, instance_id: Any, user: Any, reason: str) -> None:
    _instance_override(
        "cancel", operations.cancel_instance, instance_id=instance_id, user=user, reason=reason
    )


def instance_retry(*, instance_id: Any, user: Any, reason: str) -> None:
    _instance_override("retry", operations.retry_instance, instance_id=instance_id, user=user, reason=reason)


def _instance_override(
    action: str, operation: Callable[..., None], *, instance_id: Any, user: Any, reason: str
) -> None:
    """The shape every instance override shares: the administrator's permission, a reason, then the
    operation inside one audited unit (the override row with the states before and after)."""
    actor = _administrator(user, phases=False, what=f"{action} an instance")
    reason = access.require_reason(reason)
    with _audited(instance_id, action, actor=actor, reason=reason):
        operation(instance_id=instance_id, actor=actor, reason=reason)


# Compensating a failed or cancelled instance is an instance override too (same permission, a reason).
instance_compensate = compensation.instance_compensate


# What an override would do, shown before it is confirmed (a read under the same rules).
Preview = previews.Preview
settle_preview = previews.settle_preview
reopen_preview = previews.reopen_preview
