"""Enforcing an attempt's `timeout` inside the worker process, where the platform allows it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any


class AttemptTimeout(TimeoutError):
    """The attempt ran past its phase's `timeout`."""


@contextmanager
def time_limit(limit: timedelta | None) -> Iterator[None]:
    """Raise AttemptTimeout in the running code after `limit`.

    Only the main thread can receive SIGALRM, which is where Celery's prefork and solo pools run tasks.
    In other threads the limit is still enforced from outside: the lease expires, the reaper fails the
    attempt.
    """
    usable = (
        limit is not None
        and hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    assert limit is not None

    def on_alarm(signum: int, frame: Any) -> None:
        raise AttemptTimeout(f"the attempt ran longer than its timeout of {limit}")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(limit.total_seconds(), 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
