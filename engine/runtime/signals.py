"""Outside signals that `wait` phases wait for: delivered at once, or buffered until such a phase opens.

A signal whose wait phase has not opened yet is kept for the phase's `buffer` (or PHASEGATE_SIGNAL_BUFFER_
SECONDS) and consumed, oldest first, when the phase opens (`consume_buffered`, called by the wait kind).
A client-supplied delivery id makes a repeated delivery return the first one's result and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from engine.errors import Conflict, NotFound
from engine.models import PhaseRun, PhaseState, Signal, SignalState, WorkflowInstance, WorkflowTemplate
from engine.models.states import UNFINISHED_INSTANCE_STATES
from engine.runtime.actors import Actor
from engine.runtime.journal import record
from engine.runtime.kinds.wait import WAIT
from engine.runtime.operations import locked

NOT_OPEN_YET = (PhaseState.PENDING, PhaseState.READY)


@dataclass(frozen=True)
class Delivery:
    """What became of a signal: the phases it completed now, or that it was kept for later."""

    signal: str
    completed: tuple[str, ...]
    buffered: bool
    duplicate: bool = False
    expires_at: Any = None
    delivery_id: str | None = None


def deliver_signal(
    *,
    instance_id: Any,
    name: str,
    payload: dict[str, Any] | None,
    actor: Actor,
    delivery_id: str | None = None,
) -> Delivery:
    """Complete every phase waiting for signal `name` with `payload` as output, or keep the signal for a
    wait phase that has not opened yet.

    Raises Conflict when no phase of the instance waits or will wait for it (or buffering is off for it).
    """
    with locked(instance_id, actor) as adv:
        if delivery_id:
            earlier = Signal.objects.filter(instance_id=instance_id, delivery_id=delivery_id).first()
            if earlier is not None:
                return _repeat(earlier, name)
        waiting = [
            adv.runs[phase_id]
            for phase_id, state in adv.runs.states().items()
            if state == PhaseState.WAITING and adv.plan.phases[phase_id].signal == name
        ]
        payload = dict(payload or {})
        if waiting:
            for run in waiting:
                WAIT.signal(adv, run, name, payload)
            completed = tuple(run.phase_id for run in waiting)
            _store(adv.instance, name, payload, delivery_id, actor, SignalState.DELIVERED, list(completed))
            return Delivery(name, completed, buffered=False, delivery_id=delivery_id)
        ttl = _buffer_for(adv, name)
        if ttl is None:
            raise Conflict(f"no phase of this instance is waiting for signal {name!r}", signal=name)
        expires_at = adv.now + ttl
        signal = _store(adv.instance, name, payload, delivery_id, actor, SignalState.BUFFERED, [], expires_at)
        record(
            adv.instance,
            "signal_buffered",
            source=adv.instance.state,
            target=adv.instance.state,
            actor=actor,
            metadata={"signal": name, "signal_id": signal.pk, "expires_at": expires_at.isoformat()},
        )
        return Delivery(name, (), buffered=True, expires_at=expires_at, delivery_id=delivery_id)


def _buffer_for(adv: Any, name: str) -> timedelta | None:
    """How long to keep `name` for the wait phases that have not opened yet; None when it is not kept."""
    if adv.instance.state not in UNFINISHED_INSTANCE_STATES:
        return None
    default = timedelta(seconds=settings.PHASEGATE["SIGNAL_BUFFER_SECONDS"])
    buffers = [
        spec.signal_buffer if spec.signal_buffer is not None else default
        for phase_id, spec in adv.plan.phases.items()
        if spec.signal == name and adv.runs.state(phase_id) in NOT_OPEN_YET
    ]
    longest = max(buffers, default=timedelta(0))
    return longest if longest > timedelta(0) else None


def _store(
    instance: WorkflowInstance,
    name: str,
    payload: dict[str, Any],
    delivery_id: str | None,
    actor: Actor,
    state: str,
    phase_ids: list[str],
    expires_at: Any = None,
) -> Signal:
    # The instance row is locked, so two deliveries with one id cannot both get here; the constraint is the
    # second guard.
    with transaction.atomic():
        return Signal.objects.create(
            instance=instance,
            name=name,
            payload=payload,
            delivery_id=delivery_id or None,
            state=state,
            phase_ids=phase_ids,
            expires_at=expires_at,
            actor_label=actor.label,
        )


def _repeat(earlier: Signal, name: str) -> Delivery:
    if earlier.name != name:
        raise Conflict(
            f"delivery id {earlier.delivery_id!r} was already used for signal {earlier.name!r}",
            delivery_id=earlier.delivery_id,
        )
    return Delivery(
        earlier.name,
        tuple(earlier.phase_ids),
        buffered=earlier.state == SignalState.BUFFERED,
        duplicate=True,
        expires_at=earlier.expires_at,
        delivery_id=earlier.delivery_id,
    )


def consume_buffered(adv: Any, run: PhaseRun, name: str) -> bool:
    """A wait phase for `name` just opened: complete it with the oldest buffered, unexpired signal, if any."""
    signal = (
        Signal.objects.filter(
            instance_id=adv.instance.pk, name=name, state=SignalState.BUFFERED, expires_at__gt=adv.now
        )
        .order_by("id")
        .first()
    )
    if signal is None:
        return False
    signal.state, signal.consumed_at, signal.phase_ids = SignalState.CONSUMED, adv.now, [run.phase_id]
    signal.save(update_fields=["state", "consumed_at", "phase_ids"])
    WAIT.signal(adv, run, name, signal.payload, buffered_signal_id=signal.pk)
    return True


def deliver_signal_by_key(
    *,
    template_key: str,
    business_key: str,
    name: str,
    payload: dict[str, Any] | None,
    actor: Actor,
    delivery_id: str | None = None,
    visible: Any = None,
) -> tuple[WorkflowInstance, Delivery]:
    """Deliver to the unfinished instance of `template_key` with `business_key` (there is at most one).

    `visible(instance)` is called before anything changes (the caller's permission check).
    """
    instance = find_by_business_key(template_key=template_key, business_key=business_key)
    if visible is not None:
        visible(instance)
    try:
        delivery = deliver_signal(
            instance_id=instance.pk, name=name, payload=payload, actor=actor, delivery_id=delivery_id
        )
    except IntegrityError:  # a delivery with the same id committed between our check and our insert
        delivery = deliver_signal(
            instance_id=instance.pk, name=name, payload=payload, actor=actor, delivery_id=delivery_id
        )
    return instance, delivery


def find_by_business_key(*, template_key: str, business_key: str) -> WorkflowInstance:
    if not WorkflowTemplate.objects.filter(key=template_key).exists():
        raise NotFound(f"no template {template_key!r}")
    instance = (
        WorkflowInstance.objects.filter(
            template__key=template_key, business_key=business_key, state__in=UNFINISHED_INSTANCE_STATES
        )
        .order_by("created_at")
        .first()
    )
    if instance is None:
        raise NotFound(f"no unfinished instance of {template_key!r} with business key {business_key!r}")
    return instance
