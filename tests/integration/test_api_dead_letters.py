"""The dead-letter API: list and filter, detail, retry and discard with a reason."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from engine.models import DeadLetter, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.support.clients import client_for

pytestmark = pytest.mark.django_db(transaction=True)

FLAKY = {
    "format": "phasegate/v1",
    "key": "flaky",
    "name": "Flaky",
    "phases": [
        {
            "id": "fetch",
            "type": "task",
            "activity": "test.flaky",
            "retry": {"max_attempts": 1},
            "input": {"fail_times": "1", "kind": "'data'"},
        },
    ],
}


@pytest.fixture
def resolver() -> APIClient:
    return client_for("resolve_deadletter", is_staff=True)


@pytest.fixture
def letter(broker) -> DeadLetter:
    template_load(document=FLAKY, publish=True)
    instance = start_instance("flaky", {}, actor=Actor("test"))
    broker.drain()
    assert WorkflowInstance.objects.get(pk=instance.pk).state == "failed"
    return DeadLetter.objects.get(instance=instance)


def test_list_and_filter_by_state(letter, resolver):
    body = resolver.get("/api/dead-letters/").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["id"], row["phase_id"], row["category"], row["state"]) == (letter.pk, "fetch", "data", "open")
    assert row["template"] == "flaky"
    assert resolver.get("/api/dead-letters/?state=open").json()["count"] == 1
    assert resolver.get("/api/dead-letters/?state=discarded").json()["count"] == 0
    assert resolver.get(f"/api/dead-letters/?instance={letter.instance_id}").json()["count"] == 1
    assert resolver.get("/api/dead-letters/?state=lost").status_code == 400
    assert resolver.get("/api/dead-letters/?instance=nope").status_code == 400


def test_only_dead_letters_of_visible_instances_are_listed(letter):
    client = client_for("resolve_deadletter")
    assert client.get("/api/dead-letters/").json()["count"] == 0
    assert client.get(f"/api/dead-letters/{letter.pk}/").status_code == 403


def test_detail_and_404s(letter, resolver):
    body = resolver.get(f"/api/dead-letters/{letter.pk}/").json()
    assert body["message"] == "row 7 has no price"
    assert body["instance"] == str(letter.instance_id)
    assert resolver.get("/api/dead-letters/999999/").status_code == 404
    assert resolver.get("/api/dead-letters/99999999999999999999999999/").status_code == 404
    assert resolver.post("/api/dead-letters/999999/retry/", {"reason": "x"}, format="json").status_code == 404


def test_retry_runs_the_phase_again_and_a_second_retry_is_409(letter, resolver, broker):
    response = resolver.post(f"/api/dead-letters/{letter.pk}/retry/", {"reason": "data fixed"}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "retried"
    assert response.json()["resolution_reason"] == "data fixed"
    broker.drain()
    assert WorkflowInstance.objects.get(pk=letter.instance_id).state == "completed"
    again = resolver.post(f"/api/dead-letters/{letter.pk}/retry/", {"reason": "again"}, format="json")
    assert again.status_code == 409


def test_discard_then_discard_again_is_409(letter, resolver):
    response = resolver.post(f"/api/dead-letters/{letter.pk}/discard/", {"reason": "bad day"}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "discarded"
    assert response.json()["resolved_by"]
    again = resolver.post(f"/api/dead-letters/{letter.pk}/discard/", {"reason": "again"}, format="json")
    assert again.status_code == 409


@pytest.mark.parametrize("operation", ["retry", "discard"])
def test_resolving_needs_the_resolve_permission(letter, operation):
    client = client_for("override_workflowinstance", "override_phaserun", is_staff=True)
    response = client.post(f"/api/dead-letters/{letter.pk}/{operation}/", {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert "resolve_deadletter" in response.json()["message"]


def test_resolving_needs_a_reason(letter, resolver):
    response = resolver.post(f"/api/dead-letters/{letter.pk}/discard/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["reason"]
