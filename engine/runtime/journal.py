"""The one way a state changes: run the transition, save, and record it in the same transaction.

    with unit_of_work():
        apply_transition(phase_run, "complete", actor=actor, output=output, at=now)

`apply_transition` saves the object (ConcurrentTransitionMixin turns a lost race into ConcurrentTransition)
and queues an audit row and an outbox event. The outermost `unit_of_work` writes the queued rows with one
bulk insert each before it commits, so a state change and its record can never part.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import OperationalError, connection, transaction

from engine.models import ItemRun, PhaseRun, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.hotpath import RideAlong, insert_journal

logger = logging.getLogger(__name__)
T = TypeVar("T")


class _Pending(threading.local):
    def __init__(self) -> None:
        self.depth = 0
        # Field values of the rows to insert (see hotpath.insert_journal), not model objects.
        self.transitions: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.along: RideAlong | None = None


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
                _pending.along = None
            raise
        finally:
            _pending.depth -= 1


def flush_queued() -> None:
    """Write the rows queued so far now, still inside the unit of work, for a reader of the audit trail
    that runs before the outermost unit commits (an override wraps the operation in a unit of its own).
    Outside a unit of work nothing is queued, so there is nothing to write."""
    if _pending.depth:
        _flush()


def ride_along(statement: RideAlong) -> None:
    """Run `statement` with this unit of work's journal insert (see hotpath.RideAlong)."""
    if _pending.depth == 0 or _pending.along is not None:
        raise RuntimeError("ride_along needs a unit of work with no other statement riding along")
    _pending.along = statement


def _flush() -> None:
    transitions, events, along = _pending.transitions, _pending.events, _pending.along
    _pending.transitions, _pending.events, _pending.along = [], [], None
    if transitions or events or along:
        from engine.events import deliver_after_commit

        deliver_after_commit(insert_journal(transitions, events, along))


# Deadlock and serialisation failures: the database rolled the whole transaction back, so running the unit of
# work again from the start is safe (nothing outside the database happened: messages and event delivery wait
# for the commit).
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
MAX_RETRIES = 5


def retryable(exc: BaseException) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def retrying(work: Callable[[], T]) -> T:
    """Run `work` (which opens its own `unit_of_work`), again if the database chose it as a deadlock victim.

    Bounded: after MAX_RETRIES the error propagates. Inside an outer transaction there is nothing to retry
    (the outer block is broken), so the error propagates at once.
    """
    for attempt in range(MAX_RETRIES + 1):
        try:
            return work()
        except OperationalError as exc:
            if attempt == MAX_RETRIES or connection.in_atomic_block or not retryable(exc):
                raise
            logger.info(
                "unit of work retried after %s (attempt %s)", exc.__cause__.__class__.__name__, attempt + 1
            )
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise AssertionError("unreachable")


def subject_of(obj: Any) -> tuple[WorkflowInstance | None, str, dict[str, Any]]:
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
    if isinstance(obj, WorkflowInstance) and obj.parent_phase_run_id is not None and obj.is_finished:
        from engine.runtime.subworkflows import notify_parent

        notify_parent(obj)


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
    _, prefix, fields = subject_of(obj)
    record_fields(
        prefix,
        fields,
        name,
        source=source,
        target=target,
        actor=actor,
        reason=reason,
        metadata=metadata,
        emit=emit,
    )


def record_fields(
    prefix: str,
    fields: dict[str, Any],
    name: str,
    *,
    source: str,
    target: str,
    actor: Actor,
    reason: str = "",
    metadata: Mapping[str, Any] | None = None,
    emit: bool = True,
) -> None:
    """`record` for a row the caller did not load: `fields` are the audit row's keys (see `subject_of`)."""
    if _pending.depth == 0:
        raise RuntimeError("record must run inside unit_of_work()")
    transition, event = journal_rows(
        prefix, fields, name, source=source, target=target, actor=actor, reason=reason, metadata=metadata
    )
    queue_rows(transition, event if emit else None)


def journal_rows(
    prefix: str,
    fields: dict[str, Any],
    name: str,
    *,
    source: str,
    target: str,
    actor: Actor,
    reason: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The audit row and the outbox event (None for map items) of an action, as field values: what
    `record_fields` queues, for a statement that writes them itself (the completion of a step)."""
    transition = {
        **fields,
        "name": name,
        "source": source,
        "target": target,
        "actor_id": actor.user.pk if actor.user is not None else None,
        "actor_label": actor.label,
        "reason": reason,
        "metadata": dict(metadata or {}),
    }
    if prefix == "item":
        return transition, None
    payload = {
        "instance_id": str(fields["instance_id"]),
        "phase_id": fields.get("phase_id", ""),
        "transition": name,
        "source": source,
        "target": target,
        "actor": actor.label,
    }
    event_name = f"{prefix}.{target}" if source != target else f"{prefix}.{name}"
    return transition, {"instance_id": fields["instance_id"], "name": event_name, "payload": payload}


def queue_rows(transition: dict[str, Any], event: dict[str, Any] | None) -> None:
    """Queue rows made by `journal_rows` for the unit of work's insert."""
    if _pending.depth == 0:
        raise RuntimeError("queue_rows must run inside unit_of_work()")
    _pending.transitions.append(transition)
    if event is not None:
        _pending.events.append(event)


def queue_event_ids(ids: list[int]) -> None:
    """Outbox events written by a statement of the caller's own: delivered after the commit, as flushed
    ones are."""
    from engine.events import deliver_after_commit

    deliver_after_commit(ids)


def emit_event(*, instance_id: Any, name: str, payload: Mapping[str, Any]) -> None:
    """Queue an outbox event that is not a transition (an SLA crossing, a gate failure)."""
    if _pending.depth == 0:
        raise RuntimeError("emit_event must run inside unit_of_work()")
    _pending.events.append({"instance_id": instance_id, "name": name, "payload": dict(payload)})
