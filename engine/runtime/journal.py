"""The one way a state changes: run the transition, save, and record it in the same transaction.

    with unit_of_work():
        apply_transition(phase_run, "complete", actor=actor, output=output, at=now)

`apply_transition` saves the object (ConcurrentTransitionMixin turns a lost race into ConcurrentTransition)
and queues an audit row and an outbox event. The outermost `unit_of_work` writes the queued rows with one
bulk insert each before it commits, so a state change and its record can never part.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db import transaction

from engine.models import Event, ItemRun, PhaseRun, Transition, WorkflowInstance
from engine.runtime.actors import Actor


class _Pending(threading.local):
    def __init__(self) -> None:
        self.depth = 0
        self.transitions: list[Transition] = []
        self.events: list[Event] = []


_pending = _Pending()


@contextmanager
def unit_of_work() -> Iterator[None]:
    """An atomic block that flushes the audit trail and outbox before it commits."""
    with transaction.atomic():
        _pending.depth += 1
        try:
            yield
            if _pending.depth == 1:
                _flush()
        except BaseException:
            if _pending.depth == 1:
                _pending.transitions.clear()
                _pending.events.clear()
            raise
        finally:
            _pending.depth -= 1


def _flush() -> None:
    transitions, events = _pending.transitions, _pending.events
    _pending.transitions, _pending.events = [], []
    if transitions:
        Transition.objects.bulk_create(transitions)
    if events:
        created = Event.objects.bulk_create(events)
        from engine.events import deliver_after_commit

        deliver_after_commit([event.pk for event in created if event.pk is not None])


def _subject(obj: Any) -> tuple[WorkflowInstance | None, str, dict[str, Any]]:
    """The instance, event prefix and audit foreign keys for a transitioned object."""
    if isinstance(obj, WorkflowInstance):
        return obj, "instance", {"instance_id": obj.pk}
    if isinstance(obj, PhaseRun):
        fields = {
            "instance_id": obj.instance_id,
            "phase_run_id": obj.pk,
            "phase_id": obj.phase_id,
            "round": obj.round,
        }
        return None, "phase", fields
    if isinstance(obj, ItemRun):
        fields = {"instance_id": obj.instance_id, "phase_run_id": obj.phase_run_id, "item_run_id": obj.pk}
        return None, "item", {**fields, "round": obj.round}
    raise TypeError(f"cannot record a transition of {type(obj).__name__}")


def apply_transition(
    obj: WorkflowInstance | PhaseRun | ItemRun,
    name: str,
    *,
    actor: Actor,
    reason: str = "",
    metadata: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> None:
    """Run transition `name` on `obj`, save it, and queue its audit row and outbox event.

    Must run inside `unit_of_work()`. Raises TransitionNotAllowed when the state does not allow it and
    ConcurrentTransition when someone else changed the state since `obj` was read.
    """
    if _pending.depth == 0:
        raise RuntimeError("apply_transition must run inside unit_of_work()")
    source = obj.state
    getattr(obj, name)(**kwargs)
    obj.save()
    record(obj, name, source=source, target=obj.state, actor=actor, reason=reason, metadata=metadata)


def record(
    obj: WorkflowInstance | PhaseRun | ItemRun,
    name: str,
    *,
    source: str,
    target: str,
    actor: Actor,
    reason: str = "",
    metadata: Mapping[str, Any] | None = None,
    emit: bool = True,
) -> None:
    """Queue an audit row (and an outbox event) for an action on `obj`, even one that keeps the state."""
    if _pending.depth == 0:
        raise RuntimeError("record must run inside unit_of_work()")
    _, prefix, fields = _subject(obj)
    _pending.transitions.append(
        Transition(
            **fields,
            name=name,
            source=source,
            target=target,
            actor=actor.user,
            actor_label=actor.label,
            reason=reason,
            metadata=dict(metadata or {}),
        )
    )
    if emit and prefix != "item":
        payload = {
            "instance_id": str(fields["instance_id"]),
            "phase_id": fields.get("phase_id", ""),
            "transition": name,
            "source": source,
            "target": target,
            "actor": actor.label,
        }
        event_name = f"{prefix}.{target}" if source != target else f"{prefix}.{name}"
        _pending.events.append(Event(instance_id=fields["instance_id"], name=event_name, payload=payload))


def emit_event(*, instance_id: Any, name: str, payload: Mapping[str, Any]) -> None:
    """Queue an outbox event that is not a transition (an SLA crossing, a gate failure)."""
    if _pending.depth == 0:
        raise RuntimeError("emit_event must run inside unit_of_work()")
    _pending.events.append(Event(instance_id=instance_id, name=name, payload=dict(payload)))
