"""Sub-workflows: a phase (or a map item) that starts an instance of another template and waits for it.

The parent phase opens, starts its child in the same transaction and stays active. When the child finishes,
`notify_parent` (called by the journal when a child instance reaches a final state) settles the parent once
the child's transaction commits: with the lock order parent before child, the parent is never locked from
inside the child's transaction. A sweep (`subworkflows_reconcile`) settles parents whose notification was lost
(a crash between commit and callback).

- The child's output becomes the phase's output: `{"instance_id", "business_key", "steps": {leaf phase id:
  its output}}`, the leaves being the child's phases that nothing depends on.
- A child that fails or is cancelled fails the phase with category `child`; while the phase's retry policy
  has attempts left (`retry.max_attempts`, counting children), a new child starts at once; then `catch`,
  `on_fail` apply as for any phase.
- Cancelling, suspending or resuming the parent does the same to its unfinished children.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from engine.definition.expressions import ExpressionError
from engine.definition.plan import PhasePlan
from engine.errors import EngineError
from engine.models import InstanceState, ItemRun, PhaseRun, PhaseState, WorkflowInstance
from engine.models.states import FINISHED_INSTANCE_STATES, UNFINISHED_INSTANCE_STATES
from engine.runtime.actors import Actor
from engine.runtime.failures import error_record
from engine.runtime.journal import record
from engine.runtime.plans import plan_for

logger = logging.getLogger(__name__)

ACTOR = Actor.system("subworkflow")


def start_child(adv: Any, phase_run: PhaseRun, spec: PhasePlan, item: ItemRun | None = None) -> bool:
    """Start the child of `phase_run` (or of its map `item`); on a problem fail it and return False."""
    from engine.runtime.kinds import kind_of
    from engine.runtime.start import start_instance

    target: PhaseRun | ItemRun = item if item is not None else phase_run
    depth = adv.instance.depth + 1
    if depth > settings.PHASEGATE["MAX_SUBWORKFLOW_DEPTH"]:
        message = f"subworkflow_too_deep: depth {depth} is past PHASEGATE_MAX_SUBWORKFLOW_DEPTH"
        kind_of(spec).fail(
            adv, phase_run, target, spec, error_record(category="data", message=message, at=adv.now)
        )
        return False
    extra = {"item": item.item, "index": item.index} if item is not None else {}
    try:
        activation = adv.activation(*spec.input.values(), spec.business_key, **extra)
        params = {name: expression.evaluate(activation) for name, expression in spec.input.items()}
        business_key = spec.business_key.evaluate(activation) if spec.business_key else None
        if business_key is not None and not isinstance(business_key, str):
            raise ExpressionError(f"business_key must give text, not {type(business_key).__name__}")
    except ExpressionError as exc:
        error = error_record(category="data", message=f"sub-workflow input: {exc}", at=adv.now)
        kind_of(spec).fail(adv, phase_run, target, spec, error)
        return False
    if business_key is None:
        parent_key = adv.instance.business_key or str(adv.instance.pk)
        business_key = f"{parent_key}/{phase_run.phase_id}" + (f"/{item.index}" if item is not None else "")
    assert spec.template is not None
    try:
        with transaction.atomic():
            child = start_instance(
                spec.template,
                params,
                business_key=business_key[:200],
                version=spec.template_version,
                actor=adv.actor,
                parent_phase_run=phase_run,
                parent_item_run=item,
                depth=depth,
            )
    except EngineError as exc:
        error = error_record(
            category="data", message=f"cannot start {spec.template}: {exc.message}", at=adv.now
        )
        kind_of(spec).fail(adv, phase_run, target, spec, error)
        return False
    record(
        phase_run,
        "subworkflow_start",
        source=phase_run.state,
        target=phase_run.state,
        actor=adv.actor,
        metadata={"child": str(child.pk), "template": spec.template, "item": item.index if item else None},
    )
    if child.parent_phase_run_id != phase_run.pk or child.is_finished:
        # An unfinished instance with this business key existed already (not ours), or ours finished at once.
        notify_parent(child)
    return True


def notify_parent(child: WorkflowInstance) -> None:
    """Settle the parent's phase once the transaction that finished `child` commits."""
    child_id = child.pk
    transaction.on_commit(lambda: child_finished(child_id=child_id))


def child_finished(*, child_id: Any) -> None:
    """The child finished: complete its parent's phase (or item), start another child, or fail it."""
    from engine.runtime.kinds import kind_of
    from engine.runtime.operations import locked

    child = WorkflowInstance.objects.filter(pk=child_id).select_related("parent_phase_run").first()
    if child is None or child.parent_phase_run is None or not child.is_finished:
        return
    with locked(child.parent_phase_run.instance_id, ACTOR) as adv:
        run = adv.runs.by_pk(child.parent_phase_run_id)
        if run is None:
            return
        item = (
            ItemRun.objects.filter(pk=child.parent_item_run_id).first() if child.parent_item_run_id else None
        )
        target: PhaseRun | ItemRun = item if item is not None else run
        if target.state != PhaseState.ACTIVE or _current_child(run, item) != child.pk:
            return  # settled already, cancelled, or a retry has started a newer child
        spec = adv.plan.phases[run.phase_id]
        if child.state == InstanceState.COMPLETED:
            kind_of(spec).complete(adv, run, target, spec, child_output(child))
            return
        reason = (child.error or {}).get("message") or child.state
        message = (
            f"sub-workflow {child.template.key} {child.business_key or child.pk} {child.state}: {reason}"
        )
        started = WorkflowInstance.objects.filter(parent_phase_run=run, parent_item_run=item).count()
        if started < spec.retry.max_attempts and adv.instance.state == InstanceState.RUNNING:
            record(
                run,
                "subworkflow_retry",
                source=run.state,
                target=run.state,
                actor=ACTOR,
                reason=message,
                metadata={"failed_child": str(child.pk), "attempt": started + 1},
            )
            start_child(adv, run, spec, item)
            return
        error = error_record(category="child", message=message, at=adv.now, child=str(child.pk))
        kind_of(spec).fail(adv, run, target, spec, error)


def _current_child(run: PhaseRun, item: ItemRun | None) -> Any:
    return (
        WorkflowInstance.objects.filter(parent_phase_run=run, parent_item_run=item)
        .order_by("-created_at")
        .values_list("pk", flat=True)
        .first()
    )


def child_output(child: WorkflowInstance) -> dict[str, Any]:
    plan = plan_for(child.version)
    leaves = [pid for pid in plan.phases if not plan.successors[pid]]
    outputs = dict(
        PhaseRun.objects.filter(instance=child, phase_id__in=leaves, state=PhaseState.COMPLETED).values_list(
            "phase_id", "output"
        )
    )
    return {
        "instance_id": str(child.pk),
        "business_key": child.business_key or "",
        "steps": {pid: outputs[pid] or {} for pid in leaves if pid in outputs},
    }


def children_cascade(adv: Any, operation: str, reason: str) -> None:
    """Cancel, suspend or resume the parent's unfinished children as the parent was (inside its lock)."""
    from engine.runtime import operations

    wanted = {
        "cancel": UNFINISHED_INSTANCE_STATES,
        "suspend": (InstanceState.RUNNING,),
        "resume": (InstanceState.SUSPENDED,),
    }
    children = WorkflowInstance.objects.filter(
        parent_phase_run__instance_id=adv.instance.pk, state__in=wanted[operation]
    ).values_list("pk", flat=True)
    service = {
        "cancel": operations.cancel_instance,
        "suspend": operations.suspend_instance,
        "resume": operations.resume_instance,
    }[operation]
    for child_id in children:
        service(instance_id=child_id, actor=adv.actor, reason=f"parent {adv.instance.pk}: {reason}")


def subworkflows_reconcile(limit: int = 200) -> int:
    """Settle parents whose child finished but whose notification was lost; returns how many it looked at."""
    stale = list(
        WorkflowInstance.objects.filter(
            state__in=FINISHED_INSTANCE_STATES,
            parent_phase_run__isnull=False,
            parent_phase_run__state=PhaseState.ACTIVE,
        ).values_list("pk", flat=True)[:limit]
    )
    for child_id in stale:
        try:
            child_finished(child_id=child_id)
        except Exception:  # one bad row must not stop the others; it is logged and seen again next tick
            logger.exception("could not settle the parent of sub-workflow %s", child_id)
    return len(stale)
