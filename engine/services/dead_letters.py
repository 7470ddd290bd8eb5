"""Dead letters as services: retry or discard one, optionally after correcting what made it fail.

Who may: `engine.access.require_resolve_dead_letter` (the permission, on an instance they may see), and a
reason for the audit trail.

An operator may correct the attempt's input (stored on the run as `input_override`, which the next attempts
get instead of the phase's `input` mapping; reopening the phase forgets it) or the instance's params, as an
incident in Camunda Operate is resolved by fixing variables. Each correction is checked against its schema
(the activity's `input_schema`, the template's `params`), audited with before and after, and made in the
same transaction as the retry, so a refused retry leaves nothing changed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine import access
from engine.activities import get_activity
from engine.errors import FormInvalid, NotFound, TransitionRejected
from engine.models import DeadLetter, DeadLetterState, ItemRun, PhaseRun, WorkflowInstance
from engine.runtime import operations
from engine.runtime.actors import Actor
from engine.runtime.journal import record, unit_of_work
from engine.runtime.plans import plan_for
from engine.runtime.start import params_problems


def _operator(user: Any, letter: DeadLetter) -> Actor:
    access.require_resolve_dead_letter(user, letter.instance, plan_for(letter.instance.version))
    return Actor.of(user)


def _letter(dead_letter_id: int) -> DeadLetter:
    letter = (
        DeadLetter.objects.select_related("instance__version", "phase_run", "item_run")
        .filter(pk=dead_letter_id)
        .first()
    )
    if letter is None:
        raise NotFound(f"no dead letter {dead_letter_id}")
    return letter


def failed_run(letter: DeadLetter) -> PhaseRun | ItemRun:
    return letter.item_run if letter.item_run_id else letter.phase_run  # type: ignore[return-value]


def attempt_input(letter: DeadLetter) -> dict[str, Any] | None:
    """The input the next attempt would get: the correction if there is one, else the phase's mapping
    evaluated now (what the failed attempt saw, as the phases before it have not changed). None when the
    phase has no activity input to show (it could not be evaluated)."""
    from engine.runtime.attempts import Claim, build_input
    from engine.runtime.dispatch import AttemptRef

    run = failed_run(letter)
    if run.input_override is not None:
        return dict(run.input_override)
    spec = plan_for(letter.instance.version).phases.get(letter.phase_id)
    if spec is None or not editable_input(letter):
        return None
    ref = AttemptRef(letter.phase_run_id, letter.item_run_id)
    claim = Claim(ref, letter.instance, spec, run, token="", claimed_at=datetime.now(UTC))
    try:
        return build_input(claim)
    except Exception:  # an expression that fails now is what the operator has to fix by hand
        return None


def editable_input(letter: DeadLetter) -> bool:
    """A task's or gate's attempt, or one map item: the runs whose attempts evaluate the input mapping."""
    spec = plan_for(letter.instance.version).phases.get(letter.phase_id)
    if spec is None:
        return False
    return spec.type in ("task", "gate") or (spec.type == "map" and letter.item_run_id is not None)


def input_schema(letter: DeadLetter) -> dict[str, Any] | None:
    spec = plan_for(letter.instance.version).phases.get(letter.phase_id)
    if spec is None or not spec.activity:
        return None
    try:
        schema = get_activity(spec.activity).input_schema
    except LookupError:
        return None
    return dict(schema) if schema else None


def input_problems(schema: Any, value: Any) -> list[dict[str, str]]:
    if not isinstance(value, dict):
        return [{"path": "", "message": "the input must be a JSON object"}]
    return params_problems(schema, value, whole="the input") if schema else []


def _as_field_errors(field: str, problems: list[dict[str, str]]) -> dict[str, list[str]]:
    return {field: [f"{p['path'] or '(top)'}: {p['message']}" for p in problems]}


def dead_letter_retry(
    *,
    dead_letter_id: int,
    user: Any,
    reason: str,
    input: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
) -> DeadLetter:
    """Retry the dead letter's work; with `input` or `params`, correct them first (checked, audited)."""
    letter = _letter(dead_letter_id)
    actor = _operator(user, letter)
    reason = access.require_reason(reason)
    errors: dict[str, list[str]] = {}
    if input is not None and not editable_input(letter):
        errors["input"] = ["this phase's attempts take no input mapping to correct"]
    elif input is not None:
        problems = input_problems(input_schema(letter), input)
        if problems:
            errors.update(_as_field_errors("input", problems))
    if params is not None:
        schema = plan_for(letter.instance.version).params_schema
        problems = params_problems(schema, params)
        if problems:
            errors.update(_as_field_errors("params", problems))
    if errors:
        raise FormInvalid("the correction does not fit its schema", errors=errors)
    with unit_of_work():
        if letter.state != DeadLetterState.OPEN:
            raise TransitionRejected(f"dead letter {dead_letter_id} is already {letter.state}")
        if params is not None:
            _correct_params(letter.instance_id, params, actor=actor, reason=reason)
        if input is not None:
            _correct_input(letter, input, actor=actor, reason=reason)
        operations.retry_dead_letter(dead_letter_id=dead_letter_id, actor=actor, reason=reason)
    return DeadLetter.objects.get(pk=dead_letter_id)


def dead_letter_discard(*, dead_letter_id: int, user: Any, reason: str) -> DeadLetter:
    """Give up on the work for good: the letter is closed with the reason; the instance stays as it is."""
    actor = _operator(user, _letter(dead_letter_id))
    reason = access.require_reason(reason)
    operations.discard_dead_letter(dead_letter_id=dead_letter_id, actor=actor, reason=reason)
    return DeadLetter.objects.get(pk=dead_letter_id)


def _correct_params(instance_id: Any, params: dict[str, Any], *, actor: Actor, reason: str) -> None:
    instance = WorkflowInstance.objects.select_for_update().get(pk=instance_id)
    before = instance.params
    WorkflowInstance.objects.filter(pk=instance_id).update(params=params)
    instance.params = params
    record(
        instance,
        "params_edit",
        source=instance.state,
        target=instance.state,
        actor=actor,
        reason=reason,
        metadata={"override": True, "before": {"params": before}, "after": {"params": params}},
    )


def _correct_input(letter: DeadLetter, value: dict[str, Any], *, actor: Actor, reason: str) -> None:
    run = failed_run(letter)
    before = attempt_input(letter)
    type(run).objects.filter(pk=run.pk).update(input_override=value)
    run.input_override = value
    record(
        run,
        "input_edit",
        source=run.state,
        target=run.state,
        actor=actor,
        reason=reason,
        metadata={"override": True, "before": {"input": before}, "after": {"input": value}},
    )
