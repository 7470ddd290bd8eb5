"""What an override will do before it is done: the phases a skip or a force-complete also settles, and
the phases a reopen resets (with whether a finished instance then runs again).

A skip propagates: a phase whose dependencies are all skipped is skipped too, and an instance whose phases
are all settled completes. A force-complete records an outcome (a human phase's first one unless chosen),
and an outcome the phase's `on_outcome` routes back reopens earlier phases, as a person's submit would.
The preview runs the scheduler (a pure function) on the states as they would
be, so it says exactly what the engine will then do, without changing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.definition.plan import Plan
from engine.errors import NotFound
from engine.models import WorkflowInstance
from engine.runtime import scheduler
from engine.runtime.plans import plan_for
from engine.runtime.runbook import RunBook


@dataclass(frozen=True)
class Preview:
    phase_id: str
    action: str  # "skip", "force_complete" or "reopen"
    also_skipped: tuple[str, ...] = ()  # phases that will be skipped with it
    will_start: tuple[str, ...] = ()  # phases that become ready
    instance_completes: bool = False
    names: dict[str, str] = field(default_factory=dict)
    outcome: str = ""  # the outcome a force-complete records ("" for other phase types)
    reopened: tuple[str, ...] = ()  # phases the outcome sends back: reset to run again
    other_outcomes: dict[str, str] = field(default_factory=dict)  # outcome -> the phase it would reopen
    instance_state: str = ""  # the instance's state now (a reopen of a finished one runs it again)

    @property
    def has_consequences(self) -> bool:
        """Whether it settles more than the phase itself: worth a confirmation."""
        return bool(self.also_skipped) or self.instance_completes or bool(self.reopened)

    def label(self, phase_id: str) -> str:
        name = self.names.get(phase_id, "")
        return f"{name} ({phase_id})" if name and name != phase_id else phase_id

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase_id": self.phase_id,
            "action": self.action,
            "also_skipped": list(self.also_skipped),
            "will_start": list(self.will_start),
            "instance_completes": self.instance_completes,
            "outcome": self.outcome,
            "reopened": list(self.reopened),
        }


def _read(
    instance_id: Any, phase_id: str
) -> tuple[WorkflowInstance, Plan, dict[str, scheduler.PhaseSnapshot]]:
    instance = WorkflowInstance.objects.select_related("version").filter(pk=instance_id).first()
    if instance is None:
        raise NotFound(f"no instance {instance_id}")
    plan = plan_for(instance.version)
    if phase_id not in plan.phases:
        raise NotFound(f"instance {instance_id} has no phase {phase_id!r}")
    return instance, plan, dict(RunBook(instance).snapshots())


def reopen_preview(*, instance_id: Any, phase_id: str) -> Preview:
    """The phases a reopen resets, as operations.reopen_phases picks them (scheduler.reopen_set)."""
    instance, plan, snapshots = _read(instance_id, phase_id)
    states = {pid: snapshot.state for pid, snapshot in snapshots.items()}
    return Preview(
        phase_id=phase_id,
        action="reopen",
        reopened=scheduler.reopen_set(plan, phase_id, states),
        names={pid: phase.name for pid, phase in plan.phases.items()},
        instance_state=instance.state,
    )


def settle_preview(*, instance_id: Any, phase_id: str, action: str, outcome: str | None = None) -> Preview:
    instance, plan, snapshots = _read(instance_id, phase_id)
    spec = plan.phases[phase_id]
    chosen = ""
    reopened: tuple[str, ...] = ()
    if action == "skip":
        snapshots[phase_id] = scheduler.PhaseSnapshot(scheduler.SKIPPED)
    else:  # a forced choice chooses nothing: its targets are skipped
        snapshots[phase_id] = scheduler.PhaseSnapshot(scheduler.COMPLETED, output={"chosen": []})
        if spec.type == "human":
            chosen = outcome or spec.outcomes[0]
        target = spec.reopen_on.get(chosen) if chosen else None
        if target:  # as operations.reopen_phases: the target and whatever after it had started
            states = {pid: snapshot.state for pid, snapshot in snapshots.items()}
            reopened = scheduler.reopen_set(plan, target, states)
            snapshots.update({pid: scheduler.PhaseSnapshot(scheduler.PENDING) for pid in reopened})
    decision = scheduler.next_decision(plan, snapshots)
    return Preview(
        phase_id=phase_id,
        action=action,
        also_skipped=decision.skipped,
        will_start=decision.ready,
        instance_completes=decision.finished and not decision.ready,
        names={pid: phase.name for pid, phase in plan.phases.items()},
        outcome=chosen,
        reopened=reopened,
        other_outcomes={o: t for o, t in spec.reopen_on.items() if o != chosen} if action != "skip" else {},
        instance_state=instance.state,
    )
