"""When a step makes several attempts ready and their queue already holds a long backlog, the worker runs them
itself, one after the other, instead of sending them to the back of that queue; what it kept and did not run
is sent after all, and a worker that died with kept work leaves ready runs that the due-work sweep sends."""

from __future__ import annotations

import pytest

from engine.models import PhaseRun
from engine.runtime.actors import Actor
from engine.runtime.attempts import attempt_claim, attempt_run, execute, record_and_claim_next
from engine.runtime.dispatch import note_backlog
from engine.runtime.start import start_instance
from engine.runtime.sweeps import due_work_dispatch
from tests.support.engine import publish, reload, template

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = Actor(label="worker:backlog")
BRANCHES = ("b1", "b2", "b3", "b4")


@pytest.fixture
def backlog_of(settings):
    def set_threshold(messages: int, **more: int) -> None:
        settings.PHASEGATE = {**settings.PHASEGATE, "KEEP_LOCAL_BACKLOG": messages, **more}

    return set_threshold


def fan_out(key: str) -> dict:
    branches = [{"id": b, "type": "task", "activity": "test.echo", "depends_on": ["a"]} for b in BRANCHES]
    join = {"id": "join", "type": "task", "activity": "test.echo", "depends_on": list(BRANCHES)}
    return template(key, {"id": "a", "type": "task", "activity": "test.echo"}, *branches, join)


def started(broker, key: str, count: int) -> list:
    publish(fan_out(key))
    return [start_instance(key, {}) for _ in range(count)]


def test_with_a_long_backlog_the_worker_runs_the_branches_it_made_ready(broker, backlog_of):
    backlog_of(3)
    first, *_ = started(broker, "kept", 4)  # four first steps queued: a backlog of 4
    ran = attempt_run(broker.sent.pop(0), actor=WORKER, chain_limit=100)
    assert ran == 6  # a, the four branches, then the join they opened
    assert reload(first).state == "completed"
    assert all(ref.phase_run_id not in first_runs(first) for ref in broker.sent)  # nothing of it was sent


def test_with_a_short_backlog_the_branches_are_sent(broker, backlog_of):
    backlog_of(3)
    first, _ = started(broker, "sent", 2)  # a backlog of 1 once the first message is taken
    ran = attempt_run(broker.sent.pop(0), actor=WORKER, chain_limit=100)
    assert ran == 2  # a, and the one branch a worker always keeps
    sent = [ref.hint.phase_id for ref in broker.sent if ref.phase_run_id in first_runs(first)]
    assert sorted(sent) == ["b2", "b3", "b4"]


def test_a_threshold_of_zero_never_keeps_more(broker, backlog_of):
    backlog_of(0)
    first, *_ = started(broker, "never", 20)
    assert attempt_run(broker.sent.pop(0), actor=WORKER, chain_limit=100) == 2
    assert len([ref for ref in broker.sent if ref.phase_run_id in first_runs(first)]) == 3


def test_what_was_kept_and_not_run_is_sent_when_the_chain_ends(broker, backlog_of):
    backlog_of(3)
    first, *_ = started(broker, "limited", 4)
    assert attempt_run(broker.sent.pop(0), actor=WORKER, chain_limit=3) == 3  # a, b1, b2
    sent = sorted(ref.hint.phase_id for ref in broker.sent if ref.phase_run_id in first_runs(first))
    assert sent == ["b3", "b4"]
    broker.drain()
    assert reload(first).state == "completed"


def test_a_worker_that_died_with_kept_work_leaves_ready_runs_the_sweep_sends(broker, backlog_of):
    backlog_of(3, RESEND_AFTER_SECONDS=0)
    first, *_ = started(broker, "died", 4)
    claim = attempt_claim(broker.sent.pop(0), actor=WORKER)
    assert claim is not None
    output, error = execute(claim)
    later: list = []
    note_backlog(claim.spec.queue)  # as attempt_run reads it before it records
    record_and_claim_next(claim, output=output, error=error, actor=WORKER, claim_next=True, later=later)
    assert sorted(ref.hint.phase_id for ref in later) == ["b2", "b3", "b4"]
    # the worker dies here: b1 is claimed (the reaper's), b2–b4 are ready and were never sent
    runs = dict(PhaseRun.objects.filter(instance=first).values_list("phase_id", "state"))
    assert [runs[b] for b in BRANCHES] == ["active", "ready", "ready", "ready"]
    broker.sent.clear()
    assert due_work_dispatch() >= 3
    resent = sorted(
        PhaseRun.objects.get(pk=ref.phase_run_id).phase_id
        for ref in broker.sent
        if ref.phase_run_id in first_runs(first)
    )
    assert resent == ["b2", "b3", "b4"]


def first_runs(instance) -> set[int]:
    return set(PhaseRun.objects.filter(instance=instance).values_list("pk", flat=True))
