"""A `human` phase: opens for people holding its roles, with an SLA due time; completes with an outcome.

Who may act and the form checks live in `engine/runtime/human.py`; this module owns the state changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine.definition.plan import PhasePlan, Plan
from engine.models import PhaseRun
from engine.runtime.actors import Actor
from engine.runtime.journal import apply_transition
from engine.runtime.kinds.base import Kind

if TYPE_CHECKING:
    from engine.runtime.advance import Advancer


class Human(Kind):
    name = "human"

    def open(self, adv: Advancer, run: PhaseRun, spec: PhasePlan) -> None:
        apply_transition(run, "open", actor=adv.actor, at=adv.now, due_at=sla_due(adv.plan, spec, adv.now))

    def submit(
        self,
        adv: Advancer,
        run: PhaseRun,
        spec: PhasePlan,
        *,
        outcome: str,
        data: dict[str, Any],
        user: Any,
        actor: Actor,
        reason: str = "",
    ) -> None:
        """A person completed the phase; an outcome named in `on_outcome` sends the work back (reopens)."""
        from engine.runtime.operations import reopen_phases

        apply_transition(
            run,
            "submit",
            actor=actor,
            reason=reason,
            metadata={
                "outcome": outcome,
                "data": data,
                "due_at": run.due_at.isoformat() if run.due_at else None,
            },
            outcome=outcome,
            data=data,
            by=user,
            at=adv.now,
        )
        target = spec.reopen_on.get(outcome)
        if target:
            reopen_phases(adv, target, reason=reason or f"{run.phase_id}: outcome {outcome}")


def sla_due(plan: Plan, spec: PhasePlan, now: datetime) -> datetime | None:
    """When the phase's SLA falls due, counted on the template's business calendar."""
    if spec.sla is None:
        return None
    return plan.calendar.due(now, spec.sla.duration, business_days=spec.sla.business_days)


HUMAN = Human()
