"""/metrics (prometheus_client, multiprocess) and /health/live, /health/ready."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from engine.models import SweepHeartbeat, WorkflowInstance
from engine.runtime.start import start_instance
from tests.support.engine import publish, states, template
from tests.support.seed import seed
from tests.support.worker import Worker, purge_broker, wait_for


def scrape(client: Client, **extra: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def worker(tmp_path_factory: pytest.TempPathFactory, transactional_db: None) -> Iterator[Worker]:
    purge_broker()
    running = Worker(tmp_path_factory.mktemp("worker"))
    running.start()
    yield running
    running.stop()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_metrics_count_the_steps_every_worker_process_ran(worker: Worker) -> None:
    """The attempts ran in the worker's pool processes; /metrics in this process adds up their files."""
    publish(
        template(
            "counted",
            {
                "id": "flaky",
                "type": "task",
                "activity": "test.flaky",
                "input": {"fail_times": "1", "kind": '"transient"'},
                "retry": {"max_attempts": 3, "initial_interval": "PT0S", "retry_on": ["transient"]},
            },
            {"id": "echo", "type": "task", "activity": "test.echo", "depends_on": ["flaky"]},
        )
    )
    client = Client()
    before = scrape(client)
    instance = start_instance("counted", {})
    wait_for(lambda: WorkflowInstance.objects.get(pk=instance.pk).is_finished, timeout=60)
    assert WorkflowInstance.objects.get(pk=instance.pk).state == "completed", states(instance)
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    steps = "phasegate_steps_total"
    assert delta(steps, template="counted", phase="flaky", outcome="failed", error_category="transient") == 1
    assert delta(steps, template="counted", phase="flaky", outcome="succeeded", error_category="") == 1
    assert delta(steps, template="counted", phase="echo", outcome="succeeded", error_category="") == 1
    assert delta("phasegate_step_duration_seconds_count", template="counted", phase="flaky") == 2
    # the first attempt and the retry went through the broker: their wait is measured
    queue = worker_queue()
    assert delta("phasegate_queue_wait_seconds_count", queue=queue) >= 2


def worker_queue() -> str:
    from django.conf import settings

    return settings.CELERY_TASK_DEFAULT_QUEUE


@pytest.mark.django_db
def test_database_gauges_at_scrape_time(client: Client) -> None:
    seed(timezone.now())
    samples = scrape(client)
    sla = "phasegate_open_human_phases"
    assert value(samples, sla, sla_status="on_schedule") == 1
    assert value(samples, sla, sla_status="at_risk") == 1
    assert value(samples, sla, sla_status="behind_schedule") == 1
    assert value(samples, sla, sla_status="none") == 1
    assert value(samples, "phasegate_dead_letters_open", category="data") == 1
    assert value(samples, "phasegate_dead_letters_open", category="transient") == 1
    assert value(samples, "phasegate_dead_letters_open", category="system") == 0
    assert value(samples, "phasegate_expired_leases") == 1
    assert value(samples, "phasegate_expired_lease_oldest_seconds") >= 30
    assert value(samples, "phasegate_ready_attempts") == 1
    assert value(samples, "phasegate_ready_attempt_oldest_seconds") >= 120
    assert value(samples, "phasegate_unfinished_instances", state="running") == 3


@pytest.mark.django_db
def test_database_gauges_cost_a_fixed_number_of_queries(
    client: Client, django_assert_max_num_queries
) -> None:
    seed(timezone.now())
    with django_assert_max_num_queries(12):
        assert client.get("/metrics").status_code == 200


@pytest.mark.django_db
def test_metrics_refuse_other_addresses_without_configuration(client: Client) -> None:
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


@pytest.mark.django_db
def test_metrics_token(client: Client, settings) -> None:
    settings.PHASEGATE_METRICS = {**settings.PHASEGATE_METRICS, "TOKEN": "s3cret-token", "ALLOWED_IPS": []}
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200


@pytest.mark.django_db
def test_metrics_allow_list(client: Client, settings) -> None:
    settings.PHASEGATE_METRICS = {**settings.PHASEGATE_METRICS, "TOKEN": "", "ALLOWED_IPS": ["10.0.0.0/8"]}
    assert client.get("/metrics", REMOTE_ADDR="10.9.8.7").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403  # the list replaces loopback


def test_live(client: Client) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_needs_a_recent_due_work_sweep(client: Client) -> None:
    from engine.tasks import due_work_dispatch

    never = client.get("/health/ready")
    assert never.status_code == 503
    body = never.json()
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert not body["checks"]["beat"]["ok"]

    due_work_dispatch.apply()  # as a worker runs what beat sends: the signal records the heartbeat
    assert SweepHeartbeat.objects.filter(name="due_work").exists()
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["status"] == "ok"

    SweepHeartbeat.objects.filter(name="due_work").update(last_run_at=timezone.now() - timedelta(minutes=5))
    stale = client.get("/health/ready")
    assert stale.status_code == 503
    assert "last ran" in stale.json()["checks"]["beat"]["message"]


@pytest.mark.django_db
def test_ready_reports_an_unreachable_broker(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.observability import health
    from engine.tasks import due_work_dispatch

    down = health.check_broker("redis://:hunter2@127.0.0.1:1/0")  # nothing listens on port 1
    assert not down["ok"] and "hunter2" not in down["message"] and "127.0.0.1" not in down["message"]

    due_work_dispatch.apply()
    monkeypatch.setattr(health, "check_broker", lambda: down)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == down
