"""What the Celery tasks run: one attempt (and the ones it chains), the sweeps, the outbox, compensations.

The engine itself is the actor (a worker, or a sweep's system actor); the tasks pass ids only.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from engine.events import outbox_deliver
from engine.runtime import compensation, reaper, schedules, sla, subworkflows, sweeps
from engine.runtime.actors import Actor
from engine.runtime.attempts import attempt_run_chain
from engine.runtime.dispatch import AttemptRef, ClaimHint
from engine.webhooks import webhooks_deliver


def attempt_run(*, phase_run_id: int, item_run_id: int | None = None, hint: list[Any] | None = None) -> int:
    """Run the attempt if it is still ready; returns how many attempts ran in this worker's chain."""
    ref = AttemptRef(phase_run_id, item_run_id, hint=ClaimHint.from_message(hint))
    return attempt_run_chain(ref, actor=Actor.worker())


def due_work_dispatch() -> int:
    return sweeps.due_work_dispatch()


def leases_reap() -> int:
    return reaper.leases_reap()


def sla_sweep() -> int:
    return sla.sla_sweep(now=timezone.now())


def schedules_fire() -> int:
    return schedules.schedules_fire()


def compensation_run(*, compensation_id: int) -> bool:
    return compensation.compensation_run(step_id=compensation_id, actor=Actor.worker())


def compensations_due() -> int:
    return compensation.compensations_due()


def subworkflows_reconcile() -> int:
    return subworkflows.subworkflows_reconcile()


__all__ = [
    "attempt_run",
    "compensation_run",
    "compensations_due",
    "due_work_dispatch",
    "leases_reap",
    "outbox_deliver",
    "schedules_fire",
    "sla_sweep",
    "subworkflows_reconcile",
    "webhooks_deliver",
]
