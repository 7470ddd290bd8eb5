"""Idempotent start tells the truth: one 201, the rest 200 with the same instance, 409 when the params
differ; a template may keep its business keys for good (`business_key_reuse: "never"`)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from engine.models import WorkflowInstance
from engine.services.templates import template_load, template_validate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

REVIEW = {
    "format": "phasegate/v1",
    "key": "review",
    "name": "Review",
    "params": {"type": "object", "properties": {"week": {"type": "integer"}}},
    "roles": {"reviewer": {"name": "Reviewer"}},
    "phases": [{"id": "draft", "type": "human", "roles": ["reviewer"]}],
}
QUICK = {
    "format": "phasegate/v1",
    "key": "quick",
    "name": "Quick",
    "phases": [{"id": "fetch", "type": "task", "activity": "test.echo"}],
}


@pytest.fixture
def client(broker) -> APIClient:
    client = APIClient()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def start(client: APIClient, key: str, business_key: str, params: dict | None = None):
    body = {"template": key, "business_key": business_key, "params": params or {}}
    return client.post("/api/instances/", body, format="json")


def test_again_with_the_same_params_is_200_and_with_other_params_409(client):
    template_load(document=REVIEW, publish=True)
    first = start(client, "review", "2026-W12", {"week": 12})
    again = start(client, "review", "2026-W12", {"week": 12})
    other = start(client, "review", "2026-W12", {"week": 13})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json()["id"] == first.json()["id"]
    body = other.json()
    assert body["code"] == "conflict"
    assert body["extra"]["instance"] == first.json()["id"]
    assert "other params" in body["message"]
    assert WorkflowInstance.objects.count() == 1


def test_by_default_a_finished_instance_frees_its_business_key(client, broker):
    template_load(document=QUICK, publish=True)
    first = start(client, "quick", "2026-W12")
    broker.drain()
    assert WorkflowInstance.objects.get(pk=first.json()["id"]).state == "completed"
    second = start(client, "quick", "2026-W12")
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]


def test_a_template_can_keep_business_keys_after_completion(client, broker):
    template_load(document={**QUICK, "business_key_reuse": "never"}, publish=True)
    first = start(client, "quick", "2026-W12")
    broker.drain()
    again = start(client, "quick", "2026-W12")
    assert again.status_code == 200
    assert (again.json()["id"], again.json()["state"]) == (first.json()["id"], "completed")
    assert start(client, "quick", "2026-W12", {"x": 1}).status_code == 409
    assert start(client, "quick", "2026-W13").status_code == 201
    assert WorkflowInstance.objects.count() == 2


def test_business_key_reuse_is_validated():
    assert template_validate({**QUICK, "business_key_reuse": "never"}) == []
    problems = template_validate({**QUICK, "business_key_reuse": "sometimes"})
    assert [(p.path, p.code) for p in problems] == [("/business_key_reuse", "schema")]


@pytest.mark.parametrize("reuse", ["after_finish", "never"])
def test_concurrent_starts_with_one_key_get_one_201_and_the_rest_200(broker, reuse):
    template_load(document={**REVIEW, "business_key_reuse": reuse}, publish=True)
    user = UserFactory(is_staff=True, is_superuser=True)
    callers = 12
    barrier = threading.Barrier(callers)
    results: list = [None] * callers

    def call(index: int) -> None:
        try:
            client = APIClient()
            client.force_authenticate(user)
            barrier.wait(30)
            response = start(client, "review", "race", {"week": 1})
            results[index] = (response.status_code, response.json()["id"])
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (callers - 1) + [201], results
    assert len({instance_id for _, instance_id in results}) == 1
    assert WorkflowInstance.objects.count() == 1
