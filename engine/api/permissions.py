"""The API's permission classes: DRF's way of asking `engine.access`, so a refusal comes before the body is
read. The services ask the same rules again; no rule is written here."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from engine import access
from engine.api import selectors
from engine.models import DeadLetter, PhaseRun, WorkflowInstance


def _has(request: Request, *perms: str) -> bool:
    user = request.user
    return bool(user and user.is_authenticated and any(user.has_perm(perm) for perm in perms))


class CanSaveTemplateDraft(BasePermission):
    """Adds or changes template versions (the view checks which one a save needs)."""

    message = "saving a template draft needs engine.add_templateversion or engine.change_templateversion"

    def has_permission(self, request: Request, view: Any) -> bool:
        return _has(request, "engine.add_templateversion", "engine.change_templateversion")


class CanPublishVersion(BasePermission):
    message = f"publishing needs the {access.PUBLISH_PERMISSION} permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return access.may_publish(request.user)


class CanRetireVersion(BasePermission):
    message = f"retiring needs the {access.RETIRE_PERMISSION} permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return access.may_retire(request.user)


class CanOverrideInstance(BasePermission):
    message = f"operating on an instance needs the {access.OVERRIDE_INSTANCE_PERMISSION} permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return access.may_override_instances(request.user)


class CanOverridePhase(BasePermission):
    message = f"operating on a phase needs the {access.OVERRIDE_PHASE_PERMISSION} permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return access.may_override_phases(request.user)


class CanResolveDeadLetter(BasePermission):
    message = (
        f"retrying or discarding a dead letter needs the {access.RESOLVE_DEAD_LETTER_PERMISSION} permission"
    )

    def has_permission(self, request: Request, view: Any) -> bool:
        return access.may_resolve_dead_letters(request.user)


class CanSeeInstance(BasePermission):
    """Sees the instance (or its phase or dead letter): `engine.access.instance_visible_q`."""

    message = "you may not see this instance"

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if isinstance(obj, WorkflowInstance):
            instance_id = obj.pk
        elif isinstance(obj, PhaseRun | DeadLetter):
            instance_id = obj.instance_id
        else:
            return False
        return selectors.instance_is_visible(user=request.user, instance_id=instance_id)
