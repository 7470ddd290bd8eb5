"""A `gate` phase: a CEL `check` evaluated inline, or an activity that returns `{passed, reason, action}`.

A gate that does not pass stops the instance with the gate's `action` code (its `on_fail` applies); every
evaluation is kept as a `GateResult` with the values it looked at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.definition.plan import PhasePlan
from engine.models import GateResult, ItemRun, PhaseRun
from engine.runtime.dispatch import AttemptRef
from engine.runtime.failures import error_record
from engine.runtime.journal import apply_transition, emit_event
from engine.runtime.kinds.base import Kind

if TYPE_CHECKING:
    from engine.runtime.advance import Advancer


class Gate(Kind):
    name = "gate"

    def is_dispatched(self, spec: PhasePlan) -> bool:
        return spec.activity is not None

    def open(self, adv: Advancer, run: PhaseRun, spec: PhasePlan) -> None:
        if spec.activity is not None:  # a worker runs the check's activity; `complete` reads its answer
            adv.to_dispatch.append(AttemptRef(run.pk, queue=spec.queue))
            return
        apply_transition(run, "open", actor=adv.actor, at=adv.now, due_at=None)
        passed = adv.evaluate(run, spec, "check", bool, "true or false")
        if passed is not adv.FAILED:
            record_gate(adv, run, spec, passed=passed, values=gate_values(adv, spec))

    def complete(
        self,
        adv: Advancer,
        phase_run: PhaseRun,
        run: PhaseRun | ItemRun,
        spec: PhasePlan,
        output: dict[str, Any],
    ) -> None:
        passed = output.get("passed")
        if not isinstance(passed, bool):
            error = error_record(
                category="data",
                message="a gate activity must return {passed: bool, reason, action}",
                at=adv.now,
                attempt=run.attempt,
            )
            adv.fail_phase(phase_run, spec, error)
            return
        values = {key: value for key, value in output.items() if key not in ("passed", "reason", "action")}
        record_gate(
            adv,
            phase_run,
            spec,
            passed=passed,
            values=values,
            reason=str(output.get("reason") or ""),
            action=str(output.get("action") or ""),
        )


def gate_values(adv: Advancer, spec: PhasePlan) -> dict[str, Any]:
    """The values a CEL gate looked at, for the record."""
    assert spec.check is not None
    values: dict[str, Any] = {}
    if "params" in spec.check.referenced_roots:
        values["params"] = adv.instance.params
    for phase_id in spec.check.referenced_steps:
        if phase_id in adv.runs:
            values[f"steps.{phase_id}.output"] = adv.runs[phase_id].output
    return values


def record_gate(
    adv: Advancer,
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
        instance=adv.instance,
        phase_run=run,
        round=run.round,
        passed=passed,
        reason=reason,
        action=action,
        values=values,
    )
    output = {"passed": passed, "reason": reason, "action": action}
    if passed:
        apply_transition(run, "complete", actor=adv.actor, output=output, at=adv.now)
        return
    emit_event(
        instance_id=adv.instance.pk,
        name="gate.failed",
        payload={"instance_id": str(adv.instance.pk), "phase_id": run.phase_id, **output},
    )
    error = error_record(category="gate", message=reason, at=adv.now, action=action)
    run.output = output
    adv.fail_phase(run, spec, error, dead_letter=False)


GATE = Gate()
