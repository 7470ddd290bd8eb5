"""Delivering a signal needs the signal permission or a role its wait phase names; holding some other role
of the template is not enough."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from engine.models import Signal
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load, template_validate
from tests.support.clients import client_for
from tests.support.engine import states

pytestmark = pytest.mark.django_db(transaction=True)

APPROVAL = {
    "format": "phasegate/v1",
    "key": "approval",
    "name": "Approval",
    "roles": {"approver": {"name": "Approver"}, "clerk": {"name": "Clerk"}},
    "phases": [
        {"id": "approved", "type": "wait", "signal": "approve", "roles": ["approver"]},
        {"id": "paid", "type": "wait", "signal": "paid"},
        {"id": "file", "type": "human", "roles": ["clerk"], "depends_on": ["approved", "paid"]},
    ],
}


@pytest.fixture
def instance(broker):
    template_load(document=APPROVAL, publish=True)
    created = start_instance("approval", {}, actor=Actor("test"))
    broker.drain()
    return created


def signal(client: APIClient, instance, name: str):
    return client.post(f"/api/instances/{instance.pk}/signals/{name}/", {"ok": True}, format="json")


def test_a_holder_of_the_named_role_delivers_the_signal(instance):
    response = signal(client_for(roles=("approver",)), instance, "approve")
    assert response.status_code == 200
    assert states(instance)["approved"] == "completed"


def test_a_holder_of_another_role_of_the_template_is_refused_and_nothing_changes(instance):
    response = signal(client_for(roles=("clerk",)), instance, "approve")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "permission_denied"
    assert "approver" in body["message"] and "engine.signal_workflowinstance" in body["message"]
    assert states(instance)["approved"] == "waiting"
    assert not Signal.objects.exists()


def test_a_wait_phase_that_names_no_roles_needs_the_permission(instance):
    assert (
        signal(
            client_for(
                roles=(
                    "approver",
                    "clerk",
                )
            ),
            instance,
            "paid",
        ).status_code
        == 403
    )
    assert signal(client_for(is_staff=True), instance, "paid").status_code == 403
    allowed = client_for("signal_workflowinstance", is_staff=True)
    assert signal(allowed, instance, "paid").status_code == 200
    assert states(instance)["paid"] == "completed"


def test_the_permission_delivers_a_signal_whose_wait_names_roles(instance):
    allowed = client_for("signal_workflowinstance", is_staff=True)
    assert signal(allowed, instance, "approve").status_code == 200


def test_roles_on_a_wait_phase_are_validated():
    unknown = {**APPROVAL, "phases": [{**APPROVAL["phases"][0], "roles": ["boss"]}]}
    assert [(p.path, p.code) for p in template_validate(unknown)] == [("/phases/0/roles/0", "unknown_role")]
    timer = {**APPROVAL, "phases": [{"id": "later", "type": "wait", "duration": "PT1H", "roles": ["clerk"]}]}
    assert [p.code for p in template_validate(timer)] == ["schema"]
