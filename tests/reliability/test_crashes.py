"""Workers that die: kill -9 of pool processes and of the whole worker during a run, a worker stopped past
its lease and continued (its late result is fenced), and a poison activity that kills every worker."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from engine.models import DeadLetter, PhaseRun, Transition, WorkflowInstance
from engine.runtime.start import start_instance
from tests.reliability.conftest import LEASE_SECONDS, report, size
from tests.support.chaos import check_ledger, finished, ledger_chain, start_many, worst_reap_delay
from tests.support.engine import publish, template
from tests.support.worker import wait_for

# With real workers the suite targets the production stack; on SQLite (one writer at a time, the demo's
# filesystem broker) a run of these takes many minutes and proves less.
pytestmark = [pytest.mark.integration, pytest.mark.requires_postgres, pytest.mark.django_db(transaction=True)]


def test_kill_9_of_pool_processes_and_of_the_whole_worker_loses_nothing_and_repeats_nothing(cluster):
    running = cluster()
    ledger_chain("crash", 3, seconds=0.05)
    count = size(24, 300)
    ids = start_many("crash", count)
    kills, started = 0, time.monotonic()
    while finished(ids) < count and time.monotonic() - started < size(120, 600):
        time.sleep(3)
        if kills % 3 == 2:
            running.worker.kill()  # the whole worker: main process and pool
            running.worker.start()
        else:
            for pid in running.worker.pool_pids()[:1]:
                os.kill(pid, signal.SIGKILL)  # one pool process; the main process starts another
        kills += 1
    wait_for(lambda: finished(ids) == count, timeout=size(120, 600), interval=1)
    figures = check_ledger(ids)
    report(
        "kill -9 (pool processes and whole worker)",
        **figures,
        kills=kills,
        worst_reap_delay_s=worst_reap_delay(ids, LEASE_SECONDS),
        seconds=round(time.monotonic() - started),
    )
    assert figures["completed"] == count, running.logs()
    assert (figures["missing"], figures["succeeded_twice"]) == (0, 0)


def test_a_worker_stopped_past_its_lease_and_continued_is_fenced(cluster, tmp_path: Path):
    running = cluster()
    marker = tmp_path / "sleeping"
    publish(
        template(
            "stopped",
            {
                "id": "long",
                "type": "task",
                "activity": "test.sleep",
                "retry": {"max_attempts": 3, "initial_interval": "PT0S"},
                "input": {"marker": f'"{marker}"', "seconds": "3"},
            },
        )
    )
    instance = start_instance("stopped", {})
    pid = int(wait_for(lambda: marker.exists() and marker.read_text(), timeout=60))
    os.kill(pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        # the lease expires, the reaper gives the attempt away, the other pool process runs it again
        wait_for(lambda: WorkflowInstance.objects.get(pk=instance.pk).state == "completed", timeout=60)
    finally:
        os.kill(pid, signal.SIGCONT)
    time.sleep(4)  # the continued attempt finishes its sleep and tries to record its result
    run = PhaseRun.objects.get(instance=instance, phase_id="long")
    completes = Transition.objects.filter(phase_run=run, item_run=None, name="complete").count()
    report(
        "SIGSTOP past the lease, then SIGCONT",
        completed=int(run.state == "completed"),
        result_from_attempt=run.output["attempt"],
        completes=completes,
        extra_calls=len(running.worker.calls("test.sleep", instance)) - 1,
        recovered_after_s=round(time.monotonic() - stopped_at, 1),
        worst_reap_delay_s=worst_reap_delay([instance.pk], LEASE_SECONDS),
    )
    assert (run.state, run.output["attempt"], completes) == (
        "completed",
        2,
        1,
    )  # the late result changed nothing


def test_a_poison_activity_ends_in_the_dead_letter_queue_while_other_work_goes_on(cluster):
    running = cluster()
    publish(
        template(
            "poisoned",
            {
                "id": "boom",
                "type": "task",
                "activity": "test.poison",
                "retry": {"max_attempts": 10, "initial_interval": "PT0S"},
            },
        )
    )
    ledger_chain("healthy", 2)
    poisoned = start_instance("poisoned", {})
    healthy = start_many("healthy", size(10, 50))
    wait_for(lambda: finished([poisoned.pk, *healthy]) == len(healthy) + 1, timeout=120, interval=0.5)
    letter = DeadLetter.objects.get(instance=poisoned)
    figures = check_ledger(healthy)
    report(
        "poison activity",
        poison_calls=len(running.worker.calls("test.poison", poisoned)),
        dead_letter_poison=letter.error.get("poison"),
        poisoned_instance=WorkflowInstance.objects.get(pk=poisoned.pk).state,
        **figures,
        worst_reap_delay_s=worst_reap_delay([poisoned.pk], LEASE_SECONDS),
    )
    assert letter.error["poison"] is True
    assert figures["completed"] == len(healthy)
    assert (figures["missing"], figures["succeeded_twice"]) == (0, 0)


def test_kill_9_while_workers_run_the_branches_they_kept_loses_nothing_and_repeats_nothing(cluster):
    """Under a backlog a worker runs the branches its step made ready itself (PHASEGATE_KEEP_LOCAL_BACKLOG):
    they are ready and unsent while it does. Killed then, it leaves them to the due-work sweep."""
    running = cluster(PHASEGATE_KEEP_LOCAL_BACKLOG="2")
    retry = {"max_attempts": 30, "initial_interval": "PT0.2S", "backoff": 1.5, "max_interval": "PT2S"}
    step = {"type": "task", "activity": "test.ledger", "retry": retry, "input": {"seconds": "0.05"}}
    branches = [f"b{index}" for index in range(4)]
    publish(
        template(
            "crash_fan",
            {"id": "a", **step},
            *({"id": branch, "depends_on": ["a"], **step} for branch in branches),
            {"id": "join", "depends_on": branches, **step},
        )
    )
    count = size(24, 200)
    ids = start_many("crash_fan", count)
    kills, started = 0, time.monotonic()
    while finished(ids) < count and time.monotonic() - started < size(120, 600):
        time.sleep(2)
        for pid in running.worker.pool_pids()[:1]:
            os.kill(pid, signal.SIGKILL)
        kills += 1
    wait_for(lambda: finished(ids) == count, timeout=size(120, 600), interval=1)
    figures = check_ledger(ids)
    report("kill -9 with branches kept under a backlog", **figures, kills=kills)
    assert figures["completed"] == count, running.logs()
    assert (figures["missing"], figures["succeeded_twice"]) == (0, 0)
