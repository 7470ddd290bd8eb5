"""A `map` phase: release items up to `max_concurrency`, and finish when every item has finished."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.definition.plan import PhasePlan
from engine.models import ItemRun, PhaseRun, PhaseState
from engine.runtime.failures import error_record
from engine.runtime.journal import apply_transition

if TYPE_CHECKING:
    from engine.runtime.advance import Advancer

OPEN = (PhaseState.PENDING, PhaseState.READY, PhaseState.ACTIVE, PhaseState.WAITING)


def map_progress(advancer: Advancer, phase_run: PhaseRun, spec: PhasePlan) -> None:
    """After an item finished: release more items, or complete or fail the map phase."""
    items = list(ItemRun.objects.filter(phase_run=phase_run, round=phase_run.round).order_by("index"))
    if any(item.state in OPEN for item in items):
        advancer.release_items(phase_run, spec, items)
        return
    failed = [item.index for item in items if item.state != PhaseState.COMPLETED]
    results = [item.output if item.state == PhaseState.COMPLETED else None for item in items]
    output = {"results": results, "failed": failed}
    if len(failed) <= spec.tolerated_failure * len(items):
        apply_transition(phase_run, "complete", actor=advancer.actor, output=output, at=advancer.now)
        return
    first_error = next((item.error for item in items if item.error), None) or {}
    message = f"{len(failed)} of {len(items)} items failed; at most {spec.tolerated_failure:.0%} may fail"
    error = error_record(category=first_error.get("category", "system"), message=message, at=advancer.now)
    phase_run.output = output
    advancer.fail_phase(phase_run, spec, error, dead_letter=False)
