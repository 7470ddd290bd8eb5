"""Why is it waiting? Every open or waiting phase says so: for whom, until when, or on what."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import pytest
from django.urls import reverse

from engine.runtime.actors import Actor
from engine.runtime.signals import deliver_signal
from tests.support.human import fast_passwords, load, people, start  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(db):
    load(
        {
            "format": "phasegate/v1",
            "key": "mixed",
            "name": "Mixed",
            "roles": {"tester": {"name": "Tester"}},
            "phases": [
                {"id": "approval", "type": "wait", "signal": "approved", "timeout": "P1D"},
                {"id": "cool_down", "type": "wait", "duration": "PT1H"},
                {
                    "id": "fetch",
                    "type": "task",
                    "activity": "test.flaky",
                    "input": {"fail_times": "1"},
                    "retry": {"max_attempts": 3, "initial_interval": "PT1M"},
                },
                {"id": "review", "type": "human", "roles": ["tester"], "depends_on": ["approval"]},
            ],
        }
    )


@pytest.fixture
def gated(db):
    load(
        {
            "format": "phasegate/v1",
            "key": "gated",
            "name": "Gated",
            "phases": [
                {
                    "id": "check",
                    "type": "gate",
                    "check": "params.rows > 0",
                    "message": "no rows",
                    "action": "RETRY_INGESTION",
                },
                {"id": "after", "type": "wait", "duration": "PT1M", "depends_on": ["check"]},
            ],
        }
    )


def progress(client, user, instance) -> str:
    client.force_login(user)
    return client.get(reverse("pages:workflow_detail", args=[instance.pk])).content.decode()


def test_each_kind_of_wait_says_why(client, mixed, people, broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the attempt is sent after the start commits
        instance = start("mixed", params={}, user=people["tester"])
    page = progress(client, people["tester"], instance)
    assert "Waits for the signal “approved”; gives up at" in page
    assert "Waits for its timer until" in page
    assert "Queued for a worker." in page
    assert "Waits for Approval to finish." in page or "Waits for approval to finish." in page

    with django_capture_on_commit_callbacks(execute=True):
        broker.drain()  # the first attempt of fetch fails with a transient error
    page = progress(client, people["tester"], instance)
    assert "Retry of attempt 2 due at" in page and "transient error: upstream timed out" in page

    deliver_signal(instance_id=instance.pk, name="approved", payload={}, actor=Actor.system("test"))
    page = progress(client, people["tester"], instance)
    assert "Waits for someone with the role Tester to claim it." in page


def test_a_failed_gate_says_why_and_what_to_do(client, gated, people):
    instance = start("gated", params={"rows": 0}, user=people["tester"])
    page = progress(client, people["tester"], instance)
    assert "The gate failed: no rows (action RETRY_INGESTION)." in page
    assert "The instance is failed." in page
