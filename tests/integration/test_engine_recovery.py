"""Crash recovery and concurrency: leases, the reaper, duplicate deliveries, racing finishes."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.test import override_settings

from engine.models import DeadLetter, Event, PhaseRun, Transition
from engine.runtime.actors import Actor
from engine.runtime.advance import lock_instance
from engine.runtime.attempts import (
    ClaimLost,
    attempt_claim,
    attempt_record,
    attempt_run,
    execute,
    lease_at_commit,
)
from engine.runtime.journal import unit_of_work
from engine.runtime.plans import plan_for
from engine.runtime.reaper import leases_reap
from engine.runtime.start import start_instance
from engine.runtime.sweeps import due_work_dispatch
from tests.support.engine import publish, reload, states, template

pytestmark = pytest.mark.django_db(transaction=True)
PAST = datetime(2000, 1, 1).astimezone()


def expire_leases(instance) -> None:
    PhaseRun.objects.filter(instance=instance, state="active").update(lease_expires_at=PAST)


def one_task(key: str = "one", **phase: object) -> None:
    publish(
        template(
            key,
            {"id": "work", "type": "task", "activity": "test.echo", **phase},
            {"id": "after", "type": "task", "activity": "test.echo", "depends_on": ["work"]},
        )
    )


def test_duplicate_delivery_of_the_same_message_runs_the_activity_once(broker):
    one_task()
    instance = start_instance("one", {})
    ref = broker.sent.pop()
    first = attempt_claim(ref, actor=Actor(label="worker:a"))
    second = attempt_claim(ref, actor=Actor(label="worker:b"))
    assert first is not None and second is None
    output, error = execute(first)
    assert attempt_record(first, output=output, error=error, actor=Actor(label="worker:a"))
    assert attempt_run(ref, actor=Actor(label="worker:c")) == 0  # a third delivery, after completion
    run = PhaseRun.objects.get(instance=instance, phase_id="work")
    assert (run.state, run.attempt) == ("completed", 1)
    claims = Transition.objects.filter(instance=instance, phase_id="work", name="claim_attempt").count()
    assert claims == 1


def test_a_claim_whose_run_changed_since_it_was_read_rolls_back_what_it_queued(broker):
    """The claim rides along with the journal insert, fenced by state and attempt: if the run moved on
    since the locking read (another delivery took it), nothing of the claim is written."""
    one_task()
    instance = start_instance("one", {})
    ref = broker.sent.pop()
    run = PhaseRun.objects.get(instance=instance, phase_id="work")
    journal_before = Transition.objects.filter(instance=instance).count(), Event.objects.count()
    actor = Actor(label="worker:stale")
    with pytest.raises(ClaimLost), unit_of_work():
        locked = lock_instance(instance.pk)
        spec = plan_for(locked.version).phases["work"]
        stale_attempt = run.attempt + 1  # as if another worker had claimed it since the read
        audit = (
            "phase",
            {"instance_id": instance.pk, "phase_run_id": run.pk, "phase_id": "work", "round": 1},
        )
        lease_at_commit(
            ref, locked, spec, run, source="ready", attempt=stale_attempt, audit=audit, actor=actor, now=PAST
        )
    run.refresh_from_db()
    assert (run.state, run.attempt, run.lease_token) == ("ready", 0, None)
    assert (Transition.objects.filter(instance=instance).count(), Event.objects.count()) == journal_before
    assert attempt_run(ref, actor=actor) == 1  # the message still runs the attempt
    assert states(instance)["work"] == "completed"


def test_reaper_turns_an_expired_lease_into_a_transient_failure_that_is_retried(broker):
    one_task(retry={"max_attempts": 3, "initial_interval": "PT0S"})
    instance = start_instance("one", {})
    claim = attempt_claim(broker.sent.pop(), actor=Actor(label="worker:dead"))
    expire_leases(instance)
    assert leases_reap() == 1
    run = PhaseRun.objects.get(instance=instance, phase_id="work")
    assert (run.state, run.error["category"], run.lost_attempts) == ("waiting", "transient", 1)
    assert run.error["message"].startswith("worker lost")
    reaped = Transition.objects.get(instance=instance, phase_id="work", name="wait_retry")
    assert reaped.actor_label == "system:reaper"
    # the worker presumed dead comes back late: its result is refused and changes nothing
    output, error = execute(claim)
    assert not attempt_record(claim, output=output, error=error, actor=Actor(label="worker:dead"))
    assert PhaseRun.objects.get(pk=run.pk).state == "waiting"
    # nor does it leave an audit row or an outbox event of a completion that did not happen
    assert not Transition.objects.filter(instance=instance, phase_id="work", name="complete").exists()
    assert not Event.objects.filter(instance=instance, name="phase.completed").exists()
    broker.drain(include_delayed=True)  # the retry the reaper scheduled
    assert reload(instance).state == "completed"


@override_settings(PHASEGATE={**settings.PHASEGATE, "MAX_LOST_ATTEMPTS": 2})
def test_an_activity_that_kills_its_worker_every_time_ends_in_the_dead_letter_queue(broker):
    one_task(retry={"max_attempts": 10, "initial_interval": "PT0S"})
    instance = start_instance("one", {})
    for _ in range(2):
        ref = broker.sent.pop()  # the start's message, then the retry the reaper scheduled
        assert attempt_claim(ref, actor=Actor(label="worker:doomed")) is not None
        expire_leases(instance)
        leases_reap()
    assert reload(instance).state == "failed"
    letter = DeadLetter.objects.get(instance=instance)
    assert letter.error["poison"] is True


def test_lease_still_held_is_not_reaped(broker):
    one_task()
    instance = start_instance("one", {})
    attempt_claim(broker.sent.pop(), actor=Actor(label="worker:alive"))
    assert leases_reap() == 0
    assert states(instance)["work"] == "active"


def test_heartbeat_after_the_lease_was_given_away_stops_the_activity(broker):
    from engine.runtime.attempts import LeaseLost, heartbeat

    one_task(retry={"max_attempts": 2, "initial_interval": "PT0S"}, heartbeat="PT30S")
    instance = start_instance("one", {})
    claim = attempt_claim(broker.sent.pop(), actor=Actor(label="worker:slow"))
    heartbeat(claim)  # still held: extends the lease
    expire_leases(instance)
    leases_reap()
    with pytest.raises(LeaseLost):
        heartbeat(claim)


def test_lost_broker_messages_are_sent_again_by_the_sweep(broker):
    one_task()
    instance = start_instance("one", {})
    broker.sent.clear()  # the broker lost everything
    PhaseRun.objects.filter(instance=instance, state="ready").update(updated_at=PAST)
    assert due_work_dispatch() == 1
    broker.drain()
    assert reload(instance).state == "completed"


def test_two_phases_finishing_at_once_advance_their_common_successor_once(broker):
    publish(
        template(
            "join",
            {"id": "left", "type": "task", "activity": "test.echo"},
            {"id": "right", "type": "task", "activity": "test.echo"},
            {"id": "join", "type": "task", "activity": "test.echo", "depends_on": ["left", "right"]},
        )
    )
    instance = start_instance("join", {})
    claims = [attempt_claim(ref, actor=Actor(label=f"worker:{i}")) for i, ref in enumerate(broker.sent)]
    broker.sent.clear()
    results = [execute(claim) for claim in claims]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def finish(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            attempt_record(
                claims[index], output=results[index][0], error=None, actor=Actor(label=f"worker:{index}")
            )
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert states(instance) == {"left": "completed", "right": "completed", "join": "ready"}
    assert Transition.objects.filter(instance=instance, phase_id="join", name="make_ready").count() == 1
    assert len([ref for ref in broker.sent if not ref.item_run_id]) == 1


def test_racing_starts_with_one_business_key_give_one_instance(broker):
    one_task("race")
    barrier = threading.Barrier(3)
    started: list[str] = []

    def start() -> None:
        try:
            barrier.wait(timeout=10)
            started.append(str(start_instance("race", {}, business_key="same").pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(started) == 3
    assert len(set(started)) == 1
