"""Lock order and deadlocks: duplicate deliveries racing the recording of a result; activities outside.

Every unit of work on the step path locks the instance row first and then changes its runs with conditional
updates; the template version row is never locked. Each racing side runs in its own thread with its own
database connection.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from engine.activities import ActivityContext, activity
from engine.models import PhaseRun, Transition
from engine.runtime import journal
from engine.runtime.actors import Actor
from engine.runtime.attempts import attempt_claim, attempt_run, execute, record_and_claim_next
from engine.runtime.dispatch import AttemptRef
from engine.runtime.start import start_instance
from tests.support.engine import publish, reload, states, template

pytestmark = pytest.mark.django_db(transaction=True)

SEEN_IN_TRANSACTION: list[bool] = []


@activity("test.where_am_i")
def where_am_i(input: dict[str, Any], ctx: ActivityContext) -> dict[str, Any]:
    """Note whether the activity runs inside a database transaction."""
    SEEN_IN_TRANSACTION.append(connection.in_atomic_block)
    return {}


def race(*calls: Callable[[], Any], timeout: float = 30) -> list[Any]:
    """Run the calls at once, one thread (and connection) each; each result is a return value or exception."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout)
            results[index] = call()
        except Exception as exc:  # the error is the result under test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), "a racing call did not finish in time"
    return results


def chain(key: str, length: int, activity_name: str = "test.echo") -> dict[str, Any]:
    phases = [{"id": "p0", "type": "task", "activity": activity_name}]
    phases += [
        {"id": f"p{i}", "type": "task", "activity": activity_name, "depends_on": [f"p{i - 1}"]}
        for i in range(1, length)
    ]
    return template(key, *phases)


def one_round(broker: Any) -> tuple[list[Exception], int]:
    """The recorder, two duplicates of the message it records, and an early re-send of the next one."""
    instance = start_instance("race", {})
    ref = broker.sent.pop()
    claim = attempt_claim(ref, actor=Actor(label="worker:recorder"))
    assert claim is not None
    output, error = execute(claim)
    following = PhaseRun.objects.get(instance=instance, phase_id="p1")
    results = race(
        lambda: record_and_claim_next(
            claim, output=output, error=error, actor=Actor(label="worker:recorder"), claim_next=True
        ),
        lambda: attempt_run(ref, actor=Actor(label="worker:duplicate")),
        lambda: attempt_run(AttemptRef(following.pk), actor=Actor(label="worker:resend")),
        lambda: attempt_run(ref, actor=Actor(label="worker:duplicate2")),
    )
    errors = [result for result in results if isinstance(result, Exception)]
    if errors:
        return errors, 0
    accepted, next_claim = results[0]
    assert accepted and next_claim is not None and next_claim.spec.id == "p1"
    claims = Transition.objects.filter(instance=instance, name="claim_attempt")
    assert (claims.filter(phase_id="p0").count(), claims.filter(phase_id="p1").count()) == (1, 1)
    return [], sum(results[1:])


@pytest.mark.requires_postgres
def test_duplicate_deliveries_racing_recording_neither_deadlock_nor_run_an_activity_again(broker):
    publish(chain("race", 3))
    errors, extra_calls = [], 0
    for _ in range(60):
        round_errors, extra = one_round(broker)
        errors += round_errors
        extra_calls += extra
    assert errors == []
    assert extra_calls == 0


def test_a_deadlock_victim_unit_of_work_runs_again_and_keeps_its_result(broker, monkeypatch):
    """The database rolls the victim back; the whole unit of work runs again, and the result is recorded."""
    publish(chain("victim", 2))
    instance = start_instance("victim", {})
    claim = attempt_claim(broker.sent.pop(), actor=Actor(label="worker:v"))
    output, error = execute(claim)

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    original, failures = journal._flush, []

    def flush_failing_once() -> None:
        if not failures:
            failures.append(1)
            raise OperationalError("deadlock detected") from DeadlockDetected()
        original()

    monkeypatch.setattr(journal, "_flush", flush_failing_once)
    accepted, _ = record_and_claim_next(
        claim, output=output, error=error, actor=Actor(label="worker:v"), claim_next=False
    )
    assert accepted and failures == [1]
    assert states(instance) == {"p0": "completed", "p1": "ready"}
    assert Transition.objects.filter(instance=instance, phase_id="p0", name="complete").count() == 1


def test_activities_never_run_inside_a_transaction(broker):
    SEEN_IN_TRANSACTION.clear()
    publish(chain("outside", 3, "test.where_am_i"))
    publish(
        template(
            "outside_map",
            {"id": "each", "type": "map", "items": "[1, 2, 3]", "activity": "test.where_am_i"},
        )
    )
    first, second = start_instance("outside", {}), start_instance("outside_map", {})
    broker.drain()
    assert (reload(first).state, reload(second).state) == ("completed", "completed")
    assert SEEN_IN_TRANSACTION == [False] * 6


@pytest.mark.requires_postgres
def test_the_step_path_locks_only_instance_rows_never_the_template_version(broker):
    publish(chain("nolock", 2))
    start_instance("nolock", {})
    ref = broker.sent.pop()
    with CaptureQueriesContext(connection) as captured:
        attempt_run(ref, actor=Actor(label="worker:l"), chain_limit=2)
    locks = [
        q["sql"].split("FOR UPDATE", 1)[1] for q in captured.captured_queries if "FOR UPDATE" in q["sql"]
    ]
    assert len(locks) == 3  # the claim, then recording each of the two results
    assert all(lock.strip() == 'OF "engine_workflowinstance"' for lock in locks), locks
