"""A `subworkflow` phase: starts an instance of another template and waits for it (see subworkflows.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.definition.plan import PhasePlan
from engine.models import PhaseRun
from engine.runtime.journal import apply_transition
from engine.runtime.kinds.base import Kind

if TYPE_CHECKING:
    from engine.runtime.advance import Advancer


class Subworkflow(Kind):
    name = "subworkflow"

    def open(self, adv: Advancer, run: PhaseRun, spec: PhasePlan) -> None:
        from engine.runtime.subworkflows import start_child

        apply_transition(run, "open", actor=adv.actor, at=adv.now, due_at=None)
        start_child(adv, run, spec)


SUBWORKFLOW = Subworkflow()
