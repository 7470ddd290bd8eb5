"""Who may do what: every rule of the engine's policy, in one place.

Every door — the pages, the API, the admin, the designer — asks these functions, through the services or
directly to decide which buttons to show, so one user gets one answer wherever they try. Each rule is a
`may_*` predicate (for showing) and, where a service needs it, a `require_*` that raises
PermissionDenied with a message that says what is missing.

Roles: a template's role key is a Django group of the same name, and an instance can also give a role to a
particular user or group (`RoleAssignment`).

| action | who may |
| --- | --- |
| view an instance | staff, its starter, holders of any role of its template, holders of a role on it |
| start from a template | holders of one of its roles, and users with `engine.add_workflowinstance` |
| publish / retire a version | `engine.publish_templateversion` / `engine.retire_templateversion` |
| claim, complete a phase | holders of one of the phase's roles (and whoever holds the phase, for complete) |
| release a phase | its holder, a manager, an administrator |
| assign a phase | a manager role (`manager`, `*_manager`) or an administrator (`engine.override_phaserun`) |
| override a phase / instance | `engine.override_phaserun` / `engine.override_workflowinstance`; a reason |
| see a failure's traceback | operators: an override permission or `engine.resolve_deadletter` |
| deliver a signal | viewers with `engine.signal_workflowinstance`, or a role every wait for it names |
| migrate instances to another version | `engine.migrate_workflowinstance`; a reason |
| compensate a failed or cancelled instance | `engine.override_workflowinstance`; a reason |
| retry or discard a dead letter | `engine.resolve_deadletter` on an instance they may view; a reason |

Saving template drafts is not here: it follows the model permissions of whichever door is used (the
admin's for the designer, `engine.add/change_templateversion` for the API).

Starting: the pages always let a template's role holders start it, the API asked for a model permission;
a person who may start from the browser may now start over the API too (and a program's account gets
the permission or a role). Staff status alone grants nothing but seeing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q

from engine.definition.plan import PhasePlan, Plan
from engine.errors import FormInvalid, PermissionDenied
from engine.models import (
    PhaseRun,
    PhaseState,
    RoleAssignment,
    TemplateVersion,
    WorkflowInstance,
)

START_PERMISSION = "engine.add_workflowinstance"
PUBLISH_PERMISSION = "engine.publish_templateversion"
RETIRE_PERMISSION = "engine.retire_templateversion"
OVERRIDE_PHASE_PERMISSION = "engine.override_phaserun"
OVERRIDE_INSTANCE_PERMISSION = "engine.override_workflowinstance"
RESOLVE_DEAD_LETTER_PERMISSION = "engine.resolve_deadletter"
SIGNAL_PERMISSION = "engine.signal_workflowinstance"
MIGRATE_PERMISSION = "engine.migrate_workflowinstance"


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def _name(user: Any) -> str:
    return user.get_username() if _active(user) else "anonymous"


def _has(user: Any, permission: str) -> bool:
    return _active(user) and bool(user.has_perm(permission))


def _denied(user: Any, what: str, needs: str) -> PermissionDenied:
    return PermissionDenied(f"{_name(user)} may not {what}: it needs {needs}")


# --- roles ----------------------------------------------------------------------------------------------


def is_manager_role(role: str) -> bool:
    """Whether a role key names a manager, who may assign and reassign phases of its template."""
    return role == "manager" or role.endswith("_manager")


def group_names(user: Any) -> frozenset[str]:
    """The names of the user's groups, read once per user object (one query)."""
    if not _active(user):
        return frozenset()
    cached = getattr(user, "_phasegate_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._phasegate_groups = cached
    return cached


def assigned_roles(user: Any, instance_ids: Iterable[Any]) -> dict[Any, set[str]]:
    """Roles given on particular instances to the user or one of their groups: {instance_id: {role}}."""
    ids = list(instance_ids)
    if not ids or not _active(user):
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


# --- seeing instances -----------------------------------------------------------------------------------


def instance_visible_q(user: Any) -> Q | None:
    """The filter for instances `user` may see, or None when they may see all of them."""
    if _active(user) and user.is_staff:
        return None
    if not _active(user):
        return Q(pk__in=[])
    names = sorted(group_names(user))
    assigned = RoleAssignment.objects.filter(Q(user=user) | Q(group__name__in=names)).values("instance_id")
    visible = Q(started_by=user) | Q(pk__in=assigned)
    if names:
        # The versions first (a handful of rows), then the instances by version id: filtering instances on
        # their version's JSON would read the definition once per instance.
        version_ids = list(
            TemplateVersion.objects.filter(definition__roles__has_any_keys=names).values_list("pk", flat=True)
        )
        if version_ids:
            visible |= Q(version_id__in=version_ids)
    return visible


def may_view_instance(user: Any, instance: WorkflowInstance, plan: Plan) -> bool:
    """The rule `instance_visible_q` filters by, for one instance already in hand."""
    if not _active(user):
        return False
    if user.is_staff or (instance.started_by_id is not None and instance.started_by_id == user.pk):
        return True
    if group_names(user) & set(plan.roles):
        return True
    return bool(assigned_roles(user, [instance.pk]))


def require_view_instance(user: Any, instance: WorkflowInstance, plan: Plan) -> None:
    if not may_view_instance(user, instance, plan):
        raise PermissionDenied("you may not see this instance")


# --- starting -------------------------------------------------------------------------------------------


def may_start(user: Any, plan: Plan) -> bool:
    """Holders of one of the template's roles, and users with the start permission."""
    return _has(user, START_PERMISSION) or bool(group_names(user) & set(plan.roles))


def startable_roles_q(user: Any) -> Q | None:
    """The filter on published versions `user` may start, or None for all of them (`may_start` in SQL)."""
    if _has(user, START_PERMISSION):
        return None
    names = sorted(group_names(user))
    return Q(definition__roles__has_any_keys=names) if names else Q(pk__in=[])


def require_start(user: Any, plan: Plan) -> None:
    if not may_start(user, plan):
        raise _denied(user, f"start {plan.key}", f"one of its roles or the permission {START_PERMISSION}")


# --- templates ------------------------------------------------------------------------------------------


def may_publish(user: Any) -> bool:
    """The one rule for publishing, whichever door: the API, the admin action, the designer."""
    return _has(user, PUBLISH_PERMISSION)


def require_publish(user: Any) -> None:
    if not may_publish(user):
        raise _denied(user, "publish template versions", f"the permission {PUBLISH_PERMISSION}")


def may_retire(user: Any) -> bool:
    return _has(user, RETIRE_PERMISSION)


def require_retire(user: Any) -> None:
    if not may_retire(user):
        raise _denied(user, "retire template versions", f"the permission {RETIRE_PERMISSION}")


# --- phase work -----------------------------------------------------------------------------------------


def is_administrator(user: Any) -> bool:
    return _has(user, OVERRIDE_PHASE_PERMISSION)


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

    # The buttons a page shows; the services check the same rules again under the instance's lock.
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

    # What the services require.
    def require_role(self, run: PhaseRun, spec: PhasePlan, action: str) -> None:
        if not self.holds(spec):
            roles = ", ".join(spec.roles)
            raise PermissionDenied(
                f"{self.user.get_username()} may not {action} {run.phase_id}: it needs the role {roles}",
                roles=list(spec.roles),
            )

    def require_manager(self, run: PhaseRun, action: str) -> None:
        if not self.manages:
            raise PermissionDenied(
                f"{self.user.get_username()} may not {action} {run.phase_id}: "
                "it takes a manager or an administrator"
            )


def _is_open_human(run: PhaseRun, spec: PhasePlan) -> bool:
    return spec.type == "human" and run.state == PhaseState.ACTIVE


# --- overrides ------------------------------------------------------------------------------------------


def may_override_phases(user: Any) -> bool:
    return _has(user, OVERRIDE_PHASE_PERMISSION)


def may_override_instances(user: Any) -> bool:
    return _has(user, OVERRIDE_INSTANCE_PERMISSION)


def may_operate(user: Any) -> bool:
    """Operators: whoever may override an instance or its phases, or retry and discard its dead letters."""
    return may_override_instances(user) or may_override_phases(user) or may_resolve_dead_letters(user)


def error_shown_to(user: Any, error: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored failure as `user` may see it: the traceback (server paths and code) for operators only;
    everyone else who sees the instance gets the rest (category, message, attempt, ...)."""
    if not error or "traceback" not in error or may_operate(user):
        return error
    return {key: value for key, value in error.items() if key != "traceback"}


def require_override_phase(user: Any, what: str) -> None:
    if not may_override_phases(user):
        raise _denied(user, what, f"the permission {OVERRIDE_PHASE_PERMISSION}")


def require_override_instance(user: Any, what: str) -> None:
    if not may_override_instances(user):
        raise _denied(user, what, f"the permission {OVERRIDE_INSTANCE_PERMISSION}")


def require_reason(reason: str) -> str:
    """An override (or a dead letter's resolution) says why; the reason goes in the audit trail."""
    text = (reason or "").strip()
    if not text:
        raise FormInvalid(
            "an override needs a reason", errors={"reason": ["Say why: it goes in the audit trail."]}
        )
    return text


# --- signals and dead letters ---------------------------------------------------------------------------


def _signal_refused(user: Any, instance: WorkflowInstance, plan: Plan, name: str) -> list[PhasePlan]:
    """The wait phases for `name` whose `roles` the user holds none of (all of them without roles)."""
    if _has(user, SIGNAL_PERMISSION):
        return []
    specs = [spec for spec in plan.phases.values() if spec.signal == name]
    held = user_roles(user, instance, plan) if specs else frozenset()
    return [spec for spec in specs if not held & set(spec.roles)]


def may_deliver_signal(user: Any, instance: WorkflowInstance, plan: Plan, name: str) -> bool:
    """Seeing the instance, and the signal permission or a role every wait phase for `name` names.

    A signal no phase waits for is not refused here: delivering it is a 409 that says so.
    """
    return may_view_instance(user, instance, plan) and not _signal_refused(user, instance, plan, name)


def require_deliver_signal(user: Any, instance: WorkflowInstance, plan: Plan, name: str) -> None:
    if not may_view_instance(user, instance, plan):
        raise PermissionDenied("you may not see this instance")
    refused = _signal_refused(user, instance, plan, name)
    if refused:
        roles = sorted({role for spec in refused for role in spec.roles})
        needs = (
            f"one of the roles {', '.join(roles)} or " if roles else ""
        ) + f"the permission {SIGNAL_PERMISSION}"
        raise PermissionDenied(
            f"{_name(user)} may not deliver signal {name!r}: it needs {needs}",
            signal=name,
            phases=[spec.id for spec in refused],
        )


def may_resolve_dead_letters(user: Any) -> bool:
    return _has(user, RESOLVE_DEAD_LETTER_PERMISSION)


def require_resolve_dead_letter(user: Any, instance: WorkflowInstance, plan: Plan) -> None:
    if not may_resolve_dead_letters(user):
        raise _denied(
            user, "retry or discard a dead letter", f"the permission {RESOLVE_DEAD_LETTER_PERMISSION}"
        )
    require_view_instance(user, instance, plan)


# --- migrating instances --------------------------------------------------------------------------------


def may_migrate(user: Any) -> bool:
    return _has(user, MIGRATE_PERMISSION)


def require_migrate(user: Any) -> None:
    if not may_migrate(user):
        raise _denied(user, "migrate instances", f"the permission {MIGRATE_PERMISSION}")
