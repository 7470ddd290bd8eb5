"""One sentence per phase on why it is where it is: for whom it waits, until when, or on what."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from engine.definition.plan import Plan
from engine.models import InstanceState, PhaseRun, PhaseState, WorkflowInstance
from engine.models.states import FINISHED_INSTANCE_STATES, FINISHED_PHASE_STATES
from engine.selectors import PhaseGlance, phase_is_settled


def _names(plan: Plan, phase_ids: Iterable[str]) -> str:
    return ", ".join(plan.phases[p].name or p for p in phase_ids)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def waiting_reason(
    instance: WorkflowInstance,
    plan: Plan,
    run: PhaseRun,
    runs: Mapping[str, PhaseGlance],
    now: datetime,
    *,
    items: Mapping[str, int] | None = None,
) -> str:
    """One sentence on why an open or waiting phase is where it is: for whom, until when, or on what."""
    spec = plan.phases[run.phase_id]
    state = run.state
    if state in FINISHED_PHASE_STATES and state != PhaseState.FAILED:
        return ""
    if instance.state == InstanceState.SUSPENDED and state != PhaseState.PENDING:
        since = _when(instance.suspended_at)
        return (
            f"The instance is suspended (since {since}): nothing moves, and SLA time stops, until it resumes."
        )
    if state == PhaseState.FAILED:
        error = run.error or {}
        if spec.type == "gate":
            action = f" (action {error.get('action')})" if error.get("action") else ""
            return f"The gate failed: {error.get('message', 'check failed')}{action}."
        return f"Failed ({error.get('category', 'system')}): {error.get('message', '')}"
    if instance.state in FINISHED_INSTANCE_STATES:
        return f"The instance is {instance.state}."
    if state == PhaseState.PENDING:
        waiting_for = [
            p for p in plan.predecessors[run.phase_id] if runs[p].state not in FINISHED_PHASE_STATES
        ]
        if waiting_for:
            return f"Waits for {_names(plan, waiting_for)} to finish."
        blocked = [
            p
            for p in plan.predecessors[run.phase_id]
            if runs[p].state == PhaseState.FAILED
            and not phase_is_settled(plan, p, PhaseState.FAILED, (runs[p].error or {}).get("routed_to"))
        ]
        if blocked:
            return (
                f"Cannot start while {_names(plan, blocked)} failed: it starts once "
                f"{'that phase is' if len(blocked) == 1 else 'those phases are'} retried or skipped."
            )
        return "About to start."
    if state == PhaseState.READY:
        return "Queued for a worker."
    if state == PhaseState.WAITING:
        if spec.type == "wait" and spec.signal:
            timeout = f"; gives up at {_when(run.next_run_at)}" if run.next_run_at else ""
            return f"Waits for the signal “{spec.signal}”{timeout}."
        if spec.type == "wait":
            return f"Waits for its timer until {_when(run.next_run_at)}."
        error = run.error or {}
        return (
            f"Retry of attempt {run.attempt + 1} due at {_when(run.next_run_at)} after "
            f"{error.get('category', 'an')} error: {error.get('message', '')}"
        )
    # active
    if spec.type == "human":
        due = f", due {_when(run.due_at)}" if run.due_at else ""
        if run.assignee_id:
            holder = run.assignee.get_username() if run.assignee else "someone"
            # "claimed" would be wrong after an assignment or a reassignment: say who holds it, since when.
            return f"Waits for {holder}, who holds it since {_when(run.claimed_at)}{due}."
        roles = " or ".join(plan.roles.get(role, role) for role in spec.roles)
        return f"Waits for someone with the role {roles} to claim it{due}."
    if spec.type == "map":
        done = sum(n for s, n in (items or {}).items() if s in FINISHED_PHASE_STATES)
        total = sum((items or {}).values())
        return f"{done} of {total} items finished."
    if spec.type == "wait":
        return "Waits for its timer."
    lease = f" (lease until {_when(run.lease_expires_at)})" if run.lease_expires_at else ""
    owner = run.lease_owner or "a worker"
    return f"Attempt {run.attempt} is running on {owner}{lease}."
