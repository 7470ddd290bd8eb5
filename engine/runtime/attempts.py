"""Running one attempt of automated work: claim it under a lease, run the activity, record what happened.

The claim is a conditional update (ConcurrentTransitionMixin saves `… WHERE state = 'ready'`), so a duplicate
delivery of the same message finds nothing to claim and does nothing. The activity runs outside any
transaction. Its result is accepted only while the attempt still holds its lease token: a worker that was
presumed dead and comes back late changes nothing.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models.functions import Now
from django_fsm import ConcurrentTransition

from engine.activities import ActivityContext, get_activity
from engine.definition.expressions import ExpressionError
from engine.definition.plan import PhasePlan
from engine.errors import DataError
from engine.models import InstanceState, ItemRun, PhaseRun, PhaseState, WorkflowInstance
from engine.observability.instruments import observe_step
from engine.runtime import hotpath
from engine.runtime.activation import build_activation, runs_for_activation
from engine.runtime.actors import Actor
from engine.runtime.advance import Advancer, load_runs, lock_instance
from engine.runtime.clock import db_now
from engine.runtime.dispatch import AttemptRef, backlog_is_long, dispatch, note_backlog
from engine.runtime.failures import error_from_exception, error_record
from engine.runtime.journal import (
    journal_rows,
    queue_event_ids,
    queue_rows,
    record,
    record_fields,
    retrying,
    ride_along,
    subject_of,
    unit_of_work,
)
from engine.runtime.leases import LEASE_GRACE, lease_for
from engine.runtime.limits import time_limit
from engine.runtime.plans import cached_plan, plan_for
from engine.runtime.retries import handle_attempt_failure
from engine.runtime.runbook import RunBook

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The engine gave this attempt away (its lease expired); the activity should stop."""


@dataclass
class Claim:
    """An attempt this worker holds: what to run and the token that proves it still holds it."""

    ref: AttemptRef
    instance: WorkflowInstance
    spec: PhasePlan
    run: PhaseRun | ItemRun
    token: str
    claimed_at: datetime

    @property
    def model(self) -> type[PhaseRun] | type[ItemRun]:
        return type(self.run)

    @property
    def hard_deadline(self) -> datetime | None:
        return self.claimed_at + self.spec.timeout + LEASE_GRACE if self.spec.timeout else None


# --- the entry points a Celery task calls ---------------------------------------------------------------


def attempt_run_chain(ref: AttemptRef, *, actor: Actor) -> int:
    """Run `ref`, then the attempts its completions make ready, locally, up to LOCAL_CHAIN_LIMIT in a row."""
    return attempt_run(ref, actor=actor, chain_limit=settings.PHASEGATE["LOCAL_CHAIN_LIMIT"])


def attempt_run(ref: AttemptRef, *, actor: Actor, chain_limit: int = 1) -> int:
    """Claim, run and record an attempt; returns how many attempts ran.

    With `chain_limit` above one, the transaction that records a result also claims the next attempt it made
    ready (the first one without a delay), and this worker runs it without a broker round trip.
    """
    later: list[AttemptRef] = []  # ready attempts this worker kept to run after the chain (a long backlog)
    ran = 0
    try:
        claim = attempt_claim(ref, actor=actor)
        while True:
            while claim is not None:
                output, error = observe_step(claim, execute)
                ran += 1
                more = ran < chain_limit
                kept = later if more else None
                if more:
                    note_backlog(claim.spec.queue)
                _, claim = record_and_claim_next(
                    claim, output=output, error=error, actor=actor, claim_next=more, later=kept
                )
            if not later or ran >= chain_limit:
                break
            claim = attempt_claim(later.pop(0), actor=actor)
    finally:
        dispatch(later)  # kept and not run (the chain's limit, an error): sent after all
    return ran


# --- claim ----------------------------------------------------------------------------------------------


class ClaimLost(Exception):
    """The conditional update of a claim that rode along with the journal matched nothing: the run changed
    since it was read (a duplicate delivery took it). Raised inside the unit of work, so it rolls back."""


def attempt_claim(ref: AttemptRef, *, actor: Actor) -> Claim | None:
    """Take the attempt if it is ready (or a due retry) and its instance is running; otherwise do nothing.

    Locks the instance row (and only it: the run is then changed by a conditional update, the template
    version is never locked), so claims take the same lock order as recording and the reaper.
    """
    if ref.hint is not None and _claimable_in_one_trip(ref):
        claim = retrying(lambda: _claim_hinted(ref, actor=actor))
        if claim is not None:
            return claim
        # The hint took nothing (a fence did not hold, or this process has not compiled the plan yet): read
        # the run and decide as for a message without a hint.
    try:
        return retrying(lambda: _claim(ref, actor=actor))
    except ClaimLost:
        return None  # a duplicate delivery: the other one holds the attempt


def _claimable_in_one_trip(ref: AttemptRef) -> bool:
    """A phase run's attempt on PostgreSQL, claimed by a worker outside any transaction of its own."""
    return ref.item_run_id is None and connection.vendor == "postgresql" and not connection.in_atomic_block


def _claim_hinted(ref: AttemptRef, *, actor: Actor) -> Claim | None:
    """`_claim` in one round trip, for a message that says what the run was when it was made ready."""
    hint = ref.hint
    assert hint is not None
    plan = cached_plan(hint.version_id, hint.checksum)
    if plan is None or hint.phase_id not in plan.phases:
        return None  # the first attempt of this version in this process: the plan is compiled on the way
    spec = plan.phases[hint.phase_id]
    token = str(uuid.uuid4())
    audit = {
        "instance_id": hint.instance_id,
        "phase_run_id": ref.phase_run_id,
        "phase_id": hint.phase_id,
        "round": hint.round,
    }
    target = hotpath.target_of(PhaseRun, "claim_attempt", PhaseState.READY)
    journal = journal_rows(
        "phase",
        audit,
        "claim_attempt",
        source=PhaseState.READY,
        target=target,
        actor=actor,
        metadata={"attempt": hint.attempt + 1},
    )
    run, event_ids = hotpath.claim_hinted(
        ref.phase_run_id, hint, token=token, owner=actor.label, lease=lease_for(spec), journal=journal
    )
    if run is None:
        return None
    queue_event_ids(event_ids)  # committed already: delivered now
    instance = run.instance
    return Claim(ref=ref, instance=instance, spec=spec, run=run, token=token, claimed_at=db_now(instance))


def _claim(ref: AttemptRef, *, actor: Actor) -> Claim | None:
    model: type[PhaseRun] | type[ItemRun] = ItemRun if ref.item_run_id else PhaseRun
    pk = ref.item_run_id or ref.phase_run_id
    related = ["instance__version", "instance__template"] + (["phase_run"] if model is ItemRun else [])
    with unit_of_work():
        # The run's columns are read by the statement that takes the lock, so they may predate it; the
        # conditional update below is what decides (it matches only the state read here).
        run: PhaseRun | ItemRun | None
        if model is PhaseRun and connection.vendor == "postgresql":
            run = hotpath.lock_phase_run(pk)  # the same rows, without compiling the query each step
        else:
            run = (
                model._default_manager.select_for_update(of=("instance",))
                .select_related(*related)
                .defer("instance__version__definition")
                .annotate(db_now=Now())
                .filter(pk=pk)
                .first()
            )
        if run is None:
            logger.warning("attempt for %s #%s: no such run (deleted?); nothing to do", model.__name__, pk)
            return None
        instance = run.instance
        if instance.state != InstanceState.RUNNING:
            return None  # suspended or finished: nothing is dispatched; resume sends it again
        now = db_now(run)  # the database's clock, read by the locking query
        due = run.state == PhaseState.WAITING and run.next_run_at is not None and run.next_run_at <= now
        if run.state != PhaseState.READY and not due:
            return None  # a duplicate delivery, or a retry that is not due yet
        phase_id = run.owning_run.phase_id
        spec = plan_for(instance.version).phases[phase_id]
        _, prefix, audit = subject_of(run)
        return lease_at_commit(
            ref,
            instance,
            spec,
            run,
            source=run.state,
            attempt=run.attempt,
            audit=(prefix, audit),
            actor=actor,
            now=now,
        )


def take_lease(
    ref: AttemptRef,
    instance: WorkflowInstance,
    spec: PhasePlan,
    run: PhaseRun | ItemRun,
    *,
    source: str,
    actor: Actor,
    now: datetime,
) -> Claim | None:
    """Claim the run (from `source`) for this worker under a new lease token, in the caller's unit of work.

    None when the run is no longer in `source` (a duplicate delivery claimed it first).
    """
    token = str(uuid.uuid4())
    model = type(run)
    claimed = hotpath.claim(
        model,
        run.pk,
        source=source,
        token=token,
        owner=actor.label,
        now=now,
        lease_expires_at=now + lease_for(spec),
    )
    if claimed is None:
        return None
    first = {"pending": "make_ready", "waiting": "wake"}.get(source)
    if first:
        record(claimed, first, source=source, target=PhaseState.READY, actor=actor)
    record(
        claimed,
        "claim_attempt",
        source=PhaseState.READY,
        target=claimed.state,
        actor=actor,
        metadata={"attempt": claimed.attempt},
    )
    return Claim(ref=ref, instance=instance, spec=spec, run=claimed, token=token, claimed_at=now)


def lease_at_commit(
    ref: AttemptRef,
    instance: WorkflowInstance,
    spec: PhasePlan,
    run: PhaseRun | ItemRun,
    *,
    source: str,
    attempt: int,
    audit: tuple[str, dict[str, Any]],
    actor: Actor,
    now: datetime,
) -> Claim:
    """`take_lease`, with the claim's update riding along with the unit of work's journal insert.

    The update is fenced by `source` and by `attempt` (the run's attempt number before the claim), so the
    audit row can say which attempt it is before the update runs. If it matches nothing, ClaimLost rolls the
    unit back. The returned Claim's `run` is the claimed row once the unit has flushed.
    """
    token = str(uuid.uuid4())
    model = type(run)
    sql, params, read = hotpath.claim_statement(
        model,
        run.pk,
        source=source,
        attempt=attempt,
        token=token,
        owner=actor.label,
        now=now,
        lease_expires_at=now + lease_for(spec),
    )
    claim = Claim(ref=ref, instance=instance, spec=spec, run=run, token=token, claimed_at=now)

    def claimed(row: Sequence[Any] | None) -> None:
        if row is None:
            raise ClaimLost(f"{model.__name__} #{run.pk} was no longer {source} at attempt {attempt}")
        claim.run = read.build(row)

    ride_along(hotpath.RideAlong(sql=sql, params=params, done=claimed, width=read.width))
    prefix, fields = audit
    first = {"pending": "make_ready", "waiting": "wake"}.get(source)
    if first:
        record_fields(prefix, fields, first, source=source, target=PhaseState.READY, actor=actor)
    target = hotpath.target_of(model, "claim_attempt", PhaseState.READY)
    record_fields(
        prefix,
        fields,
        "claim_attempt",
        source=PhaseState.READY,
        target=target,
        actor=actor,
        metadata={"attempt": attempt + 1},
    )
    return claim


# --- execute --------------------------------------------------------------------------------------------


def execute(claim: Claim) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Run the activity; return (output, None) or (None, error record). Never raises for activity errors."""
    attempt = claim.run.attempt
    try:
        activity = get_activity(claim.spec.activity or "")
    except LookupError as exc:
        return None, error_record(category="system", message=str(exc), at=db_now(), attempt=attempt)
    try:
        payload = build_input(claim)
        context = make_context(claim, payload)
        with time_limit(claim.spec.timeout):
            result = activity.function(payload, context)
        return ensure_json_object(result), None
    except LeaseLost as exc:
        return None, error_record(
            category="transient", message=f"lease lost: {exc}", at=db_now(), attempt=attempt
        )
    except ExpressionError as exc:
        return None, error_record(category="data", message=f"input: {exc}", at=db_now(), attempt=attempt)
    except Exception as exc:
        logger.info("attempt %s of %s failed: %r", attempt, claim.spec.id, exc)
        return None, error_from_exception(exc, at=db_now(), attempt=attempt)


def build_input(claim: Claim) -> dict[str, Any]:
    """Evaluate the phase's `input` mapping; inside a map, with `item` and `index`."""
    if claim.run.input_override is not None:  # an operator corrected it before a retry
        return dict(claim.run.input_override)
    if not claim.spec.input:
        return {}
    referenced = {step for expression in claim.spec.input.values() for step in expression.referenced_steps}
    extra: dict[str, Any] = {}
    if isinstance(claim.run, ItemRun):
        extra = {"item": claim.run.item, "index": claim.run.index}
    activation = build_activation(claim.instance, runs_for_activation(claim.instance.pk, referenced), **extra)
    return {name: expression.evaluate(activation) for name, expression in claim.spec.input.items()}


def ensure_json_object(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise DataError(f"an activity must return a JSON object, not {type(result).__name__}")
    try:
        return json.loads(json.dumps(dict(result), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise DataError(f"the activity's output is not JSON: {exc}") from None


def make_context(claim: Claim, payload: dict[str, Any]) -> ActivityContext:
    run = claim.run
    phase_id = claim.spec.id
    item_index = run.index if isinstance(run, ItemRun) else None
    round_ = run.round
    key = f"{claim.instance.pk}:{phase_id}:{round_}" + (f":{item_index}" if item_index is not None else "")
    return ActivityContext(
        instance_id=str(claim.instance.pk),
        business_key=claim.instance.business_key,
        phase_id=phase_id,
        attempt=run.attempt,
        idempotency_key=key,
        params=claim.instance.params or {},
        item_index=item_index,
        last_checkpoint=run.checkpoint,
        logger=logging.getLogger(f"phasegate.activity.{claim.spec.activity}"),
        _heartbeat=lambda: heartbeat(claim),
        _checkpoint=lambda state: checkpoint(claim, state),
    )


def heartbeat(claim: Claim) -> None:
    """Extend the lease by the phase's heartbeat interval (never past the attempt's timeout)."""
    expires = db_now() + lease_for(claim.spec)
    if claim.hard_deadline is not None:
        expires = min(expires, claim.hard_deadline)
    held = claim.model.objects.filter(pk=claim.run.pk, state=PhaseState.ACTIVE, lease_token=claim.token)
    if not held.update(lease_expires_at=expires):
        raise LeaseLost("the attempt's lease expired and was given away")


def checkpoint(claim: Claim, state: Any) -> None:
    """Store the activity's progress now, outside the attempt's outcome, so a crash keeps it."""
    try:
        stored = json.loads(json.dumps(state, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise DataError(f"a checkpoint must be JSON: {exc}") from None
    held = claim.model.objects.filter(pk=claim.run.pk, state=PhaseState.ACTIVE, lease_token=claim.token)
    if not held.update(checkpoint=stored):
        raise LeaseLost("the attempt's lease expired and was given away")


# --- record ---------------------------------------------------------------------------------------------


def attempt_record(
    claim: Claim, *, output: dict[str, Any] | None, error: dict[str, Any] | None, actor: Actor
) -> bool:
    """Accept the attempt's result if it still holds the lease and advance the instance; returns accepted."""
    accepted, _ = record_and_claim_next(claim, output=output, error=error, actor=actor, claim_next=False)
    return accepted


def record_and_claim_next(
    claim: Claim,
    *,
    output: dict[str, Any] | None,
    error: dict[str, Any] | None,
    actor: Actor,
    claim_next: bool,
    later: list[AttemptRef] | None = None,
) -> tuple[bool, Claim | None]:
    """Record the result (see attempt_record); with `claim_next`, also claim an attempt it made ready.

    With `later`, the other attempts it made ready for this worker's queue are not sent but added to
    `later` for this worker to run next, when that queue's backlog is long (`dispatch.backlog_is_long`).

    One unit of work, retried as a whole if the database picks it as a deadlock victim: the result is
    never thrown away for a lock conflict.
    """
    keep_more = later is not None and backlog_is_long(claim.spec.queue)
    accepted, next_claim, kept = retrying(
        lambda: _record(
            claim, output=output, error=error, actor=actor, claim_next=claim_next, keep_more=keep_more
        )
    )
    if later is not None:
        later.extend(kept)
    return accepted, next_claim


def _record(
    claim: Claim,
    *,
    output: dict[str, Any] | None,
    error: dict[str, Any] | None,
    actor: Actor,
    claim_next: bool,
    keep_more: bool,
) -> tuple[bool, Claim | None, list[AttemptRef]]:
    with unit_of_work():
        if error is None and output is not None and _plain_task(claim):
            # The common case: one conditional update fenced by the lease token, no row read; on
            # PostgreSQL the same statement reads every phase's state for the scheduler.
            audit = {
                "instance_id": claim.instance.pk,
                "phase_run_id": claim.run.pk,
                "phase_id": claim.spec.id,
                "round": claim.run.round,  # a reopen changes the round and the lease: then nothing is written
            }
            journal = journal_rows(
                "phase", audit, "complete", source=PhaseState.ACTIVE, target=PhaseState.COMPLETED, actor=actor
            )
            if connection.vendor == "postgresql":
                instance, accepted, light, event_ids = hotpath.lock_and_complete(
                    claim.instance.pk, claim.run.pk, token=claim.token, output=output, journal=journal
                )
                if not accepted:
                    return _refused(claim)
                queue_event_ids(event_ids)
                runs = RunBook.of_new(instance, light)
            else:
                instance = lock_instance(claim.instance.pk)
                now = db_now(instance)
                if not hotpath.complete_leased(
                    PhaseRun, claim.run.pk, token=claim.token, output=output, now=now
                ):
                    return _refused(claim)
                queue_rows(*journal)  # written by the unit's insert
                runs = load_runs(instance)
                runs.changed(claim.spec.id, PhaseState.COMPLETED)
            advancer = Advancer(
                instance,
                actor=actor,
                now=db_now(instance),
                runs=runs,
                keep_local=claim_next,
                keep_queue=claim.spec.queue,
                keep_more=keep_more,
            )
        else:
            instance = lock_instance(claim.instance.pk)
            now = db_now(instance)
            runs = load_runs(instance)
            advancer = Advancer(
                instance,
                actor=actor,
                now=now,
                runs=runs,
                keep_local=claim_next,
                keep_queue=claim.spec.queue,
                keep_more=keep_more,
            )
            phase_run = runs[claim.spec.id]
            run: PhaseRun | ItemRun = phase_run
            if isinstance(claim.run, ItemRun):
                run = ItemRun.objects.get(pk=claim.run.pk)
            if run.state != PhaseState.ACTIVE or run.lease_token != claim.token:
                return _refused(claim)
            if error is None and output is not None:
                advancer.complete_attempt(phase_run, run, output)
            else:
                assert error is not None
                handle_attempt_failure(advancer, phase_run, run, error)
        advancer.run()
        next_claim = claim_kept(advancer, actor) if advancer.kept else None
    return True, next_claim, advancer.kept_later


def _plain_task(claim: Claim) -> bool:
    """A task phase's own attempt (not a map item, not a gate, whose results need reading)."""
    return isinstance(claim.run, PhaseRun) and claim.spec.type == "task"


def _refused(claim: Claim) -> tuple[bool, None, list[AttemptRef]]:
    logger.warning(
        "late result for %s attempt %s refused: the lease was given away", claim.spec.id, claim.run.attempt
    )
    return False, None, []


def claim_kept(advancer: Advancer, actor: Actor) -> Claim | None:
    """Claim the attempt the advancer kept for this worker, in the transaction that made it ready.

    A phase run kept straight from `pending` is written once: make_ready and claim_attempt in one update.
    """
    ref = advancer.kept
    assert ref is not None
    if ref.item_run_id:
        item = ItemRun.objects.get(pk=ref.item_run_id)
        spec = advancer.plan.phases[advancer.runs.phase_id_of(item.phase_run_id)]
        source, run = item.state, item
    else:
        phase_id = advancer.runs.phase_id_of(ref.phase_run_id)
        spec = advancer.plan.phases[phase_id]
        source = PhaseState.PENDING if advancer.kept_unwritten else advancer.runs.state(phase_id)
        run = PhaseRun(pk=ref.phase_run_id)
    if source not in (PhaseState.READY, PhaseState.PENDING):
        return None
    if source == PhaseState.PENDING and not ref.item_run_id:
        # Made ready in memory only, in this unit, under the instance lock: nobody else can take it, and a
        # pending phase run's attempt is 0 (reopen resets it). Its claim rides along with the journal.
        audit = ("phase", advancer.runs.audit_fields(phase_id))
        return lease_at_commit(
            ref,
            advancer.instance,
            spec,
            run,
            source=source,
            attempt=0,
            audit=audit,
            actor=actor,
            now=advancer.now,
        )
    claim = take_lease(ref, advancer.instance, spec, run, source=source, actor=actor, now=advancer.now)
    if claim is None and source == PhaseState.PENDING:
        raise ConcurrentTransition(f"{spec.id} changed under the instance lock")
    return claim
