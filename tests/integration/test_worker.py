"""End to end with a real Celery worker process: the example systems, duplicate delivery, SIGKILL recovery.

On SQLite the worker uses the demo's filesystem broker; with DATABASE_URL and CELERY_BROKER_URL set (CI's
PostgreSQL run) it is PostgreSQL and Redis.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from engine.models import DeadLetter, GateResult, PhaseRun, Transition, WorkflowInstance
from engine.runtime.dispatch import AttemptRef, send_to_broker
from engine.runtime.reaper import leases_reap
from engine.runtime.start import start_instance
from engine.runtime.sweeps import due_work_dispatch
from engine.services.templates import template_load
from tests.support.engine import publish, states, template
from tests.support.worker import Worker, purge_broker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
TEMPLATES = Path(settings.BASE_DIR) / "fixtures" / "templates"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, django_db_setup: None) -> Iterator[Worker]:
    """One worker for the module, on the test database; tests that kill it start it again."""
    purge_broker()
    running = Worker(tmp_path_factory.mktemp("worker"))
    running.start()
    yield running
    running.stop()


def finished(instance: WorkflowInstance):
    def check() -> WorkflowInstance | None:
        fresh = WorkflowInstance.objects.get(pk=instance.pk)
        return fresh if fresh.is_finished else None

    return check


def load_example(key: str) -> None:
    template_load(document=json.loads((TEMPLATES / f"{key}.json").read_text()), publish=True)


def audit_covers_every_phase(instance: WorkflowInstance) -> None:
    """Every phase run's current state was reached through an audited transition."""
    for run in PhaseRun.objects.filter(instance=instance):
        last = Transition.objects.filter(phase_run=run).order_by("id").last()
        assert last is not None and last.target == run.state, (
            f"{run.phase_id}: {run.state} not in the audit trail"
        )


@pytest.mark.parametrize(
    ("key", "params"),
    [
        ("market_daily", {"symbols": ["AAPL", "MSFT", "SPY"]}),
        ("product_enrichment", {}),
        ("weekly_refresh", {"week": "2025-W01", "mode": "full"}),
        ("weekly_refresh", {"week": "2025-W02"}),
    ],
)
def test_example_system_runs_to_completion_on_a_real_worker(worker, key, params):
    load_example(key)
    instance = start_instance(key, params, business_key=f"{key}-{params.get('week', 'today')}")
    done = wait_for(finished(instance), timeout=120)
    assert done.state == "completed", (done.error, states(done), worker.log.read_text()[-3000:])
    audit_covers_every_phase(done)
    assert Transition.objects.filter(instance=done, actor_label__startswith="worker:").exists()


def test_market_batch_records_its_gates(worker):
    load_example("market_daily")
    instance = start_instance("market_daily", {"symbols": ["AAPL", "NVDA"]})
    wait_for(finished(instance), timeout=120)
    gates = dict(GateResult.objects.filter(instance=instance).values_list("phase_run__phase_id", "passed"))
    assert gates == {"ingestion_gate": True, "indicator_gate": True}


def test_transient_failures_are_retried_by_the_worker(worker):
    load_example("product_enrichment")
    fail = {"products.discover": {"kind": "transient", "times": 1}}
    instance = start_instance("product_enrichment", {"fail": fail})
    done = wait_for(finished(instance), timeout=120)
    assert done.state == "completed"
    discovery = PhaseRun.objects.get(instance=done, phase_id="discovery")
    assert discovery.attempt == 2


def test_bad_data_goes_to_the_dead_letter_queue_on_a_real_worker(worker):
    load_example("weekly_refresh")
    instance = start_instance("weekly_refresh", {"week": "1999-W01"})  # no file for that week: a data error
    done = wait_for(finished(instance), timeout=120)
    assert done.state == "failed"
    assert DeadLetter.objects.get(instance=done).category == "data"


def test_the_same_message_delivered_twice_runs_the_activity_once(worker):
    publish(template("twice", {"id": "only", "type": "task", "activity": "test.echo"}))
    instance = start_instance("twice", {})
    run = PhaseRun.objects.get(instance=instance)
    send_to_broker(AttemptRef(run.pk))  # a second copy of the message start_instance sent
    wait_for(finished(instance), timeout=60)
    send_to_broker(AttemptRef(run.pk))  # and a third, after completion
    wait_for(lambda: len(worker.calls("test.echo", instance)) >= 1, timeout=30)
    publish(template("after", {"id": "only", "type": "task", "activity": "test.flaky"}))
    sentinel = start_instance("after", {})  # runs after the duplicates in the same queue
    wait_for(finished(sentinel), timeout=60)
    assert len(worker.calls("test.echo", instance)) == 1


def test_worker_killed_mid_attempt_is_recovered_by_the_reaper(worker, tmp_path):
    if worker.process is None or worker.process.poll() is not None:
        worker.start()
    marker = tmp_path / "started"
    publish(
        template(
            "crash",
            {
                "id": "long",
                "type": "task",
                "activity": "test.sleep",
                "heartbeat": "PT2S",
                "retry": {"max_attempts": 3, "initial_interval": "PT0S"},
                "input": {"marker": f'"{marker}"', "seconds": "60", "heartbeat": "true"},
            },
            {"id": "after", "type": "task", "activity": "test.echo", "depends_on": ["long"]},
        )
    )
    instance = start_instance("crash", {})
    wait_for(marker.exists, timeout=60)
    worker.kill()
    run = PhaseRun.objects.get(instance=instance, phase_id="long")
    assert run.state == "active"
    wait_for(lambda: leases_reap() > 0, timeout=30)  # what beat runs every few seconds
    run.refresh_from_db()
    assert (run.state, run.lost_attempts) in {("waiting", 1), ("ready", 1)}
    worker.start()
    due_work_dispatch()
    done = wait_for(finished(instance), timeout=120)
    assert done.state == "completed"
    assert PhaseRun.objects.get(pk=run.pk).attempt == 2
    assert Transition.objects.filter(instance=done, actor_label="system:reaper").exists()
