"""Human work as services: claim, release, assign, complete (with rework through `on_outcome`), comment.

Who may do which of these is decided by `engine.access` (roles, `Work`); the services here ask it under
the instance's lock. Interfaces reach them through `engine.services`. Staff have no way around roles but
the overrides (`engine.services.overrides`), which need a permission and a reason.

Every service locks the instance (`operations.locked`), re-reads the phase after the lock and only then
checks permissions and state, so two people acting at once cannot both succeed: the second gets Conflict
(someone holds the phase) or TransitionRejected (it is no longer open).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker

from engine.access import Work, require_view_instance
from engine.definition.plan import PhasePlan
from engine.definition.schema_check import data_problems
from engine.errors import Conflict, FormInvalid, NotFound, TransitionRejected
from engine.models import Comment, InstanceState, PhaseRun, PhaseState
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer
from engine.runtime.journal import record
from engine.runtime.kinds.human import HUMAN
from engine.runtime.operations import locked
from engine.runtime.sla import sla_prime

MAX_COMMENT = 10_000


# --- form data ----------------------------------------------------------------------------------------

# jsonschema only checks the formats whose optional libraries are installed; the form formats we render
# (uri, date, date-time) are checked here without them.
FORMATS = FormatChecker()


@FORMATS.checks("uri", raises=ValueError)
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and (parts.netloc or parts.path)) and " " not in value


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return moment.tzinfo is not None and "T" in value.upper()


@FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    return not isinstance(value, str) or (len(value) == 10 and date.fromisoformat(value) is not None)


def form_problems(schema: Mapping[str, Any] | None, data: Any) -> list[dict[str, str]]:
    """Every way `data` breaks the phase's form schema, sorted by path: `{"path": JSON pointer,
    "message"}` in the designer's and the start parameters' words, naming each field by its title."""
    if not isinstance(data, dict):
        return [{"path": "", "message": "the form data must be a JSON object"}]
    if not schema:
        return []
    return data_problems(Draft202012Validator(schema, format_checker=FORMATS), data, whole="the form")


def form_invalid(problems: list[dict[str, str]], message: str = "") -> FormInvalid:
    """The refusal of form data: `errors` by top-level field ("" for the form as a whole), which the
    phase page puts beside its fields, and `problems` with each JSON pointer, for programs."""
    by_field: dict[str, list[str]] = {}
    for problem in problems:
        top = problem["path"].split("/")[1] if problem["path"] else ""
        field = top.replace("~1", "/").replace("~0", "~")  # RFC 6901 unescaping, "~1" first
        by_field.setdefault(field, []).append(problem["message"])
    return FormInvalid(
        message or f"{len(problems)} problem(s) in the form", errors=by_field, problems=problems
    )


def _invalid(problems: dict[str, list[str]], what: str = "the form") -> FormInvalid:
    count = sum(len(messages) for messages in problems.values())
    return FormInvalid(f"{count} problem(s) in {what}", errors=problems)


# --- the services -------------------------------------------------------------------------------------


def _open_phase(adv: Advancer, phase_id: str) -> tuple[PhaseRun, PhasePlan]:
    run = adv.runs.get(phase_id)
    if run is None:
        raise NotFound(f"instance {adv.instance.pk} has no phase {phase_id!r}")
    return run, adv.plan.phases[phase_id]


def _require_open(adv: Advancer, run: PhaseRun, spec: PhasePlan, action: str) -> None:
    if spec.type != "human":
        raise TransitionRejected(
            f"cannot {action} {run.phase_id}: it is a {spec.type} phase", state=run.state, action=action
        )
    if adv.instance.state != InstanceState.RUNNING:
        raise TransitionRejected(
            f"cannot {action} {run.phase_id}: the instance is {adv.instance.state}",
            state=adv.instance.state,
            action=action,
        )
    if run.state != PhaseState.ACTIVE:
        raise TransitionRejected(
            f"cannot {action} {run.phase_id}: it is {run.state}", state=run.state, action=action
        )


def _held_elsewhere(run: PhaseRun, user: Any) -> Conflict:
    holder = run.assignee.get_username() if run.assignee else ""
    return Conflict(
        f"{run.phase_id} is held by {holder}",
        holder=holder,
        claimed_at=run.claimed_at.isoformat() if run.claimed_at else None,
    )


def _set_assignee(
    adv: Advancer, run: PhaseRun, assignee: Any, *, name: str, actor: Actor, reason: str = ""
) -> None:
    before = run.assignee.get_username() if run.assignee else None
    run.assignee = assignee
    run.claimed_at = adv.now if assignee is not None else None
    run.save(update_fields=["assignee", "claimed_at", "updated_at"])
    after = assignee.get_username() if assignee is not None else None
    record(
        run,
        name,
        source=run.state,
        target=run.state,
        actor=actor,
        reason=reason,
        metadata={"before": {"assignee": before}, "after": {"assignee": after}},
    )


def phase_claim(*, instance_id: Any, phase_id: str, user: Any) -> PhaseRun:
    """Take a phase for yourself. Claiming a phase you already hold changes nothing.

    Raises PermissionDenied without one of the phase's roles, Conflict when someone else holds it, and
    TransitionRejected when it is not open for work.
    """
    actor = Actor.of(user)
    with locked(instance_id, actor) as adv:
        run, spec = _open_phase(adv, phase_id)
        Work.of(user, adv.instance, adv.plan).require_role(run, spec, "claim")
        _require_open(adv, run, spec, "claim")
        if run.assignee_id == user.pk:
            return run
        if run.assignee_id is not None:
            raise _held_elsewhere(run, user)
        _set_assignee(adv, run, user, name="claim", actor=actor)
        return run


def phase_release(*, instance_id: Any, phase_id: str, user: Any, reason: str = "") -> PhaseRun:
    """Give a claimed phase back to everyone with its roles: its holder, a manager or an administrator."""
    actor = Actor.of(user)
    with locked(instance_id, actor) as adv:
        run, spec = _open_phase(adv, phase_id)
        work = Work.of(user, adv.instance, adv.plan)
        if not work.manages:
            work.require_role(run, spec, "release")
            if run.assignee_id not in (None, user.pk):
                raise _held_elsewhere(run, user)
        _require_open(adv, run, spec, "release")
        if run.assignee_id is None:
            raise TransitionRejected(f"cannot release {phase_id}: nobody holds it", action="release")
        _set_assignee(adv, run, None, name="release", actor=actor, reason=reason)
        return run


def phase_assign(
    *, instance_id: Any, phase_id: str, user: Any, assignee: Any | None, reason: str = ""
) -> PhaseRun:
    """Assign (or reassign, or with None unassign) a phase: for a manager role or an administrator.

    The assignee must hold one of the phase's roles (FormInvalid otherwise); an administrator who needs to
    hand a phase to someone without the role uses the reassign override, which asks for a reason.
    """
    actor = Actor.of(user)
    with locked(instance_id, actor) as adv:
        run, spec = _open_phase(adv, phase_id)
        work = Work.of(user, adv.instance, adv.plan)
        work.require_manager(run, "assign")
        _require_open(adv, run, spec, "assign")
        if assignee is not None and not Work.of(assignee, adv.instance, adv.plan).holds(spec):
            raise _invalid(
                {"assignee": [f"{assignee.get_username()} holds none of the roles {', '.join(spec.roles)}"]},
                "the assignment",
            )
        if (assignee.pk if assignee else None) == run.assignee_id:
            return run
        _set_assignee(adv, run, assignee, name="assign", actor=actor, reason=reason)
        return run


def phase_complete(
    *,
    instance_id: Any,
    phase_id: str,
    user: Any,
    outcome: str | None = None,
    data: Mapping[str, Any] | None = None,
    reason: str = "",
) -> PhaseRun:
    """Complete a human phase with an outcome and its form data; an `on_outcome` reopen sends work back.

    A role holder may complete a phase nobody holds (it counts as claiming it); whoever holds the phase
    may complete it (an administrator's reassign can give it to someone without the role). Raises
    FormInvalid (nothing saved) with the problems by field when the outcome or data do not fit the phase,
    PermissionDenied without the role, Conflict when someone else holds it, TransitionRejected when it is
    not open.
    """
    actor = Actor.of(user)
    submitted = dict(data or {})
    with locked(instance_id, actor) as adv:
        run, spec = _open_phase(adv, phase_id)
        work = Work.of(user, adv.instance, adv.plan)
        if not work.is_holder(run):  # an administrator may have handed it to someone without the role
            work.require_role(run, spec, "complete")
        _require_open(adv, run, spec, "complete")
        if run.assignee_id not in (None, user.pk):
            raise _held_elsewhere(run, user)
        chosen = outcome_for(spec, outcome)
        problems = form_problems(spec.form, submitted)
        if problems:
            raise form_invalid(problems)
        if run.assignee_id is None:
            _set_assignee(adv, run, user, name="claim", actor=actor)
        HUMAN.submit(adv, run, spec, outcome=chosen, data=submitted, user=user, actor=actor, reason=reason)
        _advance_and_prime(adv)
        return run


def outcome_for(spec: PhasePlan, outcome: str | None) -> str:
    """The outcome to record: the one given if the phase allows it, or the phase's only outcome."""
    if outcome in (None, ""):
        if len(spec.outcomes) == 1:
            return spec.outcomes[0]
        raise _invalid({"outcome": [f"choose one of: {', '.join(spec.outcomes)}"]})
    if outcome not in spec.outcomes:
        raise _invalid({"outcome": [f"{outcome!r} is not one of: {', '.join(spec.outcomes)}"]})
    return outcome


def _advance_and_prime(adv: Advancer) -> None:
    """Open what became ready now (the lock's exit would too) and give new phases their at-risk time."""
    adv.run()
    sla_prime(active_human_runs(adv), adv.plan)


def active_human_runs(adv: Advancer) -> list[PhaseRun]:
    """The open human phases of the instance, loading only their rows."""
    return [
        adv.runs[phase_id]
        for phase_id, state in adv.runs.states().items()
        if state == PhaseState.ACTIVE and adv.plan.phases[phase_id].type == "human"
    ]


def comment_add(*, instance_id: Any, user: Any, body: str, phase_id: str | None = None) -> Comment:
    """Leave a note on an instance or one of its phases; anyone who may see the instance may comment."""
    text = (body or "").strip()
    if not text:
        raise _invalid({"body": ["Write something first."]}, "the comment")
    if len(text) > MAX_COMMENT:
        raise _invalid({"body": [f"Keep it under {MAX_COMMENT} characters."]}, "the comment")
    actor = Actor.of(user)
    with locked(instance_id, actor) as adv:
        require_view_instance(user, adv.instance, adv.plan)
        run = None
        if phase_id:
            run, _ = _open_phase(adv, phase_id)
        comment = Comment.objects.create(instance=adv.instance, phase_run=run, author=user, body=text)
        subject: Any = run if run is not None else adv.instance
        record(
            subject,
            "comment",
            source=subject.state,
            target=subject.state,
            actor=actor,
            metadata={"comment_id": comment.pk},
        )
        return comment
