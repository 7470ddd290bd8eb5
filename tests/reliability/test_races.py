"""Races in one process with threads on their own connections: 50 phases finishing at once into one join,
and 100 starts with one business key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from engine.models import PhaseRun, Transition, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.attempts import attempt_claim, attempt_record, execute
from engine.runtime.start import start_instance
from tests.reliability.conftest import report, size
from tests.support.engine import publish, template

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def at_once(count: int, action: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run `action(i)` in `count` threads released together; their results and errors."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(action(index))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def test_fifty_phases_completing_at_once_open_their_join_once(broker):
    width = size(20, 50)
    branches = [{"id": f"b{i}", "type": "task", "activity": "test.echo"} for i in range(width)]
    join = {
        "id": "join",
        "type": "task",
        "activity": "test.echo",
        "depends_on": [f"b{i}" for i in range(width)],
    }
    publish(template("fan", *branches, join))
    instance = start_instance("fan", {})
    claims = [attempt_claim(ref, actor=Actor(label=f"worker:{i}")) for i, ref in enumerate(broker.sent)]
    broker.sent.clear()
    outputs = [execute(claim) for claim in claims]
    accepted, errors = at_once(
        width,
        lambda i: attempt_record(
            claims[i], output=outputs[i][0], error=None, actor=Actor(label=f"worker:{i}")
        ),
    )
    made_ready = Transition.objects.filter(instance=instance, phase_id="join", name="make_ready").count()
    completed = PhaseRun.objects.filter(instance=instance, state="completed").count()
    report(
        f"{width} concurrent completions",
        accepted=sum(accepted),
        errors=len(errors),
        completed=completed,
        join_made_ready=made_ready,
        join_messages=len([ref for ref in broker.sent if ref.phase_run_id]),
    )
    assert errors == [] and sum(accepted) == width
    assert (completed, made_ready) == (width, 1)


def test_a_hundred_starts_with_one_business_key_make_one_instance(broker):
    publish(template("racing", {"id": "work", "type": "task", "activity": "test.echo"}))
    count = size(30, 100)
    started, errors = at_once(count, lambda i: str(start_instance("racing", {}, business_key="one").pk))
    instances = WorkflowInstance.objects.filter(template__key="racing", business_key="one").count()
    report(
        f"{count} concurrent starts with one business key",
        callers=len(started),
        errors=len(errors),
        distinct_instances_returned=len(set(started)),
        instances=instances,
    )
    assert errors == []
    assert (len(set(started)), instances) == (1, 1)
