"""What the benchmarks run: a no-op activity for the engine and a no-op Celery task for the baseline."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from engine.activities import ActivityContext, activity


@activity("bench.noop")
def noop(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """Do nothing and say which step it was."""
    return {"step": ctx.phase_id}


@shared_task(name="bench.noop_task", ignore_result=False)
def noop_task(previous: Any = None) -> int:
    """The baseline's step: a plain Celery task that does nothing but count the steps before it.

    After a group, the join receives the list of the branches' results.
    """
    if isinstance(previous, list):
        return max(previous) + 1
    return (previous or 0) + 1
