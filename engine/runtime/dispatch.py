"""Sending "run attempt N now" to workers, after the transaction that made it ready commits.

Everything goes through `dispatch()`. (A worker that records a result may instead claim one attempt the
result made ready in the same transaction and run it itself: see attempts.py.) Losing a message only delays
work: the due-work sweep re-sends ready attempts that nobody claimed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from engine.definition.plan import PhasePlan
from engine.models import WorkflowInstance

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClaimHint:
    """What the transaction that made a phase run ready knew of it, sent along so that the worker can lock
    the instance and claim the run in one round trip (attempts.py, `hotpath.claim_hinted`) instead of
    reading the run first. Every value is a fence of the claim: if one no longer holds (a duplicate
    delivery, a reopen, a migration to another version), the claim takes nothing and the worker falls back
    to reading the run."""

    instance_id: str
    version_id: int
    checksum: str  # of the version's definition: the worker finds the compiled plan by it
    phase_id: str
    round: int
    attempt: int

    def to_message(self) -> list[Any]:
        return list(astuple(self))

    @classmethod
    def from_message(cls, values: Sequence[Any] | None) -> ClaimHint | None:
        """The hint a message carried; None for a message without one (or of another shape)."""
        if not isinstance(values, list | tuple) or len(values) != 6:
            return None
        instance_id, version_id, checksum, phase_id, round_, attempt = values
        return cls(str(instance_id), int(version_id), str(checksum), str(phase_id), int(round_), int(attempt))


@dataclass(frozen=True)
class AttemptRef:
    """Which run a worker should look at: a phase run, or one item of a map phase."""

    phase_run_id: int
    item_run_id: int | None = None
    queue: str | None = None
    countdown: float | None = None
    hint: ClaimHint | None = None


def ready_ref(instance: WorkflowInstance, spec: PhasePlan, phase_run_id: int, round_: int) -> AttemptRef:
    """The message for a phase run just made ready from pending (attempt 0), with its claim hint."""
    version = instance.version
    hint = ClaimHint(str(instance.pk), version.pk, version.checksum, spec.id, round_, 0)
    return AttemptRef(phase_run_id, queue=spec.queue, hint=hint)


def dispatch(refs: Sequence[AttemptRef]) -> None:
    """Send the refs once the current transaction commits (at once outside a transaction)."""
    if refs:
        refs = list(refs)
        transaction.on_commit(lambda: _send(refs))


def _send(refs: list[AttemptRef]) -> None:
    for ref in refs:
        send_to_broker(ref)


ATTEMPT_TASK = "engine.tasks.attempt_run"


def send_to_broker(ref: AttemptRef) -> None:
    """Send one ref now. Every message the engine sends goes through here (tests replace `celery_send`)."""
    celery_send(ref)


def celery_send(ref: AttemptRef) -> None:
    from celery import current_app

    # By the task's name: the runtime sends to the Celery interface, it does not import it (the tasks
    # import the services, which import the runtime).
    current_app.send_task(
        ATTEMPT_TASK,
        args=[ref.phase_run_id, ref.item_run_id],
        kwargs={"hint": ref.hint.to_message()} if ref.hint else None,
        queue=ref.queue or settings.CELERY_TASK_DEFAULT_QUEUE,
        countdown=ref.countdown,
    )


# How long a queue's depth, as last read, stands for the depth now (a read per second and process at most).
BACKLOG_TTL = 1.0
_depths: dict[str | None, tuple[float, int]] = {}


def backlog_is_long(queue: str | None) -> bool:
    """Whether `queue` held PHASEGATE_KEEP_LOCAL_BACKLOG messages or more (0: never) when `note_backlog`
    last read it, so that a ready attempt sent there now would wait behind them: a worker that made it
    ready runs it itself instead. Never asks the broker: the decision costs no round trip."""
    threshold = settings.PHASEGATE["KEEP_LOCAL_BACKLOG"]
    seen = _depths.get(queue)
    return threshold > 0 and seen is not None and seen[1] >= threshold


def note_backlog(queue: str | None) -> None:
    """Read the queue's depth from the broker unless it was read less than BACKLOG_TTL ago (outside any
    transaction: a broker that is slow to answer holds up no lock)."""
    if settings.PHASEGATE["KEEP_LOCAL_BACKLOG"] <= 0:
        return
    now = time.monotonic()
    seen = _depths.get(queue)
    if seen is None or now - seen[0] >= BACKLOG_TTL:
        _depths[queue] = (now, queue_depth(queue))


def queue_depth(queue: str | None) -> int:
    """How many messages wait in the queue now, as the broker says (tests replace `celery_queue_depth`)."""
    return celery_queue_depth(queue)


def celery_queue_depth(queue: str | None) -> int:
    from celery import current_app

    name = queue or settings.CELERY_TASK_DEFAULT_QUEUE
    try:
        with current_app.pool.acquire(block=True, timeout=1) as connection:
            connection.ensure_connection(max_retries=1, timeout=1)
            return int(connection.default_channel.queue_declare(queue=name, passive=True).message_count)
    except Exception:  # no such queue yet, or the broker is away: no backlog to avoid
        logger.debug("could not read the depth of queue %s", name, exc_info=True)
        return 0
