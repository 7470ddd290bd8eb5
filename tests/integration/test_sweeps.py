"""The periodic sweeps: each due row is sent once (again only after a grace period), and each sweep's
queries stay the same however many rows are due (bounded, set-based batches)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from engine.models import PhaseRun, Transition, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.attempts import attempt_claim, attempt_run
from engine.runtime.reaper import leases_reap
from engine.runtime.sla import sla_sweep
from engine.runtime.start import start_instance
from engine.runtime.sweeps import due_work_dispatch
from tests.support.engine import publish, reload, template

pytestmark = pytest.mark.django_db(transaction=True)
PAST = datetime(2000, 1, 1).astimezone()
RETRIED = {"max_attempts": 5, "initial_interval": "PT0S"}
CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE SAVEPOINT", "PRAGMA")


def queries_of(function) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        result = function()
    return sum(1 for query in captured.captured_queries if not query["sql"].startswith(CONTROL)), result


def claimed_instances(broker, key: str, count: int) -> list[WorkflowInstance]:
    """`count` instances whose first attempt a worker claimed and then lost (its lease expired)."""
    instances = [start_instance(key, {}) for _ in range(count)]
    for ref in list(broker.sent):
        attempt_claim(ref, actor=Actor(label="worker:lost"))
    broker.sent.clear()
    PhaseRun.objects.filter(instance__in=instances, state="active").update(lease_expires_at=PAST)
    return instances


def test_the_reaper_costs_the_same_queries_for_3_or_30_expired_leases(broker):
    publish(template("lost", {"id": "work", "type": "task", "activity": "test.echo", "retry": RETRIED}))
    counts = []
    for count in (3, 30):
        instances = claimed_instances(broker, "lost", count)
        queries, reaped = queries_of(leases_reap)
        assert reaped == count
        counts.append(queries)
        waiting = PhaseRun.objects.filter(instance__in=instances, state="waiting", lost_attempts=1)
        assert waiting.count() == count
        audited = Transition.objects.filter(
            instance__in=instances, name="wait_retry", actor_label="system:reaper"
        )
        assert audited.count() == count
        assert len(broker.sent) == count  # one retry message each
        broker.drain(include_delayed=True)
        assert all(reload(instance).state == "completed" for instance in instances)
    assert counts[0] == counts[1]


def test_the_due_work_sweep_sends_a_due_retry_once_and_again_only_after_the_grace_period(broker):
    publish(
        template(
            "flaky",
            {
                "id": "work",
                "type": "task",
                "activity": "test.flaky",
                "retry": RETRIED,
                "input": {"fail_times": "1"},
            },
        )
    )
    instance = start_instance("flaky", {})
    attempt_run(broker.sent.pop(), actor=Actor(label="worker:a"))  # fails once: a retry is due now
    assert [ref.countdown for ref in broker.sent] == [0.0]  # the engine sent the retry with its delay
    broker.sent.clear()
    assert due_work_dispatch() == 0  # already sent: not again every tick
    PhaseRun.objects.filter(instance=instance).update(sent_at=PAST)  # its message was lost long ago
    assert due_work_dispatch() == 1
    assert due_work_dispatch() == 0
    broker.drain()
    assert reload(instance).state == "completed"


def test_the_due_work_sweep_costs_the_same_queries_for_3_or_30_due_rows(broker):
    publish(template("due", {"id": "work", "type": "task", "activity": "test.echo"}))
    counts = []
    for count in (3, 30):
        instances = [start_instance("due", {}) for _ in range(count)]
        broker.sent.clear()  # the broker lost them
        PhaseRun.objects.filter(instance__in=instances).update(updated_at=PAST)
        queries, sent = queries_of(due_work_dispatch)
        assert sent == count
        counts.append(queries)
        broker.drain()
    assert counts[0] == counts[1]


def test_the_sla_sweep_costs_the_same_queries_for_3_or_30_late_phases(broker):
    publish(
        template(
            "sla",
            {
                "id": "review",
                "type": "human",
                "roles": ["tester"],
                "sla": {"duration": "PT1H", "at_risk": 0.5},
            },
            roles={"tester": {"name": "Tester"}},
        )
    )
    now = timezone.now()
    sla_sweep(now=now)  # settle what the earlier tests left
    counts = []
    for count in (3, 30):
        instances = [start_instance("sla", {}) for _ in range(count)]
        queries, changed = queries_of(lambda: sla_sweep(now=now + timedelta(hours=2)))
        assert changed == 2 * count  # at risk, then behind schedule
        counts.append(queries)
        statuses = PhaseRun.objects.filter(instance__in=instances).values_list("sla_status", flat=True)
        assert set(statuses) == {"behind_schedule"}
    assert counts[0] == counts[1]


def test_a_reaper_pass_that_meets_a_bad_row_logs_it_and_reaps_the_rest(broker, caplog):
    publish(template("lost", {"id": "work", "type": "task", "activity": "test.echo", "retry": RETRIED}))
    bad, *good = claimed_instances(broker, "lost", 3)
    # A run whose phase the plan does not know (say, written by hand): the reaper cannot judge it.
    PhaseRun.objects.filter(instance=bad).update(phase_id="vanished")
    with caplog.at_level(logging.ERROR, logger="engine.runtime.reaper"):
        assert leases_reap() == 2
    assert "cannot reap PhaseRun" in caplog.text
    assert PhaseRun.objects.filter(instance__in=good, state="waiting").count() == 2
    assert PhaseRun.objects.get(instance=bad).state == "active"
