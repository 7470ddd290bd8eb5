"""The lease reaper: an attempt whose lease expired lost its worker; it fails as `transient` ("worker lost").

Most expired leases just wait for a retry, and those are settled set-based: one query locks a batch of
expired runs together with their instances (skipping any that someone holds: a worker recording a result
right now, or a process frozen inside a transaction), one update moves them all to `waiting`, and the
audit rows and outbox events go in one insert each. Only the rare attempt that fails for good (no retries
left, or a poison activity) takes a whole engine cycle, and a bounded number of those per tick. A row that
cannot be reaped is logged and left; the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DatabaseError
from django.db.models.functions import Now

from engine.models import ItemRun, PhaseRun, PhaseState, TemplateVersion
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer, load_runs, lock_instance
from engine.runtime.bulk import update_rows
from engine.runtime.clock import db_now
from engine.runtime.dispatch import AttemptRef, dispatch
from engine.runtime.failures import error_record
from engine.runtime.journal import record, unit_of_work
from engine.runtime.plans import plan_for
from engine.runtime.retries import FailureOutcome, failure_outcome, handle_attempt_failure, retry_ref

logger = logging.getLogger(__name__)
BATCH = 500
BATCHES_PER_TICK = 4
# Attempts that fail for good each advance their instance (a whole engine cycle): a few per tick.
FINAL_PER_TICK = 50
REAPER = Actor.system("reaper")
RETRY_FIELDS = [
    "state",
    "error",
    "next_run_at",
    "sent_at",
    "lost_attempts",
    "lease_token",
    "lease_expires_at",
]


@dataclass
class Tick:
    """What one reaper tick did and what it left for the engine cycle."""

    retried: int = 0
    final: list[tuple[type[PhaseRun] | type[ItemRun], int, object, str | None]] = field(default_factory=list)


def leases_reap() -> int:
    """Reap attempts whose lease expired, in bounded batches; return how many were reaped."""
    tick = Tick()
    for model in (PhaseRun, ItemRun):
        last = 0
        for _ in range(BATCHES_PER_TICK):
            last = _reap_batch(model, tick, after=last)
            if last == 0:
                break
    reaped = tick.retried
    for model, pk, instance_id, token in tick.final[:FINAL_PER_TICK]:
        reaped += reap_one(instance_id=instance_id, model=model, pk=pk, token=token)
    return reaped


def lost_error(run: PhaseRun | ItemRun, now: datetime) -> dict[str, object]:
    message = f"worker lost: the lease held by {run.lease_owner or 'a worker'} expired"
    return error_record(category="transient", message=message, at=now, attempt=run.attempt, lost=True)


def _reap_batch(model: type[PhaseRun] | type[ItemRun], tick: Tick, *, after: int) -> int:
    """Retry one batch of expired attempts set-based and note the others; return the last pk (0: none)."""
    with unit_of_work():
        rows = _expired_batch(model, after=after)
        if not rows:
            return 0
        versions = TemplateVersion.objects.defer("definition").in_bulk(
            {row.instance.version_id for row in rows}
        )
        retried: list[PhaseRun | ItemRun] = []
        refs: list[AttemptRef] = []
        for run in rows:
            now = db_now(run)
            phase_run = run.owning_run
            try:
                spec = plan_for(versions[run.instance.version_id]).phases[phase_run.phase_id]
                outcome = failure_outcome(spec.retry, run, lost_error(run, now), lost=True, now=now)
            except Exception:  # nothing is written yet: skip the row, reap the rest
                logger.exception("cannot reap %s #%s of instance %s", model.__name__, run.pk, run.instance_id)
                continue
            if outcome.retry_in is None:
                tick.final.append((model, run.pk, run.instance_id, run.lease_token))
                continue
            _wait_retry(run, outcome, now)
            retried.append(run)
            refs.append(retry_ref(phase_run, run, spec, outcome.retry_in))
        if retried:
            update_rows(retried, [*RETRY_FIELDS, "updated_at"])
            dispatch(refs)
            logger.warning(
                "reaped %d expired %s leases (worker lost); retries scheduled", len(retried), model.__name__
            )
        tick.retried += len(retried)
        return rows[-1].pk


def _expired_batch(model: type[PhaseRun] | type[ItemRun], *, after: int) -> list[PhaseRun | ItemRun]:
    """The next batch of attempts whose lease ran out, locked (skipping rows someone else holds)."""
    related = ["instance", "phase_run"] if model is ItemRun else ["instance"]
    expired = (
        model._default_manager.filter(state=PhaseState.ACTIVE, lease_expires_at__lt=Now(), pk__gt=after)
        .select_related(*related)
        .select_for_update(skip_locked=True, of=("self", "instance"))
        .annotate(db_now=Now())
        .order_by("pk")
    )
    return list(expired[:BATCH])


def _wait_retry(run: PhaseRun | ItemRun, outcome: FailureOutcome, now: datetime) -> None:
    """The `wait_retry` transition in memory, with its audit row; the caller saves the batch in one update."""
    assert outcome.retry_in is not None
    source = run.state
    run.wait_retry(error=outcome.error, next_run_at=now + outcome.retry_in, lost=True)
    run.updated_at = now
    record(
        run,
        "wait_retry",
        source=source,
        target=run.state,
        actor=REAPER,
        reason=outcome.reason,
        metadata=outcome.retry_metadata(run),
    )


def reap_one(
    *, instance_id: object, model: type[PhaseRun] | type[ItemRun], pk: int, token: str | None
) -> int:
    """Fail an expired attempt for good through a whole engine cycle (dead letter, `on_fail`, the map)."""
    try:
        with unit_of_work():
            instance = lock_instance(instance_id)
            runs = load_runs(instance)
            run: PhaseRun | ItemRun = model.objects.get(pk=pk)
            if isinstance(run, PhaseRun):
                run = runs[run.phase_id]
            now = db_now(instance)
            # Re-check under the lock: the worker may have finished or heartbeated since the batch query.
            expired = run.lease_expires_at is not None and run.lease_expires_at < now
            if run.state != PhaseState.ACTIVE or run.lease_token != token or not expired:
                return 0
            phase_id = run.owning_run.phase_id
            phase_run = runs[phase_id]
            advancer = Advancer(instance, actor=REAPER, now=now, runs=runs)
            handle_attempt_failure(advancer, phase_run, run, lost_error(run, now), lost=True)
            advancer.run()
    except DatabaseError:
        # A lock wait that timed out (a frozen holder) or a lost connection: the next tick tries again.
        logger.warning(
            "could not reap %s #%s of instance %s now", model.__name__, pk, instance_id, exc_info=True
        )
        return 0
    except Exception:
        logger.exception("reaping %s #%s of instance %s failed; going on", model.__name__, pk, instance_id)
        return 0
    logger.warning("reaped %s #%s of instance %s for good: worker lost", model.__name__, pk, instance_id)
    return 1
