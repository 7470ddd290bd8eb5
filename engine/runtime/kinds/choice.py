"""A `choice` phase: evaluated inline when it opens; completes with the branch targets it chose."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.definition.expressions import ExpressionError
from engine.definition.plan import PhasePlan
from engine.models import PhaseRun
from engine.runtime.failures import error_record
from engine.runtime.journal import apply_transition
from engine.runtime.kinds.base import Kind

if TYPE_CHECKING:
    from engine.runtime.advance import Advancer


class Choice(Kind):
    name = "choice"

    def open(self, adv: Advancer, run: PhaseRun, spec: PhasePlan) -> None:
        """The first branch whose `when` is true wins, else `otherwise`; the scheduler skips the rest."""
        apply_transition(run, "open", actor=adv.actor, at=adv.now, due_at=None)
        activation = adv.activation(*(branch.when for branch in spec.choices))
        chosen: tuple[str, ...] = spec.otherwise
        try:
            for branch in spec.choices:
                if branch.when.evaluate(activation) is True:
                    chosen = branch.then
                    break
        except ExpressionError as exc:
            adv.fail_phase(run, spec, error_record(category="data", message=f"when: {exc}", at=adv.now))
            return
        apply_transition(run, "complete", actor=adv.actor, output={"chosen": list(chosen)}, at=adv.now)


CHOICE = Choice()
