"""Which phases become ready and which are skipped: a pure function of the plan and the phase states.

The contract's rules: a phase becomes ready when every dependency is finished (completed or skipped) and at
least one completed; a phase whose dependencies were all skipped is skipped too. A `choice` that completed
counts as completed only for the targets it chose, and as skipped for its other targets. A phase that failed
with `on_fail: continue` counts as skipped. A phase whose failure was routed to a handler (`on_fail.goto`,
`catch`) counts as completed for that handler and as skipped for every other successor; when it completes,
its handlers count it as skipped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from engine.definition.plan import Plan

PENDING, READY, ACTIVE, WAITING = "pending", "ready", "active", "waiting"
OPEN_STATES = (READY, ACTIVE, WAITING)
COMPLETED, FAILED, SKIPPED, CANCELLED = "completed", "failed", "skipped", "cancelled"


class Edge(Enum):
    DONE = "done"
    SKIP = "skip"
    WAIT = "wait"


@dataclass(frozen=True)
class PhaseSnapshot:
    """What the scheduler needs to know of one phase run."""

    state: str
    output: Mapping[str, Any] | None = None
    route: str | None = None  # the handler a failure was routed to


@dataclass(frozen=True)
class Decision:
    """What should happen next: phases to make ready, phases to skip, and whether the instance is done."""

    ready: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    finished: bool = False

    @property
    def is_empty(self) -> bool:
        return not self.ready and not self.skipped


def is_settled(plan: Plan, phase_id: str, state: str, route: str | None = None) -> bool:
    """Whether the phase is finished in a way that lets the instance go on."""
    if state in (COMPLETED, SKIPPED):
        return True
    return state == FAILED and (route is not None or plan.phases[phase_id].on_fail == "continue")


def edge(plan: Plan, dependency: str, phase_id: str, snapshot: PhaseSnapshot) -> Edge:
    """How the dependency `dependency` of `phase_id` stands."""
    spec = plan.phases[dependency]
    if snapshot.state == COMPLETED:
        if spec.type == "choice" and phase_id in spec.choice_targets:
            chosen = (snapshot.output or {}).get("chosen") or ()
            return Edge.DONE if phase_id in chosen else Edge.SKIP
        return Edge.SKIP if phase_id in spec.route_targets else Edge.DONE
    if snapshot.state == FAILED and snapshot.route is not None:
        return Edge.DONE if phase_id == snapshot.route else Edge.SKIP
    if is_settled(plan, dependency, snapshot.state):
        return Edge.SKIP
    return Edge.WAIT


def next_decision(plan: Plan, snapshots: Mapping[str, PhaseSnapshot]) -> Decision:
    """Decide from the current phase states. Skips propagate through the whole graph in one call."""
    states = {phase_id: snapshots[phase_id].state for phase_id in plan.phases}
    routes = {phase_id: snapshots[phase_id].route for phase_id in plan.phases}
    ready: list[str] = []
    skipped: list[str] = []
    for phase_id in plan.phases:  # topological order, so a skip is seen by the phases after it
        if states[phase_id] != PENDING:
            continue
        edges = [
            edge(plan, dep, phase_id, PhaseSnapshot(states[dep], snapshots[dep].output, routes[dep]))
            for dep in plan.predecessors[phase_id]
        ]
        if Edge.WAIT in edges:
            continue
        if not edges or Edge.DONE in edges:
            ready.append(phase_id)
            states[phase_id] = READY
        else:
            skipped.append(phase_id)
            states[phase_id] = SKIPPED
    finished = all(is_settled(plan, phase_id, state, routes[phase_id]) for phase_id, state in states.items())
    return Decision(ready=tuple(ready), skipped=tuple(skipped), finished=finished)


def reopen_set(plan: Plan, target: str, states: Mapping[str, str]) -> tuple[str, ...]:
    """The phases a reopen of `target` resets: the target and every phase after it that had started."""
    after = [phase_id for phase_id in plan.downstream(target) if states.get(phase_id, PENDING) != PENDING]
    return (target, *after)


def blocking_failures(plan: Plan, states: Mapping[str, str], routed: Collection[str] = ()) -> tuple[str, ...]:
    """Failed phases that stop the instance: every failure except `on_fail: continue` and those `routed` to
    a handler phase."""
    return tuple(
        phase_id
        for phase_id in plan.phases
        if states.get(phase_id) == FAILED
        and plan.phases[phase_id].on_fail != "continue"
        and phase_id not in routed
    )
