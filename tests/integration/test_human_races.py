"""Two people acting on the same phase at the same moment: one wins, the other gets a clear refusal.

Each side runs in its own thread with its own database connection, released together by a barrier, and
joined with a timeout. On PostgreSQL the instance row lock serialises them; on SQLite the IMMEDIATE
transactions do.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from engine.errors import Conflict, TransitionRejected
from engine.models import Transition
from engine.runtime import human
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    dt_testing,
    fast_passwords,
    people,
    run_of,
    start,
)

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls: Callable[[], Any], timeout: float = 30) -> list[Any]:
    """Run the calls at once, one thread each; each result is its return value or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout)
            results[index] = call()
        except Exception as exc:  # the refusal is the result under test
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


def test_two_claims_at_once_one_wins_the_other_gets_409_naming_the_winner(dt_testing, people):
    instance = start()
    results = race(
        lambda: human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"]),
        lambda: human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester2"]),
    )
    conflicts = [r for r in results if isinstance(r, Conflict)]
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1 and len(conflicts) == 1, results
    winner = run_of(instance, "planning").assignee
    assert winner is not None and conflicts[0].extra["holder"] == winner.username
    assert Transition.objects.filter(instance=instance, name="claim").count() == 1


def test_two_completes_at_once_one_wins_the_other_is_rejected(dt_testing, people):
    instance = start()
    data = {"plan_url": PLAN_URL}
    results = race(
        lambda: human.phase_complete(
            instance_id=instance.pk, phase_id="planning", user=people["tester"], data=data
        ),
        lambda: human.phase_complete(
            instance_id=instance.pk, phase_id="planning", user=people["tester2"], data=data
        ),
    )
    refused = [r for r in results if isinstance(r, Conflict | TransitionRejected)]
    wins = [r for r in results if not isinstance(r, Exception)]
    assert len(wins) == 1 and len(refused) == 1, results
    assert run_of(instance, "planning").state == "completed"
    assert Transition.objects.filter(instance=instance, name="submit").count() == 1
    assert run_of(instance, "scoping").state == "active"


def test_a_double_submit_by_the_same_person_completes_once(dt_testing, people):
    instance = start()
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
    data = {"plan_url": PLAN_URL}
    results = race(
        lambda: human.phase_complete(
            instance_id=instance.pk, phase_id="planning", user=people["tester"], data=data
        ),
        lambda: human.phase_complete(
            instance_id=instance.pk, phase_id="planning", user=people["tester"], data=data
        ),
    )
    assert sum(isinstance(r, TransitionRejected) for r in results) == 1, results
    assert Transition.objects.filter(instance=instance, name="submit").count() == 1
