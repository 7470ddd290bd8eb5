"""The OpenAPI schema: generated without a warning, valid, and serving what a client needs."""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.factories import UserFactory


def test_schema_generates_without_warnings_and_validates(tmp_path):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    paths = schema["paths"]
    assert "/api/instances/{id}/signals/{name}/" in paths
    start = paths["/api/instances/"]["post"]
    assert start["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InstanceStart"
    }
    assert set(start["responses"]) == {"200", "201", "400", "401", "403", "404", "409", "413", "415", "503"}
    assert {"InstanceState", "PhaseState", "VersionState", "DeadLetterState", "Error"} <= set(
        schema["components"]["schemas"]
    )


@pytest.mark.django_db
def test_schema_is_served_to_a_signed_in_client():
    client = APIClient()
    client.force_login(UserFactory())
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Phasegate API"
