"""Sending "run attempt N now" to workers, after the transaction that made it ready commits.

Everything goes through `dispatch()`. A worker that just finished an attempt can ask to keep one of the
attempts its own commit made ready (`keep_one_local()`): it runs that one itself without a broker round trip,
and the rest go to the broker as usual. Losing a message only delays work: the due-work sweep re-sends
ready attempts that nobody claimed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction


@dataclass(frozen=True)
class AttemptRef:
    """Which run a worker should look at: a phase run, or one item of a map phase."""

    phase_run_id: int
    item_run_id: int | None = None
    queue: str | None = None
    countdown: float | None = None


class _Local(threading.local):
    def __init__(self) -> None:
        self.keeping = False
        self.kept: list[AttemptRef] = []


_local = _Local()


def dispatch(refs: Sequence[AttemptRef]) -> None:
    """Send the refs once the current transaction commits (at once outside a transaction)."""
    if refs:
        refs = list(refs)
        transaction.on_commit(lambda: _send(refs))


def _send(refs: list[AttemptRef]) -> None:
    if _local.keeping and not _local.kept:
        for position, ref in enumerate(refs):
            if not ref.countdown:
                _local.kept.append(ref)
                refs = refs[:position] + refs[position + 1 :]
                break
    for ref in refs:
        send_to_broker(ref)


def send_to_broker(ref: AttemptRef) -> None:
    """Send one ref now. Every message the engine sends goes through here (tests replace `celery_send`)."""
    celery_send(ref)


def celery_send(ref: AttemptRef) -> None:
    from django.conf import settings

    from engine.tasks import attempt_run

    attempt_run.apply_async(
        args=[ref.phase_run_id, ref.item_run_id],
        queue=ref.queue or settings.CELERY_TASK_DEFAULT_QUEUE,
        countdown=ref.countdown,
    )


@contextmanager
def keep_one_local() -> Iterator[list[AttemptRef]]:
    """Within the block, the first dispatched ref without a delay is kept for the caller instead of sent."""
    _local.keeping, _local.kept = True, []
    try:
        yield _local.kept
    finally:
        _local.keeping = False
