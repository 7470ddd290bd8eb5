"""Instances as services: start one, deliver a signal to it. Each checks `engine.access` first.

The overrides on instances (suspend, resume, cancel, retry) are in `engine.services.overrides`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import F

from engine import access
from engine.errors import BusinessKeyUsed, Conflict, NotFound
from engine.models import InstanceState, WorkflowInstance, WorkflowTemplate
from engine.models.states import FINISHED_INSTANCE_STATES
from engine.runtime.actors import Actor
from engine.runtime.plans import plan_for
from engine.runtime.signals import Delivery, deliver_signal, deliver_signal_by_key
from engine.runtime.start import Started, pick_version, start_or_find


def used_key_text(earlier: WorkflowInstance) -> str:
    """How a finished instance that used a business key is named to a person: which one, how and when it
    finished (the API's 409 and note, the start page and `start_workflow` all say it this way)."""
    when = f" at {earlier.finished_at:%Y-%m-%d %H:%M} UTC" if earlier.finished_at else ""
    how = "was cancelled" if earlier.state == InstanceState.CANCELLED else str(earlier.state)
    return f"business key {earlier.business_key!r} was used by instance {earlier.pk}, which {how}{when}"


@dataclass(frozen=True)
class StartAnswer:
    """A person's or a program's start: the instance, whether this call created it, and the finished
    instance that used the same business key before a new one started (None when there was none)."""

    instance: WorkflowInstance
    created: bool
    earlier: WorkflowInstance | None = None

    @property
    def note(self) -> str:
        """What to tell the caller besides the instance: that this key's earlier run had finished."""
        if self.earlier is None:
            return ""
        return f"An earlier run finished: {used_key_text(self.earlier)}. This is a new run."


def instance_start_or_find(
    *,
    template_key: str,
    params: dict[str, Any] | None = None,
    business_key: str | None = None,
    version: int | None = None,
    user: Any = None,
    system: str = "api",
) -> StartAnswer:
    """Start an instance, or find the one that holds the business key (`created` says which); Conflict
    when that one was started with other params, BusinessKeyUsed when the template never reuses keys and
    the key's instance finished. A new start says which finished instance used its key before (`earlier`).

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
    try:
        started = start_or_find(template_key, params, business_key=business_key, version=version, actor=actor)
    except Conflict as exc:
        # The holder has other params; if it had finished, the key is used up whatever the params are.
        if exc.extra.get("state") not in FINISHED_INSTANCE_STATES:  # as found, not as it may be by now
            raise
        holder = WorkflowInstance.objects.get(pk=exc.extra["instance"])
        raise _key_used(holder, template_key) from None
    return _answer(started, template_key, business_key)


def _key_used(holder: WorkflowInstance, template_key: str) -> BusinessKeyUsed:
    return BusinessKeyUsed(
        f"{used_key_text(holder)}; {template_key} never reuses a business key, so nothing started "
        "(retry or reopen that instance, or start with another key)",
        instance=str(holder.pk),
        business_key=holder.business_key,
        state=holder.state,
        finished_at=holder.finished_at.isoformat() if holder.finished_at else None,
    )


def _answer(started: Started, template_key: str, business_key: str | None) -> StartAnswer:
    """Tell the caller about the key's history: a key kept for good (`business_key_reuse: "never"`) whose
    instance finished is refused here, at the doors people and programs use. The engine's own starts
    (sub-workflows, schedules) still get that instance back: a redelivered start must find its child."""
    instance = started.instance
    if not started.created:
        if instance.is_finished:
            raise _key_used(instance, template_key)
        return StartAnswer(instance, created=False)
    if not business_key:
        return StartAnswer(instance, created=True)
    earlier = (
        WorkflowInstance.objects.filter(
            template_id=instance.template_id, business_key=business_key, state__in=FINISHED_INSTANCE_STATES
        )
        .exclude(pk=instance.pk)
        .order_by(F("finished_at").desc(nulls_last=True))
        .first()
    )
    return StartAnswer(instance, created=True, earlier=earlier)


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
