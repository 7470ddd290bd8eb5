"""Sending "run attempt N now" to workers, after the transaction that made it ready commits.

Everything goes through `dispatch()`. (A worker that records a result may instead claim one attempt the
result made ready in the same transaction and run it itself: see attempts.py.) Losing a message only delays
work: the due-work sweep re-sends ready attempts that nobody claimed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction


@dataclass(frozen=True)
class AttemptRef:
    """Which run a worker should look at: a phase run, or one item of a map phase."""

    phase_run_id: int
    item_run_id: int | None = None
    queue: str | None = None
    countdown: float | None = None


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
    from django.conf import settings

    # By the task's name: the runtime sends to the Celery interface, it does not import it (the tasks
    # import the services, which import the runtime).
    current_app.send_task(
        ATTEMPT_TASK,
        args=[ref.phase_run_id, ref.item_run_id],
        queue=ref.queue or settings.CELERY_TASK_DEFAULT_QUEUE,
        countdown=ref.countdown,
    )
