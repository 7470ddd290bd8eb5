"""Instances as services: start one, deliver a signal to it. Each checks `engine.access` first.

The overrides on instances (suspend, resume, cancel, retry) are in `engine.services.overrides`.
"""

from __future__ import annotations

from typing import Any

from engine import access
from engine.errors import NotFound
from engine.models import WorkflowInstance, WorkflowTemplate
from engine.runtime.actors import Actor
from engine.runtime.plans import plan_for
from engine.runtime.signals import Delivery, deliver_signal, deliver_signal_by_key
from engine.runtime.start import Started, pick_version, start_or_find


def instance_start(
    *,
    template_key: str,
    params: dict[str, Any] | None = None,
    business_key: str | None = None,
    version: int | None = None,
    user: Any = None,
    system: str = "api",
) -> WorkflowInstance:
    """Start an instance (or return the one that holds the business key); see `instance_start_or_find`."""
    return instance_start_or_find(
        template_key=template_key,
        params=params,
        business_key=business_key,
        version=version,
        user=user,
        system=system,
    ).instance


def instance_start_or_find(
    *,
    template_key: str,
    params: dict[str, Any] | None = None,
    business_key: str | None = None,
    version: int | None = None,
    user: Any = None,
    system: str = "api",
) -> Started:
    """Start an instance, or find the one that holds the business key (`created` says which); Conflict
    when that one was started with other params.

    `user` starts it if `engine.access.may_start` lets them (PermissionDenied otherwise); without a user
    the engine itself starts it, as `system:<system>` (the command line, schedules).
    """
    if user is None:
        actor = Actor.system(system)
    else:
        template = WorkflowTemplate.objects.filter(key=template_key).first()
        if template is None:
            raise NotFound(f"no template {template_key!r}")
        access.require_start(user, plan_for(pick_version(template, version)))
        actor = Actor.of(user)
    return start_or_find(template_key, params, business_key=business_key, version=version, actor=actor)


def _require_signal(user: Any, instance: WorkflowInstance, name: str) -> None:
    access.require_deliver_signal(user, instance, plan_for(instance.version), name)


def signal_deliver(
    *, instance_id: Any, name: str, payload: dict[str, Any] | None, user: Any, delivery_id: str | None = None
) -> Delivery:
    """Complete every phase of the instance waiting for signal `name` (or keep it for one about to wait)."""
    instance = WorkflowInstance.objects.select_related("version").filter(pk=instance_id).first()
    if instance is None:
        raise NotFound(f"no instance {instance_id}")
    _require_signal(user, instance, name)
    return deliver_signal(
        instance_id=instance_id, name=name, payload=payload, actor=Actor.of(user), delivery_id=delivery_id
    )


def signal_deliver_by_key(
    *,
    template_key: str,
    business_key: str,
    name: str,
    payload: dict[str, Any] | None,
    user: Any,
    delivery_id: str | None = None,
) -> tuple[WorkflowInstance, Delivery]:
    """As `signal_deliver`, to the unfinished instance of `template_key` with `business_key`."""
    return deliver_signal_by_key(
        template_key=template_key,
        business_key=business_key,
        name=name,
        payload=payload,
        actor=Actor.of(user),
        delivery_id=delivery_id,
        visible=lambda instance: _require_signal(user, instance, name),
    )
