"""Moving an instance forward: apply the scheduler's decisions and open the phases that became ready.

Every function here runs inside `unit_of_work()` with the instance row locked (`lock_instance`), so two
phases finishing at once cannot both advance the same successor: the second waits for the lock and then sees
the first one's result.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models.functions import Now

from engine.definition.expressions import Expression, ExpressionError
from engine.definition.plan import PhasePlan, Plan
from engine.models import (
    DeadLetter,
    GateResult,
    InstanceState,
    ItemRun,
    PhaseRun,
    PhaseState,
    WorkflowInstance,
)
from engine.runtime import scheduler
from engine.runtime.activation import build_activation
from engine.runtime.actors import Actor
from engine.runtime.dispatch import AttemptRef, dispatch
from engine.runtime.failures import error_record
from engine.runtime.journal import apply_transition, emit_event
from engine.runtime.plans import plan_for
from engine.runtime.runbook import RunBook

Runs = RunBook
FAILED = object()  # what Advancer.evaluate returns when the expression failed the phase


def lock_instance(instance_id: Any) -> WorkflowInstance:
    """Lock the instance row for the rest of the transaction (PostgreSQL; SQLite serialises writers).

    The row comes with `db_now`, the database's clock read by the same query.
    """
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

    def __init__(
        self,
        instance: WorkflowInstance,
        *,
        actor: Actor,
        now: datetime,
        runs: Runs | None = None,
        keep_local: bool = False,
        keep_queue: str | None = None,
    ):
        self.instance = instance
        # A worker that records a result may keep one newly ready attempt to run itself (see attempts.py).
        self.keep_local, self.keep_queue = keep_local, keep_queue
        self.kept: AttemptRef | None = None
        self.plan: Plan = plan_for(instance.version)
        self.runs = runs if runs is not None else load_runs(instance)
        self.actor = actor
        self.now = now
        self.to_dispatch: list[AttemptRef] = []

    # --- the loop ------------------------------------------------------------------------------------

    def run(self) -> None:
        """Advance until nothing changes; inline phases (gates, choices) can make more phases ready."""
        while self.instance.state == InstanceState.RUNNING:
            decision = scheduler.next_decision(self.plan, self.runs.snapshots())
            self.runs.prefetch([*decision.skipped, *decision.ready])
            for phase_id in decision.skipped:
                apply_transition(self.runs[phase_id], "skip", actor=self.actor, at=self.now)
            if decision.finished:
                apply_transition(self.instance, "complete", actor=self.actor, at=self.now)
                break
            if decision.is_empty:
                break
            for phase_id in decision.ready:
                run = self.runs[phase_id]
                apply_transition(run, "make_ready", actor=self.actor)
                self.open(run, self.plan.phases[phase_id])
            # Only a phase that finished while opening (a gate, a choice, an elapsed wait, an empty map) can
            # make more phases ready; otherwise another pass would find nothing.
            if all(self.runs.state(pid) in scheduler.OPEN_STATES for pid in decision.ready):
                break
        self.flush_dispatch()

    def flush_dispatch(self) -> None:
        if self.keep_local and self.kept is None and self.instance.state == InstanceState.RUNNING:
            # Only work for the queue this worker consumes: a phase routed elsewhere (say, to GPU workers)
            # must not run here.
            local = (ref for ref in self.to_dispatch if not ref.countdown and ref.queue == self.keep_queue)
            self.kept = next(local, None)
            if self.kept is not None:
                self.to_dispatch.remove(self.kept)
        dispatch(self.to_dispatch)
        self.to_dispatch = []

    def open(self, run: PhaseRun, spec: PhasePlan) -> None:
        """Start a phase that just became ready, in the way its type asks for."""
        if spec.is_automated and spec.type != "map":
            self.to_dispatch.append(AttemptRef(run.pk, queue=spec.queue))
        elif spec.type == "human":
            apply_transition(run, "open", actor=self.actor, at=self.now, due_at=self.sla_due(spec))
        elif spec.type == "gate":
            self.evaluate_gate(run, spec)
        elif spec.type == "choice":
            self.evaluate_choice(run, spec)
        elif spec.type == "map":
            self.start_map(run, spec)
        elif spec.type == "wait":
            self.start_wait(run, spec)

    def sla_due(self, spec: PhasePlan) -> datetime | None:
        if spec.sla is None:
            return None
        return self.plan.calendar.due(self.now, spec.sla.duration, business_days=spec.sla.business_days)

    def activation(self, *expressions: Expression | None, **extra: Any) -> dict[str, Any]:
        """What the expressions see; only the phases they read through `steps.<id>` are loaded."""
        wanted = [pid for e in expressions if e is not None for pid in e.referenced_steps if pid in self.runs]
        self.runs.prefetch(wanted)
        return build_activation(self.instance, [self.runs[pid] for pid in dict.fromkeys(wanted)], **extra)

    # --- inline phases -------------------------------------------------------------------------------

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

    def evaluate_gate(self, run: PhaseRun, spec: PhasePlan) -> None:
        apply_transition(run, "open", actor=self.actor, at=self.now, due_at=None)
        passed = self.evaluate(run, spec, "check", bool, "true or false")
        if passed is not FAILED:
            self.record_gate(run, spec, passed=passed, values=self.gate_values(spec))

    def gate_values(self, spec: PhasePlan) -> dict[str, Any]:
        """The values a CEL gate looked at, for the record."""
        assert spec.check is not None
        values: dict[str, Any] = {}
        if "params" in spec.check.referenced_roots:
            values["params"] = self.instance.params
        for phase_id in spec.check.referenced_steps:
            if phase_id in self.runs:
                values[f"steps.{phase_id}.output"] = self.runs[phase_id].output
        return values

    def record_gate(
        self,
        run: PhaseRun,
        spec: PhasePlan,
        *,
        passed: bool,
        values: dict[str, Any],
        reason: str = "",
        action: str = "",
    ) -> None:
        """Store the evaluation and complete the gate, or fail it and stop the instance."""
        reason = reason or ("check passed" if passed else spec.message or "check failed")
        action = "" if passed else (action or spec.action)
        GateResult.objects.create(
            instance=self.instance,
            phase_run=run,
            round=run.round,
            passed=passed,
            reason=reason,
            action=action,
            values=values,
        )
        output = {"passed": passed, "reason": reason, "action": action}
        if passed:
            apply_transition(run, "complete", actor=self.actor, output=output, at=self.now)
            return
        emit_event(
            instance_id=self.instance.pk,
            name="gate.failed",
            payload={"instance_id": str(self.instance.pk), "phase_id": run.phase_id, **output},
        )
        error = error_record(category="gate", message=reason, at=self.now, action=action)
        run.output = output
        self.fail_phase(run, spec, error, dead_letter=False)

    def evaluate_choice(self, run: PhaseRun, spec: PhasePlan) -> None:
        apply_transition(run, "open", actor=self.actor, at=self.now, due_at=None)
        activation = self.activation(*(branch.when for branch in spec.choices))
        chosen: tuple[str, ...] = spec.otherwise
        try:
            for branch in spec.choices:
                if branch.when.evaluate(activation) is True:
                    chosen = branch.then
                    break
        except ExpressionError as exc:
            self.fail_phase(run, spec, error_record(category="data", message=f"when: {exc}", at=self.now))
            return
        apply_transition(run, "complete", actor=self.actor, output={"chosen": list(chosen)}, at=self.now)

    def start_wait(self, run: PhaseRun, spec: PhasePlan) -> None:
        apply_transition(run, "open", actor=self.actor, at=self.now, due_at=None)
        if spec.signal:
            wake_at = self.now + spec.signal_timeout if spec.signal_timeout else None
            apply_transition(run, "wait_event", actor=self.actor, next_run_at=wake_at)
            return
        if spec.duration is not None:
            wake_at = self.now + spec.duration
        else:
            wake_at = self.evaluate(run, spec, "until", datetime, "a timestamp")
            if wake_at is FAILED:
                return
        if wake_at <= self.now:
            apply_transition(run, "complete", actor=self.actor, output={}, at=self.now)
        else:
            apply_transition(run, "wait_event", actor=self.actor, next_run_at=wake_at)

    def start_map(self, run: PhaseRun, spec: PhasePlan) -> None:
        assert spec.items is not None
        apply_transition(run, "open", actor=self.actor, at=self.now, due_at=None)
        items = self.evaluate(run, spec, "items", list, "a list")
        if items is FAILED:
            return
        if not items:
            apply_transition(
                run, "complete", actor=self.actor, output={"results": [], "failed": []}, at=self.now
            )
            return
        created = ItemRun.objects.bulk_create(
            ItemRun(phase_run=run, instance=self.instance, round=run.round, index=index, item=item)
            for index, item in enumerate(items)
        )
        if created[0].pk is None:  # backends that cannot return ids from a bulk insert
            created = list(ItemRun.objects.filter(phase_run=run, round=run.round).order_by("index"))
        self.release_items(run, spec, created)

    def release_items(self, run: PhaseRun, spec: PhasePlan, items: list[ItemRun]) -> None:
        """Make pending items ready, up to `max_concurrency` in flight."""
        in_flight = sum(1 for item in items if item.state in scheduler.OPEN_STATES)
        room = (spec.max_concurrency or len(items)) - in_flight
        for item in items:
            if room <= 0:
                break
            if item.state == PhaseState.PENDING:
                apply_transition(item, "make_ready", actor=self.actor)
                self.to_dispatch.append(AttemptRef(run.pk, item_run_id=item.pk, queue=spec.queue))
                room -= 1

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
        """Fail a phase for good and apply its `on_fail`: fail or suspend the instance, or carry on."""
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


def park(
    instance: WorkflowInstance, run: PhaseRun, error: dict[str, Any], item: ItemRun | None = None
) -> DeadLetter:
    """Put failed work in the dead-letter queue."""
    return DeadLetter.objects.create(
        instance=instance,
        phase_run=run,
        item_run=item,
        phase_id=run.phase_id,
        category=error.get("category", "system"),
        message=error.get("message", ""),
        error=error,
        attempt=(item or run).attempt,
    )
