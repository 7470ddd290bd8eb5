"""Celery tasks: thin; each calls one runtime function. Arguments are ids, never model instances."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="engine.tasks.attempt_run", acks_late=True, ignore_result=True)
def attempt_run(phase_run_id: int, item_run_id: int | None = None) -> int:
    """Run the attempt if it is still ready; retry timing is the engine's, kept in the database."""
    from engine.runtime.actors import Actor
    from engine.runtime.attempts import attempt_run_chain
    from engine.runtime.dispatch import AttemptRef

    return attempt_run_chain(AttemptRef(phase_run_id, item_run_id), actor=Actor.worker())


@shared_task(name="engine.tasks.due_work_dispatch", ignore_result=True)
def due_work_dispatch() -> int:
    from engine.runtime.sweeps import due_work_dispatch as sweep

    return sweep()


@shared_task(name="engine.tasks.leases_reap", ignore_result=True)
def leases_reap() -> int:
    from engine.runtime.reaper import leases_reap as sweep

    return sweep()


@shared_task(name="engine.tasks.sla_sweep", ignore_result=True)
def sla_sweep() -> int:
    from django.utils import timezone

    from engine.runtime.sla import sla_sweep as sweep

    return sweep(now=timezone.now())


@shared_task(name="engine.tasks.outbox_deliver", ignore_result=True)
def outbox_deliver() -> int:
    from engine.events import outbox_deliver as deliver

    return deliver()


@shared_task(name="engine.tasks.outbox_prune", ignore_result=True)
def outbox_prune() -> int:
    """Delete delivered outbox events older than PHASEGATE_OUTBOX_RETENTION, in bounded batches."""
    from engine.services.retention import outbox_prune as prune

    return prune()


@shared_task(name="engine.tasks.webhooks_deliver", ignore_result=True, soft_time_limit=240, time_limit=300)
def webhooks_deliver() -> int:
    from engine.webhooks import webhooks_deliver as deliver

    return deliver()


@shared_task(name="engine.tasks.schedules_fire", ignore_result=True)
def schedules_fire() -> int:
    from engine.runtime.schedules import schedules_fire as fire

    return fire()


@shared_task(name="engine.tasks.compensation_run", acks_late=True, ignore_result=True)
def compensation_run(compensation_id: int) -> bool:
    from engine.runtime.actors import Actor
    from engine.runtime.compensation import compensation_run as run

    return run(step_id=compensation_id, actor=Actor.worker())


@shared_task(name="engine.tasks.compensations_due", ignore_result=True)
def compensations_due() -> int:
    from engine.runtime.compensation import compensations_due as sweep

    return sweep()


@shared_task(name="engine.tasks.subworkflows_reconcile", ignore_result=True)
def subworkflows_reconcile() -> int:
    from engine.runtime.subworkflows import subworkflows_reconcile as sweep

    return sweep()
