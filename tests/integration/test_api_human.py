"""Human work over the API: claim, release, assign, complete with form data and rework, comment; and the
administrator overrides force-complete, reassign and extend-SLA."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from engine.models import WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.support.clients import client_for
from tests.support.engine import states

pytestmark = pytest.mark.django_db(transaction=True)

DT = {
    "format": "phasegate/v1",
    "key": "dt",
    "name": "Data testing",
    "roles": {"tester": {"name": "Tester"}, "test_manager": {"name": "Test manager"}},
    "phases": [
        {
            "id": "planning",
            "type": "human",
            "roles": ["tester"],
            "sla": {"duration": "P7D"},
            "form": {
                "type": "object",
                "required": ["plan_url"],
                "properties": {"plan_url": {"type": "string", "format": "uri"}},
            },
        },
        {
            "id": "scoping",
            "type": "human",
            "roles": ["tester"],
            "depends_on": ["planning"],
            "outcomes": ["approved", "rework"],
            "on_outcome": {"rework": {"reopen": "planning"}},
        },
    ],
}
PLAN = {"plan_url": "https://example.com/plan"}


@pytest.fixture
def instance() -> WorkflowInstance:
    template_load(document=DT, publish=True)
    return start_instance("dt", {}, actor=Actor("test"))


@pytest.fixture
def tester():
    return client_for(roles=("tester",))


def phase_url(instance: WorkflowInstance, phase_id: str, action: str = "") -> str:
    return f"/api/instances/{instance.pk}/phases/{phase_id}/" + (f"{action}/" if action else "")


# --- claim and release ----------------------------------------------------------------------------------


def test_claim_takes_the_phase(instance, tester):
    client, user = tester
    response = client.post(phase_url(instance, "planning", "claim"))
    assert response.status_code == 200
    assert response.json()["assignee"] == user.username
    assert client.post(phase_url(instance, "planning", "claim")).status_code == 200  # already yours


def test_claim_of_a_phase_someone_else_holds_is_409(instance, tester):
    tester.post(phase_url(instance, "planning", "claim"))
    other, _ = client_for(roles=("tester",))
    response = other.post(phase_url(instance, "planning", "claim"))
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert response.json()["extra"]["holder"] == tester.user.username


def test_claim_without_the_role_is_403_even_for_staff(instance):
    staff, _ = client_for(is_staff=True)
    response = staff.post(phase_url(instance, "planning", "claim"))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_claim_of_a_phase_that_is_not_open_is_409(instance, tester):
    assert tester.post(phase_url(instance, "scoping", "claim")).status_code == 409


def test_claim_on_an_instance_you_cannot_see_is_403(instance):
    outsider, _ = client_for(roles=("auditor",))
    assert outsider.post(phase_url(instance, "planning", "claim")).status_code == 403


def test_release_gives_the_phase_back(instance, tester):
    client, _ = tester
    client.post(phase_url(instance, "planning", "claim"))
    response = client.post(phase_url(instance, "planning", "release"), {"reason": "on leave"}, format="json")
    assert response.status_code == 200
    assert response.json()["assignee"] is None
    assert client.post(phase_url(instance, "planning", "release")).status_code == 409  # nobody holds it


# --- assign ---------------------------------------------------------------------------------------------


def test_a_manager_assigns_to_a_role_holder(instance):
    manager, _ = client_for(roles=("test_manager",))
    _, worker = client_for(roles=("tester",))
    response = manager.post(
        phase_url(instance, "planning", "assign"), {"assignee": worker.username}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["assignee"] == worker.username
    unassigned = manager.post(phase_url(instance, "planning", "assign"), {"assignee": None}, format="json")
    assert unassigned.json()["assignee"] is None


def test_assigning_to_someone_without_the_role_is_400(instance):
    manager, _ = client_for(roles=("test_manager",))
    _, nobody = client_for()
    response = manager.post(
        phase_url(instance, "planning", "assign"), {"assignee": nobody.username}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "form_invalid"
    assert response.json()["extra"]["errors"]["assignee"]


def test_assigning_to_an_unknown_user_is_400(instance):
    manager, _ = client_for(roles=("test_manager",))
    response = manager.post(phase_url(instance, "planning", "assign"), {"assignee": "ghost"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("assignee:")


def test_assigning_needs_a_manager_role(instance, tester):
    client, user = tester
    response = client.post(
        phase_url(instance, "planning", "assign"), {"assignee": user.username}, format="json"
    )
    assert response.status_code == 403


# --- complete -------------------------------------------------------------------------------------------


def test_complete_with_form_data_moves_on(instance, tester):
    client, user = tester
    response = client.post(phase_url(instance, "planning", "complete"), {"data": PLAN}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["outcome"], body["data"], body["completed_by"]) == (
        "completed",
        "done",
        PLAN,
        user.username,
    )
    assert body["sla_status"] == "met"
    assert states(instance) == {"planning": "completed", "scoping": "active"}


def test_complete_with_invalid_form_data_is_400_by_field(instance, tester):
    client, _ = tester
    response = client.post(
        phase_url(instance, "planning", "complete"), {"data": {"plan_url": "no"}}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "form_invalid"
    uri = 'plan_url "no" is not a link with its scheme (e.g. https://example.com/plan)'
    assert body["extra"] == {
        "errors": {"plan_url": [uri]},
        "problems": [{"path": "/plan_url", "message": uri}],
    }
    missing = client.post(phase_url(instance, "planning", "complete"), {}, format="json")
    # no `title` in this form's schema: the field goes by its key
    assert missing.json()["extra"]["errors"] == {"plan_url": ["plan_url is required"]}
    assert missing.json()["extra"]["problems"] == [{"path": "/plan_url", "message": "plan_url is required"}]
    assert states(instance)["planning"] == "active"


def test_complete_with_rework_reopens_the_earlier_phase(instance, tester):
    client, _ = tester
    client.post(phase_url(instance, "planning", "complete"), {"data": PLAN}, format="json")
    bad = client.post(phase_url(instance, "scoping", "complete"), {"outcome": "maybe"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["extra"]["errors"]["outcome"]
    response = client.post(phase_url(instance, "scoping", "complete"), {"outcome": "rework"}, format="json")
    assert response.status_code == 200
    planning = client.get(phase_url(instance, "planning")).json()
    assert (planning["state"], planning["round"]) == ("active", 2)


def test_complete_of_a_phase_someone_else_holds_is_409(instance, tester):
    tester.post(phase_url(instance, "planning", "claim"))
    other, _ = client_for(roles=("tester",))
    response = other.post(phase_url(instance, "planning", "complete"), {"data": PLAN}, format="json")
    assert response.status_code == 409


# --- comments -------------------------------------------------------------------------------------------


def test_comment_on_a_phase(instance, tester):
    client, user = tester
    response = client.post(
        phase_url(instance, "planning", "comment"), {"body": "Plan is late"}, format="json"
    )
    assert response.status_code == 201
    assert (response.json()["author"], response.json()["phase_id"]) == (user.username, "planning")
    comments = client.get(phase_url(instance, "planning")).json()["comments"]
    assert [c["body"] for c in comments] == ["Plan is late"]
    assert (
        client.post(phase_url(instance, "planning", "comment"), {"body": "  "}, format="json").status_code
        == 400
    )


# --- overrides ------------------------------------------------------------------------------------------


@pytest.fixture
def administrator():
    return client_for("override_phaserun", is_staff=True)


def test_force_complete_needs_a_reason_and_the_permission(instance, administrator):
    client, _ = administrator
    assert (
        client.post(phase_url(instance, "planning", "force-complete"), {}, format="json").status_code == 400
    )
    response = client.post(
        phase_url(instance, "planning", "force-complete"),
        {"reason": "done on paper", "data": PLAN},
        format="json",
    )
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["data"]) == ("completed", PLAN)
    staff, _ = client_for(is_staff=True)
    forbidden = staff.post(phase_url(instance, "scoping", "force-complete"), {"reason": "x"}, format="json")
    assert forbidden.status_code == 403


def test_reassign_hands_the_phase_to_anyone(instance, administrator):
    client, _ = administrator
    _, anyone = client_for()
    body = {"assignee": anyone.username, "reason": "covering"}
    response = client.post(phase_url(instance, "planning", "reassign"), body, format="json")
    assert response.status_code == 200
    assert response.json()["assignee"] == anyone.username


def test_extend_sla_moves_the_due_time(instance, administrator):
    client, _ = administrator
    due = timezone.now() + timedelta(days=30)
    body = {"due_at": due.isoformat(), "reason": "holiday"}
    response = client.post(phase_url(instance, "planning", "extend-sla"), body, format="json")
    assert response.status_code == 200
    assert abs(datetime.fromisoformat(response.json()["due_at"]) - due) < timedelta(seconds=1)
    past = {"due_at": (timezone.now() - timedelta(days=1)).isoformat(), "reason": "oops"}
    refused = client.post(phase_url(instance, "planning", "extend-sla"), past, format="json")
    assert refused.status_code == 400
    assert refused.json()["extra"]["errors"]["due_at"]
