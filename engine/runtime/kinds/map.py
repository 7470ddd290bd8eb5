"""A `map` phase: one item run per element of `items`, each with its own attempts, retries and checkpoint.

Items are released up to `max_concurrency` in flight; the phase completes when every item has finished and
at most `tolerated_failure` of them failed, with `{results, failed}` as its output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.definition.plan import PhasePlan
from engine.models import UNFINISHED_PHASE_STATES, ItemRun, PhaseRun, PhaseState
from engine.runtime import scheduler
from engine.runtime.dispatch import AttemptRef
from engine.runtime.failures import error_record, park
from engine.runtime.journal import apply_transition
from engine.runtime.kinds.base import Kind

if TYPE_CHECKING:
    from engine.runtime.advance import Advancer


class Map(Kind):
    name = "map"

    def open(self, adv: Advancer, run: PhaseRun, spec: PhasePlan) -> None:
        """Evaluate `items`, create one item run each, release the first ones."""
        assert spec.items is not None
        apply_transition(run, "open", actor=adv.actor, at=adv.now, due_at=None)
        items = adv.evaluate(run, spec, "items", list, "a list")
        if items is adv.FAILED:
            return
        if not items:
            apply_transition(
                run, "complete", actor=adv.actor, output={"results": [], "failed": []}, at=adv.now
            )
            return
        created = ItemRun.objects.bulk_create(
            ItemRun(phase_run=run, instance=adv.instance, round=run.round, index=index, item=item)
            for index, item in enumerate(items)
        )
        if created[0].pk is None:  # backends that cannot return ids from a bulk insert
            created = list(ItemRun.objects.filter(phase_run=run, round=run.round).order_by("index"))
        release_items(adv, run, spec, created)

    def complete(
        self,
        adv: Advancer,
        phase_run: PhaseRun,
        run: PhaseRun | ItemRun,
        spec: PhasePlan,
        output: dict[str, Any],
    ) -> None:
        apply_transition(run, "complete", actor=adv.actor, output=output, at=adv.now)
        progress(adv, phase_run, spec)

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
        """An item failed for good: park it; the map fails only past its `tolerated_failure`."""
        if not isinstance(run, ItemRun):
            super().fail(adv, phase_run, run, spec, error, lost=lost)
            return
        apply_transition(
            run, "fail", actor=adv.actor, error=error, at=adv.now, lost=lost, reason=error["message"][:500]
        )
        park(adv.instance, phase_run, error, item=run)
        progress(adv, phase_run, spec)


def release_items(adv: Advancer, run: PhaseRun, spec: PhasePlan, items: list[ItemRun]) -> None:
    """Make pending items ready, up to `max_concurrency` in flight."""
    in_flight = sum(1 for item in items if item.state in scheduler.OPEN_STATES)
    room = (spec.max_concurrency or len(items)) - in_flight
    for item in items:
        if room <= 0:
            break
        if item.state == PhaseState.PENDING:
            apply_transition(item, "make_ready", actor=adv.actor)
            if spec.calls_template:
                _start_item_child(adv, run, spec, item)
            else:
                adv.to_dispatch.append(AttemptRef(run.pk, item_run_id=item.pk, queue=spec.queue))
            room -= 1


def _start_item_child(adv: Advancer, run: PhaseRun, spec: PhasePlan, item: ItemRun) -> None:
    """A map of sub-workflows: the item is active, without a lease while its child runs."""
    from engine.runtime.subworkflows import start_child

    apply_transition(
        item,
        "claim_attempt",
        actor=adv.actor,
        token="subworkflow",
        owner="subworkflow",
        at=adv.now,
        lease_expires_at=None,
    )
    start_child(adv, run, spec, item)


def progress(adv: Advancer, phase_run: PhaseRun, spec: PhasePlan) -> None:
    """After an item finished: release more items, or complete or fail the map phase."""
    items = list(ItemRun.objects.filter(phase_run=phase_run, round=phase_run.round).order_by("index"))
    if any(item.state in UNFINISHED_PHASE_STATES for item in items):
        release_items(adv, phase_run, spec, items)
        return
    failed = [item.index for item in items if item.state != PhaseState.COMPLETED]
    results = [item.output if item.state == PhaseState.COMPLETED else None for item in items]
    output = {"results": results, "failed": failed}
    if len(failed) <= spec.tolerated_failure * len(items):
        apply_transition(phase_run, "complete", actor=adv.actor, output=output, at=adv.now)
        return
    first_error = next((item.error for item in items if item.error), None) or {}
    message = f"{len(failed)} of {len(items)} items failed; at most {spec.tolerated_failure:.0%} may fail"
    error = error_record(category=first_error.get("category", "system"), message=message, at=adv.now)
    phase_run.output = output
    adv.fail_phase(phase_run, spec, error, dead_letter=False)


MAP = Map()
