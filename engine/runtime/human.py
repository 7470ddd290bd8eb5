"""Human work as services: claim, release, assign, complete (with rework through `on_outcome`), comment.

Roles: a template's role key is a Django group of the same name, and an instance can also give a role to a
particular user or group (`RoleAssignment`). Only a holder of one of a phase's roles may claim or complete
it (and whoever an administrator handed the phase to may complete it). Assigning is for a manager role
(a role key `manager` or ending in `_manager`) or an administrator (`engine.override_phaserun`). Staff
have no other way around roles: the overrides in `engine.runtime.overrides` do that, with a reason.

Every service locks the instance (`operations.locked`), re-reads the phase after the lock and only then
checks permissions and state, so two people acting at once cannot both succeed: the second gets Conflict
(someone holds the phase) or TransitionRejected (it is no longer open).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from django.db.models import Q
from jsonschema import Draft202012Validator, FormatChecker

from engine.definition.plan import PhasePlan, Plan
from engine.errors import Conflict, FormInvalid, NotFound, PermissionDenied, TransitionRejected
from engine.models import Comment, InstanceState, PhaseRun, PhaseState, RoleAssignment, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer
from engine.runtime.journal import record
from engine.runtime.kinds.human import HUMAN
from engine.runtime.operations import locked

OVERRIDE_PHASE_PERMISSION = "engine.override_phaserun"
MAX_COMMENT = 10_000

# --- roles --------------------------------------------------------------------------------------------


def is_manager_role(role: str) -> bool:
    """Whether a role key names a manager, who may assign and reassign phases of its template."""
    return role == "manager" or role.endswith("_manager")


def group_names(user: Any) -> frozenset[str]:
    """The names of the user's groups, read once per user object (one query)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    cached = getattr(user, "_phasegate_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._phasegate_groups = cached
    return cached


def assigned_roles(user: Any, instance_ids: Iterable[Any]) -> dict[Any, set[str]]:
    """Roles given on particular instances to the user or one of their groups: {instance_id: {role}}."""
    ids = list(instance_ids)
    if not ids or user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return {}
    holder = Q(user=user) | Q(group__name__in=group_names(user))
    found: dict[Any, set[str]] = {}
    for instance_id, role in RoleAssignment.objects.filter(holder, instance_id__in=ids).values_list(
        "instance_id", "role"
    ):
        found.setdefault(instance_id, set()).add(role)
    return found


def user_roles(user: Any, instance: WorkflowInstance, plan: Plan) -> frozenset[str]:
    """The roles of `plan` that `user` holds on `instance`: by group name, or assigned on the instance."""
    held = set(group_names(user)) | assigned_roles(user, [instance.pk]).get(instance.pk, set())
    return frozenset(role for role in held if role in plan.roles)


def role_holders(instance: WorkflowInstance, roles: Iterable[str]) -> list[Any]:
    """Active users who hold one of `roles` on `instance` (group members and instance assignments)."""
    from django.contrib.auth import get_user_model

    wanted = list(roles)
    if not wanted:
        return []
    assigned = RoleAssignment.objects.filter(instance=instance, role__in=wanted)
    holds = (
        Q(groups__name__in=wanted)
        | Q(pk__in=assigned.filter(user__isnull=False).values("user_id"))
        | Q(groups__in=assigned.filter(group__isnull=False).values("group_id"))
    )
    return list(get_user_model().objects.filter(holds, is_active=True).distinct().order_by("username"))


def can_view_instance(user: Any, instance: WorkflowInstance, plan: Plan) -> bool:
    """Staff, the starter, holders of any role of the template, and holders of a role on the instance."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_staff or (instance.started_by_id is not None and instance.started_by_id == user.pk):
        return True
    if group_names(user) & set(plan.roles):
        return True
    return bool(assigned_roles(user, [instance.pk]))


def is_administrator(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.has_perm(OVERRIDE_PHASE_PERMISSION))


@dataclass(frozen=True)
class Work:
    """What one user may do on one instance: the roles they hold there and whether they administer phases."""

    user: Any
    roles: frozenset[str]
    administrator: bool = False

    @classmethod
    def of(cls, user: Any, instance: WorkflowInstance, plan: Plan) -> Work:
        return cls(user=user, roles=user_roles(user, instance, plan), administrator=is_administrator(user))

    def holds(self, spec: PhasePlan) -> bool:
        return bool(self.roles & set(spec.roles))

    @property
    def manages(self) -> bool:
        return self.administrator or any(is_manager_role(role) for role in self.roles)

    def is_holder(self, run: PhaseRun) -> bool:
        return run.assignee_id is not None and run.assignee_id == self.user.pk

    # Predicates for pages: they say which buttons to show; the services below decide for real.
    def can_claim(self, run: PhaseRun, spec: PhasePlan) -> bool:
        return _is_open_human(run, spec) and self.holds(spec) and run.assignee_id is None

    def can_complete(self, run: PhaseRun, spec: PhasePlan) -> bool:
        if not _is_open_human(run, spec):
            return False
        return self.is_holder(run) or (self.holds(spec) and run.assignee_id is None)

    def can_release(self, run: PhaseRun, spec: PhasePlan) -> bool:
        return (
            _is_open_human(run, spec)
            and run.assignee_id is not None
            and (self.is_holder(run) or self.manages)
        )

    def can_assign(self, run: PhaseRun, spec: PhasePlan) -> bool:
        return _is_open_human(run, spec) and self.manages


def _is_open_human(run: PhaseRun, spec: PhasePlan) -> bool:
    return spec.type == "human" and run.state == PhaseState.ACTIVE


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


def form_problems(schema: Mapping[str, Any] | None, data: Any) -> dict[str, list[str]]:
    """Every way `data` breaks the phase's form schema, by top-level field ("" for the form as a whole)."""
    if not isinstance(data, dict):
        return {"": ["the form data must be a JSON object"]}
    if not schema:
        return {}
    validator = Draft202012Validator(schema, format_checker=FORMATS)
    problems: dict[str, list[str]] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(error.absolute_path)
        field = str(path[0]) if path else ""
        if error.validator == "required" and not path:
            # "'plan_url' is a required property" belongs beside plan_url.
            missing = [name for name in error.validator_value if name not in data]
            for name in missing:
                problems.setdefault(str(name), []).append("This field is required.")
            continue
        message = error.message
        if len(path) > 1:
            message = f"{'/'.join(str(p) for p in path[1:])}: {message}"
        problems.setdefault(field, []).append(message)
    return problems


def _invalid(problems: dict[str, list[str]], what: str = "the form") -> FormInvalid:
    count = sum(len(messages) for messages in problems.values())
    return FormInvalid(f"{count} problem(s) in {what}", errors=problems)


# --- the services -------------------------------------------------------------------------------------


def _open_phase(adv: Advancer, phase_id: str) -> tuple[PhaseRun, PhasePlan]:
    run = adv.runs.get(phase_id)
    if run is None:
        raise NotFound(f"instance {adv.instance.pk} has no phase {phase_id!r}")
    return run, adv.plan.phases[phase_id]


def _require_work(work: Work, run: PhaseRun, spec: PhasePlan, action: str) -> None:
    if not work.holds(spec):
        roles = ", ".join(spec.roles)
        raise PermissionDenied(
            f"{work.user.get_username()} may not {action} {run.phase_id}: it needs the role {roles}",
            roles=list(spec.roles),
        )


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
        _require_work(Work.of(user, adv.instance, adv.plan), run, spec, "claim")
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
            _require_work(work, run, spec, "release")
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
        if not work.manages:
            raise PermissionDenied(
                f"{user.get_username()} may not assign {phase_id}: it takes a manager or an administrator"
            )
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
            _require_work(work, run, spec, "complete")
        _require_open(adv, run, spec, "complete")
        if run.assignee_id not in (None, user.pk):
            raise _held_elsewhere(run, user)
        chosen = outcome_for(spec, outcome)
        problems = form_problems(spec.form, submitted)
        if problems:
            raise _invalid(problems)
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
    from engine.runtime.sla import sla_prime

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
        if not can_view_instance(user, adv.instance, adv.plan):
            raise PermissionDenied(f"{user.get_username()} may not see this instance")
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
