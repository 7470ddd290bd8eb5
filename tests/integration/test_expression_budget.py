"""An expression over its budget fails its phase with a `data` error at once; oversized params are a 400."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from engine.models import PhaseRun, WorkflowInstance
from engine.services.templates import template_load
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

PICK = {
    "format": "phasegate/v1",
    "key": "pick",
    "name": "Pick",
    "params": {"type": "object", "properties": {"xs": {"type": "array", "items": {"type": "integer"}}}},
    "phases": [
        {
            "id": "pick",
            "type": "choice",
            "choices": [
                {"when": "params.xs.map(x, params.xs.filter(y, y < x).size()).size() > 0", "then": ["full"]}
            ],
            "otherwise": ["quick"],
        },
        {"id": "full", "type": "wait", "duration": "PT1H", "depends_on": ["pick"]},
        {"id": "quick", "type": "wait", "duration": "PT1H", "depends_on": ["pick"]},
    ],
}


@pytest.fixture
def client(broker) -> APIClient:
    template_load(document=PICK, publish=True)
    client = APIClient()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_an_expression_over_its_budget_fails_the_phase_with_a_data_error(client):
    response = client.post(
        "/api/instances/", {"template": "pick", "params": {"xs": list(range(400))}}, format="json"
    )
    assert response.status_code == 201
    run = PhaseRun.objects.get(instance_id=response.json()["id"], phase_id="pick")
    assert run.state == "failed"
    assert run.error["category"] == "data"
    # The step bound, or the time bound on a loaded machine: either stops it within about a second.
    assert "evaluation steps" in run.error["message"] or "ran longer than" in run.error["message"]
    assert WorkflowInstance.objects.get(pk=response.json()["id"]).state == "failed"


def test_the_same_expression_on_small_params_runs(client):
    response = client.post(
        "/api/instances/", {"template": "pick", "params": {"xs": [1, 2, 3]}}, format="json"
    )
    states = {p["phase_id"]: p["state"] for p in response.json()["phases"]}
    assert states == {"pick": "completed", "full": "waiting", "quick": "skipped"}


def test_params_over_the_size_limit_are_a_400_and_start_nothing(client):
    response = client.post(
        "/api/instances/", {"template": "pick", "params": {"xs": list(range(10_001))}}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "params_invalid"
    assert body["extra"]["errors"][0]["path"] == "/xs"
    assert WorkflowInstance.objects.count() == 0
