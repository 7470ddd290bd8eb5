"""Celery tasks: thin; each calls one function of `engine.services.background`. Arguments are ids, never model
instances. The services are imported inside the tasks so that loading this module (Celery does at start)
stays cheap."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(bind=True, name="engine.tasks.attempt_run", acks_late=True, ignore_result=True, max_retries=5)
def attempt_run(
    self: Any, phase_run_id: int, item_run_id: int | None = None, hint: list[Any] | None = None
) -> int:
    """Run the attempt if it is still ready; retry timing is the engine's, kept in the database.

    A lock wait that timed out (someone holds the rows, perhaps a frozen process) is tried again in a
    moment instead of waiting for the sweep: a claim that failed took nothing, and a repeated message for
    an attempt already claimed does nothing.
    """
    from django.db import OperationalError

    from config.database import is_busy
    from engine.services import background

    try:
        return background.attempt_run(phase_run_id=phase_run_id, item_run_id=item_run_id, hint=hint)
    except OperationalError as exc:
        if is_busy(exc):
            raise self.retry(countdown=1) from exc
        raise


@shared_task(name="engine.tasks.due_work_dispatch", ignore_result=True)
def due_work_dispatch() -> int:
    from engine.services import background

    return background.due_work_dispatch()


@shared_task(name="engine.tasks.leases_reap", ignore_result=True)
def leases_reap() -> int:
    from engine.services import background

    return background.leases_reap()


@shared_task(name="engine.tasks.sla_sweep", ignore_result=True)
def sla_sweep() -> int:
    from engine.services import background

    return background.sla_sweep()


@shared_task(name="engine.tasks.outbox_deliver", ignore_result=True)
def outbox_deliver() -> int:
    from engine.services import background

    return background.outbox_deliver()


@shared_task(name="engine.tasks.outbox_prune", ignore_result=True)
def outbox_prune() -> int:
    """Delete delivered outbox events older than PHASEGATE_OUTBOX_RETENTION, in bounded batches."""
    from engine.services.retention import outbox_prune as prune

    return prune()


@shared_task(name="engine.tasks.webhooks_deliver", ignore_result=True, soft_time_limit=240, time_limit=300)
def webhooks_deliver() -> int:
    from engine.services import background

    return background.webhooks_deliver()


@shared_task(name="engine.tasks.schedules_fire", ignore_result=True)
def schedules_fire() -> int:
    from engine.services import background

    return background.schedules_fire()


@shared_task(name="engine.tasks.compensation_run", acks_late=True, ignore_result=True)
def compensation_run(compensation_id: int) -> bool:
    from engine.services import background

    return background.compensation_run(compensation_id=compensation_id)


@shared_task(name="engine.tasks.compensations_due", ignore_result=True)
def compensations_due() -> int:
    from engine.services import background

    return background.compensations_due()


@shared_task(name="engine.tasks.subworkflows_reconcile", ignore_result=True)
def subworkflows_reconcile() -> int:
    from engine.services import background

    return background.subworkflows_reconcile()


@shared_task(name="engine.tasks.figures_count", ignore_result=True)
def figures_count() -> int:
    """Count the dashboard's last closed hours again, and a batch of older hours never counted."""
    from engine.services.figures import figures_count as count

    return count()
