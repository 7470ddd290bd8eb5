"""Failures as data: what is stored in `error`, and how an exception maps to a category."""

from __future__ import annotations

import traceback as tb
from datetime import datetime
from typing import Any

from engine.errors import RateLimitError, error_category

MAX_TRACEBACK = 8000


def error_record(
    *, category: str, message: str, at: datetime, attempt: int = 0, traceback: str = "", **extra: Any
) -> dict[str, Any]:
    """The `error` stored on a run: category, message, traceback (never frame locals), attempt, time."""
    return {
        "category": category,
        "message": message[:2000],
        "traceback": traceback[-MAX_TRACEBACK:],
        "attempt": attempt,
        "at": at.isoformat(),
        **extra,
    }


def error_from_exception(exc: BaseException, *, at: datetime, attempt: int) -> dict[str, Any]:
    extra: dict[str, Any] = {"type": type(exc).__name__}
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        extra["retry_after"] = exc.retry_after
    message = str(exc) or type(exc).__name__
    trace = "".join(tb.format_exception(type(exc), exc, exc.__traceback__))
    return error_record(
        category=error_category(exc), message=message, at=at, attempt=attempt, traceback=trace, **extra
    )


def park(instance: Any, run: Any, error: dict[str, Any], item: Any = None) -> Any:
    """Put failed work (a phase run, or one item of a map) in the dead-letter queue."""
    from engine.models import DeadLetter

    return DeadLetter.objects.create(
        instance=instance,
        phase_run=run,
        item_run=item,
        phase_id=run.phase_id,
        category=error.get("category", "system"),
        message=error.get("message", ""),
        error=error,
        attempt=(item or run).attempt,
    )
