"""What every phase kind can be asked to do, with the behaviour most kinds share."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.definition.plan import PhasePlan
from engine.models import ItemRun, PhaseRun
from engine.runtime.journal import apply_transition

if TYPE_CHECKING:
    from engine.runtime.advance import Advancer


class Kind:
    """The behaviour of one phase kind. Every method runs inside the caller's locked unit of work."""

    name = ""

    def is_dispatched(self, spec: PhasePlan) -> bool:
        """Whether opening the phase is only "send its first attempt to a worker" (no row needs reading).

        The context then writes such phases as ready with one statement for all of them, or claims one
        for this worker straight from pending (see `Advancer.flush_dispatch`), and never calls `open`.
        """
        return False

    def open(self, adv: Advancer, run: PhaseRun, spec: PhasePlan) -> None:
        """The phase just became ready (`make_ready` is applied): start it the way the kind asks for."""
        raise NotImplementedError

    def complete(
        self,
        adv: Advancer,
        phase_run: PhaseRun,
        run: PhaseRun | ItemRun,
        spec: PhasePlan,
        output: dict[str, Any],
    ) -> None:
        """An attempt of the phase (or of one of its items, `run`) succeeded with `output`."""
        apply_transition(run, "complete", actor=adv.actor, output=output, at=adv.now)

    def fail(
        self,
        adv: Advancer,
        phase_run: PhaseRun,
        run: PhaseRun | ItemRun,
        spec: PhasePlan,
        error: dict[str, Any],
        *,
        lost: bool = False,
    ) -> None:
        """An attempt failed for good (its retry policy is spent): fail the phase and apply `on_fail`."""
        adv.fail_phase(phase_run, spec, error, lost=lost)
