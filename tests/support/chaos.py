"""What the fault suite checks and measures, by SQL over the ledger and the audit trail."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from django.db import connection
from django.db.models import Count

from engine.models import PhaseRun, Transition, WorkflowInstance
from engine.runtime.start import start_instance
from tests.support.activities import LEDGER_TABLE
from tests.support.engine import publish, template


def ledger_chain(key: str, length: int = 3, *, seconds: float = 0.0, **phase: Any) -> None:
    """A chain of `length` ledger phases that retry what a lost worker left (up to many times)."""
    retry = {"max_attempts": 30, "initial_interval": "PT0.2S", "backoff": 1.5, "max_interval": "PT2S"}
    phases = [
        {
            "id": f"s{index}",
            "type": "task",
            "activity": "test.ledger",
            "retry": retry,
            "input": {"seconds": str(seconds)},
            **({"depends_on": [f"s{index - 1}"]} if index else {}),
            **phase,
        }
        for index in range(length)
    ]
    publish(template(key, *phases))


def start_many(key: str, count: int) -> list[Any]:
    return [start_instance(key, {}).pk for _ in range(count)]


def finished(ids: list[Any]) -> int:
    return WorkflowInstance.objects.filter(pk__in=ids, state__in=["completed", "failed", "cancelled"]).count()


def ledger_calls() -> Counter[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, COUNT(*) FROM {LEDGER_TABLE} GROUP BY key")
        return Counter(dict(cursor.fetchall()))


def check_ledger(ids: list[Any]) -> dict[str, Any]:
    """Nothing missing (every completed task phase has its effect), nothing succeeded twice (one `complete`
    per phase run and round); extra calls are effects repeated because a worker was lost."""
    calls = ledger_calls()
    runs = PhaseRun.objects.filter(instance_id__in=ids, phase_type="task")
    expected = {
        f"{instance_id}:{phase_id}:{round_}"
        for instance_id, phase_id, round_ in runs.filter(state="completed").values_list(
            "instance_id", "phase_id", "round"
        )
    }
    missing = sorted(expected - set(calls))
    twice = (
        Transition.objects.filter(
            instance_id__in=ids, name="complete", item_run=None, phase_run__phase_type="task"
        )
        .values("phase_run_id", "round")
        .annotate(times=Count("id"))
        .filter(times__gt=1)
    )
    mine = {key: count for key, count in calls.items() if key.split(":")[0] in {str(i) for i in ids}}
    return {
        "completed": WorkflowInstance.objects.filter(pk__in=ids, state="completed").count(),
        "instances": len(ids),
        "missing": len(missing),
        "succeeded_twice": twice.count(),
        "extra_calls": sum(count - 1 for count in mine.values()),
    }


def worst_reap_delay(ids: list[Any], lease_seconds: float) -> float | None:
    """The longest time from a lease's expiry to the reaper's transition for it, in seconds."""
    reaps = Transition.objects.filter(
        instance_id__in=ids, actor_label="system:reaper", name__in=["wait_retry", "fail"]
    )
    worst = None
    for reap in reaps:
        claim = (
            Transition.objects.filter(
                phase_run_id=reap.phase_run_id,
                item_run_id=reap.item_run_id,
                name="claim_attempt",
                id__lt=reap.id,
            )
            .order_by("-id")
            .first()
        )
        if claim is None:
            continue
        delay = (reap.created_at - claim.created_at - timedelta(seconds=lease_seconds)).total_seconds()
        worst = delay if worst is None else max(worst, delay)
    return None if worst is None else round(worst, 1)
