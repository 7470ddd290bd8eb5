"""Celery signal handlers: queue wait of attempt messages, heartbeats of the periodic sweeps.

They live outside the tasks and the runtime so that both stay thin: the sending side stamps each attempt
message with the time it was sent, the worker side measures how long it waited; a sweep that finished
writes its heartbeat row.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun, worker_process_shutdown
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

ATTEMPT_TASK = "engine.tasks.attempt_run"
SENT_AT_HEADER = "phasegate_sent_at"
# The periodic tasks whose last run the readiness check and the dashboard look at.
SWEEP_TASKS = {
    "engine.tasks.due_work_dispatch": "due_work",
    "engine.tasks.leases_reap": "reaper",
    "engine.tasks.sla_sweep": "sla",
    "engine.tasks.outbox_deliver": "outbox",
    "engine.tasks.webhooks_deliver": "webhooks",
    "engine.tasks.schedules_fire": "schedules",
    "engine.tasks.figures_count": "figures",
}


def connect() -> None:
    before_task_publish.connect(stamp_sent_at, weak=False, dispatch_uid="phasegate.stamp_sent_at")
    task_prerun.connect(measure_queue_wait, weak=False, dispatch_uid="phasegate.queue_wait")
    task_postrun.connect(sweep_heartbeat, weak=False, dispatch_uid="phasegate.sweep_heartbeat")
    worker_process_shutdown.connect(process_gone, weak=False, dispatch_uid="phasegate.process_gone")


def stamp_sent_at(sender: str | None = None, headers: dict[str, Any] | None = None, **_: Any) -> None:
    if sender == ATTEMPT_TASK and headers is not None:
        headers[SENT_AT_HEADER] = time.time()


def measure_queue_wait(task: Any = None, **_: Any) -> None:
    if task is None or task.name != ATTEMPT_TASK:
        return
    request = task.request
    sent_at = getattr(request, SENT_AT_HEADER, None) or (request.headers or {}).get(SENT_AT_HEADER)
    if not isinstance(sent_at, int | float):
        return  # sent by a process without this hook, or run in-process (no queue)
    start = float(sent_at)
    eta = _timestamp(getattr(request, "eta", None))
    if eta is not None:
        start = max(start, eta)  # a retry's countdown is intended delay, not waiting
    queue = (getattr(request, "delivery_info", None) or {}).get("routing_key") or ""
    from engine.observability.instruments import observe_queue_wait

    observe_queue_wait(queue, time.time() - start)


def _timestamp(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


def sweep_heartbeat(sender: Any = None, retval: Any = None, state: str | None = None, **_: Any) -> None:
    name = SWEEP_TASKS.get(getattr(sender, "name", ""))
    if name is None or state != "SUCCESS":
        return
    record_heartbeat(name, retval if isinstance(retval, int) else None)


def record_heartbeat(name: str, result: int | None) -> None:
    from engine.models import SweepHeartbeat

    now = timezone.now()
    try:
        if not SweepHeartbeat.objects.filter(name=name).update(last_run_at=now, last_result=result):
            try:
                with transaction.atomic():
                    SweepHeartbeat.objects.create(name=name, last_run_at=now, last_result=result)
            except IntegrityError:  # another worker created it in between: theirs is as fresh
                pass
    except DatabaseError:
        logger.warning("could not record the heartbeat of sweep %s", name, exc_info=True)


def process_gone(pid: int | None = None, **_: Any) -> None:
    import os

    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid or os.getpid())
