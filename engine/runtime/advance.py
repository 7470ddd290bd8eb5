"""The locked-instance context: one pass of moving an instance forward, with its row locked.

Every function here runs inside `unit_of_work()` with the instance row locked (`lock_instance`), so two
phases finishing at once cannot both advance the same successor: the second waits for the lock and then sees
the first one's result. `Advancer` decides *when* phases open, skip or finish (from the scheduler); what a
phase kind does when it opens, completes or fails lives in `engine/runtime/kinds/` (one module per kind).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models.functions import Now

from engine.definition.expressions import Expression, ExpressionError
from engine.definition.plan import PhasePlan, Plan
from engine.models import InstanceState, ItemRun, PhaseRun, PhaseState, WorkflowInstance
from engine.runtime import hotpath, scheduler
from engine.runtime.activation import build_activation
from engine.runtime.actors import Actor
from engine.runtime.dispatch import AttemptRef, dispatch, ready_ref
from engine.runtime.failures import error_record, park
from engine.runtime.journal import apply_transition, record_fields
from engine.runtime.kinds import kind_of
from engine.runtime.plans import plan_for
from engine.runtime.runbook import RunBook

__all__ = ["FAILED", "Advancer", "load_runs", "lock_instance", "park"]

Runs = RunBook
FAILED = object()  # what Advancer.evaluate returns when the expression failed the phase


def lock_instance(instance_id: Any) -> WorkflowInstance:
    """Lock the instance row for the rest of the transaction (PostgreSQL; SQLite serialises writers).

    The row comes with `db_now`, the database's clock read by the same query. Lock order, everywhere: the
    instance row first, then its runs; never the template version (a published plan is immutable).
    """
    if connection.vendor == "postgresql":
        return hotpath.lock_instance(instance_id)  # the same row, without compiling the query each step
    # The definition is only read when the plan is not cached yet; do not decode it on every lock.
    return (
        WorkflowInstance.objects.select_for_update(of=("self",))
        .select_related("version", "template")
        .defer("version__definition")
        .annotate(db_now=Now())
        .get(pk=instance_id)
    )


def load_runs(instance: WorkflowInstance) -> RunBook:
    return RunBook(instance)


class Advancer:
    """One pass of moving an instance forward, with the instance locked and its runs loaded."""

    FAILED = FAILED

    def __init__(
        self,
        instance: WorkflowInstance,
        *,
        actor: Actor,
        now: datetime,
        runs: Runs | None = None,
        keep_local: bool = False,
        keep_queue: str | None = None,
        keep_more: bool = False,
    ):
        self.instance = instance
        # A worker that records a result may keep one newly ready attempt to run itself (see attempts.py),
        # and, with `keep_more` (that queue's backlog is long), the other ones too (`kept_later`).
        self.keep_local, self.keep_queue, self.keep_more = keep_local, keep_queue, keep_more
        self.kept: AttemptRef | None = None
        self.kept_later: list[AttemptRef] = []
        self.plan: Plan = plan_for(instance.version)
        self.runs = runs if runs is not None else load_runs(instance)
        self.actor = actor
        self.now = now
        self.to_dispatch: list[AttemptRef] = []
        # Phases made ready in memory only (kinds that just dispatch): written by flush_dispatch, or, for
        # the one kept for this worker, claimed straight from pending by the caller (`kept_unwritten`).
        self.unwritten: list[str] = []
        self.kept_unwritten = False

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> None:
        """Advance until nothing changes; inline phases (gates, choices) can make more phases ready."""
        while self.instance.state == InstanceState.RUNNING:
            decision = scheduler.next_decision(self.plan, self.runs.snapshots())
            dispatched = {pid for pid in decision.ready if self.dispatched_only(pid)}
            self.runs.prefetch([*decision.skipped, *(pid for pid in decision.ready if pid not in dispatched)])
            for phase_id in decision.skipped:
                apply_transition(self.runs[phase_id], "skip", actor=self.actor, at=self.now)
            if decision.finished:
                apply_transition(self.instance, "complete", actor=self.actor, at=self.now)
                break
            if decision.is_empty:
                break
            for phase_id in decision.ready:
                if phase_id in dispatched:
                    self.ready_unwritten(phase_id)
                    continue
                run = self.runs[phase_id]
                apply_transition(run, "make_ready", actor=self.actor)
                self.open(run, self.plan.phases[phase_id])
            # Only a phase that finished while opening (a gate, a choice, an elapsed wait, an empty map) can
            # make more phases ready; otherwise another pass would find nothing.
            if all(self.runs.state(pid) in scheduler.OPEN_STATES for pid in decision.ready):
                break
        self.flush_dispatch()

    def dispatched_only(self, phase_id: str) -> bool:
        spec = self.plan.phases[phase_id]
        return kind_of(spec).is_dispatched(spec)

    def ready_unwritten(self, phase_id: str) -> None:
        """pending → ready in memory; the row is written by flush_dispatch (or claimed by this worker)."""
        self.runs.changed(phase_id, PhaseState.READY)
        self.unwritten.append(phase_id)
        spec = self.plan.phases[phase_id]
        ref = ready_ref(self.instance, spec, self.runs.pk_of(phase_id), self.runs.round_of(phase_id))
        self.to_dispatch.append(ref)

    def flush_dispatch(self) -> None:
        if self.keep_local and self.kept is None and self.instance.state == InstanceState.RUNNING:
            # Only work for the queue this worker consumes: a phase routed elsewhere (say, to GPU workers)
            # must not run here.
            local = [ref for ref in self.to_dispatch if not ref.countdown and ref.queue == self.keep_queue]
            self.kept = local[0] if local else None
            if self.kept is not None:
                self.to_dispatch.remove(self.kept)
            # Written ready and not sent: if this worker dies before it runs them, the due-work sweep sends
            # them as it sends a ready attempt whose message was lost.
            later = [ref for ref in local[1:] if ref.hint is not None]
            if later and self.keep_more:
                self.kept_later = later
                self.to_dispatch = [ref for ref in self.to_dispatch if ref not in later]
        self.write_unwritten()
        dispatch(self.to_dispatch)
        self.to_dispatch = []

    def write_unwritten(self) -> None:
        kept = self.kept.phase_run_id if self.kept is not None and not self.kept.item_run_id else None
        write = [pid for pid in self.unwritten if self.runs.pk_of(pid) != kept]
        if len(write) < len(self.unwritten):
            self.kept_unwritten = True
        self.unwritten = []
        hotpath.make_ready(PhaseRun, [self.runs.pk_of(pid) for pid in write], now=self.now)
        for phase_id in write:
            record_fields(
                "phase",
                self.runs.audit_fields(phase_id),
                "make_ready",
                source=PhaseState.PENDING,
                target=PhaseState.READY,
                actor=self.actor,
            )

    # --- what the phase kinds do ---------------------------------------------------------------------

    def open(self, run: PhaseRun, spec: PhasePlan) -> None:
        """Start a phase that just became ready, in the way its kind asks for."""
        kind_of(spec).open(self, run, spec)

    def complete_attempt(self, phase_run: PhaseRun, run: PhaseRun | ItemRun, output: dict[str, Any]) -> None:
        """An attempt of `phase_run` (or of its item `run`) succeeded."""
        spec = self.plan.phases[phase_run.phase_id]
        kind_of(spec).complete(self, phase_run, run, spec, output)

    def fail_attempt(
        self, phase_run: PhaseRun, run: PhaseRun | ItemRun, error: dict[str, Any], *, lost: bool = False
    ) -> None:
        """An attempt failed for good (no retry left)."""
        spec = self.plan.phases[phase_run.phase_id]
        kind_of(spec).fail(self, phase_run, run, spec, error, lost=lost)

    def release_items(self, run: PhaseRun, spec: PhasePlan, items: list[ItemRun]) -> None:
        """Make pending items of a map ready, up to its `max_concurrency` (see `kinds/map.py`)."""
        from engine.runtime.kinds.map import release_items

        release_items(self, run, spec, items)

    # --- what every kind uses ------------------------------------------------------------------------

    def activation(self, *expressions: Expression | None, **extra: Any) -> dict[str, Any]:
        """What the expressions see; only the phases they read through `steps.<id>` are loaded."""
        wanted = [pid for e in expressions if e is not None for pid in e.referenced_steps if pid in self.runs]
        self.runs.prefetch(wanted)
        return build_activation(self.instance, [self.runs[pid] for pid in dict.fromkeys(wanted)], **extra)

    def evaluate(
        self, run: PhaseRun, spec: PhasePlan, field: str, expected: type | tuple[type, ...], what: str
    ) -> Any:
        """Evaluate the phase's expression `field`; on an error or a wrong type, fail the phase (`data`).

        Returns FAILED when it failed the phase.
        """
        expression: Expression = getattr(spec, field)
        try:
            value = expression.evaluate(self.activation(expression))
        except ExpressionError as exc:
            self.fail_phase(run, spec, error_record(category="data", message=f"{field}: {exc}", at=self.now))
            return FAILED
        if not isinstance(value, expected):
            message = f"{field} must give {what}, not {type(value).__name__}"
            self.fail_phase(run, spec, error_record(category="data", message=message, at=self.now))
            return FAILED
        return value

    # --- failure -------------------------------------------------------------------------------------

    def fail_phase(
        self,
        run: PhaseRun,
        spec: PhasePlan,
        error: dict[str, Any],
        *,
        dead_letter: bool = True,
        lost: bool = False,
    ) -> None:
        """Fail a phase for good and apply its `on_fail`: route the failure to a handler phase (`catch`,
        `on_fail.goto`), fail or suspend the instance, or carry on."""
        route = spec.route_for(error.get("category", "system")) if spec.route_targets else None
        if route is not None:
            # Handled by the template: no dead letter, and the scheduler runs the handler next.
            error = {**error, "routed_to": route}
            metadata = {"routed_to": route, "category": error.get("category", "system")}
            apply_transition(
                run, "fail", actor=self.actor, error=error, at=self.now, lost=lost, metadata=metadata
            )
            return
        apply_transition(run, "fail", actor=self.actor, error=error, at=self.now, lost=lost)
        if dead_letter:
            park(self.instance, run, error)
        self.stop_for(run, spec, error)

    def stop_for(self, run: PhaseRun, spec: PhasePlan, error: dict[str, Any]) -> None:
        if spec.on_fail == "continue":
            return
        if spec.on_fail == "suspend":
            if self.instance.state == InstanceState.RUNNING:
                apply_transition(
                    self.instance,
                    "suspend",
                    actor=self.actor,
                    at=self.now,
                    reason=f"{run.phase_id} failed: {error['message']}",
                    metadata={"phase_id": run.phase_id, "category": error["category"]},
                )
            return
        if self.instance.state in (InstanceState.RUNNING, InstanceState.SUSPENDED):
            instance_error = {**error, "phase_id": run.phase_id}
            apply_transition(
                self.instance,
                "fail",
                actor=self.actor,
                at=self.now,
                error=instance_error,
                reason=f"{run.phase_id} failed: {error['message']}",
            )
            if self.plan.compensate_on_failure and any(s.compensate for s in self.plan.phases.values()):
                from engine.runtime.compensation import compensations_plan

                compensations_plan(self, reason=f"{run.phase_id} failed: {error['message']}")
