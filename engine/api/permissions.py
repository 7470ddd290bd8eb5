"""Who may do what over the API: Django model permissions for writes, the pages' visibility for instances."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

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
    """Publishes template versions."""

    message = "publishing needs the engine.publish_templateversion permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return _has(request, "engine.publish_templateversion")


class CanRetireVersion(BasePermission):
    """Retires template versions."""

    message = "retiring needs the engine.retire_templateversion permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return _has(request, "engine.retire_templateversion")


class CanStartInstance(BasePermission):
    """Starts workflow instances."""

    message = "starting an instance needs the engine.add_workflowinstance permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return _has(request, "engine.add_workflowinstance")


class CanOverrideInstance(BasePermission):
    """Cancels, suspends, resumes and retries instances."""

    message = "operating on an instance needs the engine.override_workflowinstance permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return _has(request, "engine.override_workflowinstance")


class CanOverridePhase(BasePermission):
    """Retries, skips and reopens phases."""

    message = "operating on a phase needs the engine.override_phaserun permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return _has(request, "engine.override_phaserun")


class CanResolveDeadLetter(BasePermission):
    """Retries and discards dead letters."""

    message = "retrying or discarding a dead letter needs the engine.resolve_deadletter permission"

    def has_permission(self, request: Request, view: Any) -> bool:
        return _has(request, "engine.resolve_deadletter")


class CanSeeInstance(BasePermission):
    """Sees the instance (or its phase or dead letter): staff, its starter, or a holder of its roles."""

    message = "you may not see this instance"

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if isinstance(obj, WorkflowInstance):
            instance_id = obj.pk
        elif isinstance(obj, PhaseRun | DeadLetter):
            instance_id = obj.instance_id
        else:
            return False
        return selectors.instance_is_visible(user=request.user, instance_id=instance_id)
