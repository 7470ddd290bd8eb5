"""The instances API: start (idempotently), read with visibility, filter, operate, phases, signals."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from engine.models import WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from tests.support.clients import client_for
from tests.support.engine import states

# Dispatching to the (fake) broker happens on commit, so these tests commit for real.
pytestmark = pytest.mark.django_db(transaction=True)

REVIEW = {
    "format": "phasegate/v1",
    "key": "review",
    "name": "Review",
    "params": {
        "type": "object",
        "required": ["report_id"],
        "properties": {"report_id": {"type": "integer"}},
    },
    "roles": {"reviewer": {"name": "Reviewer"}},
    "phases": [
        {"id": "draft", "type": "human", "roles": ["reviewer"]},
        {"id": "check", "type": "human", "roles": ["reviewer"], "depends_on": ["draft"]},
    ],
}

PIPE = {
    "format": "phasegate/v1",
    "key": "pipe",
    "name": "Pipe",
    "phases": [
        {"id": "fetch", "type": "task", "activity": "test.echo", "input": {"n": "1"}},
        {"id": "go", "type": "wait", "signal": "go", "depends_on": ["fetch"]},
        {"id": "after", "type": "task", "activity": "test.echo", "depends_on": ["go"]},
    ],
}

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
            "input": {"fail_times": "1"},
        },
    ],
}


@pytest.fixture
def admin() -> APIClient:
    client, _ = client_for(is_staff=True, is_superuser=True)
    return client


@pytest.fixture
def templates() -> None:
    for document in (REVIEW, PIPE, FLAKY):
        template_load(document=document, publish=True)


def start(key: str = "review", params: dict | None = None, **kwargs: object) -> WorkflowInstance:
    return start_instance(
        key, params if params is not None else {"report_id": 1}, actor=Actor("test"), **kwargs
    )


def url(instance: WorkflowInstance, tail: str = "") -> str:
    return f"/api/instances/{instance.pk}/{tail}"


# --- start ----------------------------------------------------------------------------------------------


def test_start_creates_an_instance_with_201(templates, broker):
    client, user = client_for("add_workflowinstance")
    response = client.post(
        "/api/instances/", {"template": "review", "params": {"report_id": 7}}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["template"], body["version"], body["state"]) == ("review", 1, "running")
    assert body["started_by"] == user.username
    assert body["params"] == {"report_id": 7}
    assert [(p["phase_id"], p["state"]) for p in body["phases"]] == [
        ("draft", "active"),
        ("check", "pending"),
    ]


def test_start_is_idempotent_per_business_key(templates, broker):
    client, _ = client_for("add_workflowinstance")
    body = {"template": "review", "params": {"report_id": 7}, "business_key": "2026-W12"}
    first = client.post("/api/instances/", body, format="json")
    again = client.post("/api/instances/", body, format="json")
    other = client.post("/api/instances/", {**body, "business_key": "2026-W13"}, format="json")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"]
    assert other.json()["id"] != first.json()["id"]
    assert WorkflowInstance.objects.count() == 2


def test_start_with_invalid_params_is_400_with_pointers(templates):
    client, _ = client_for("add_workflowinstance")
    response = client.post(
        "/api/instances/", {"template": "review", "params": {"report_id": "x"}}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "params_invalid"
    assert body["extra"]["errors"] == [
        {"path": "/report_id", "message": "report_id must be an integer, not a string"}
    ]  # the designer's words, with the JSON pointer


def test_start_of_an_unknown_template_or_version_is_404(templates):
    client, _ = client_for("add_workflowinstance")
    assert client.post("/api/instances/", {"template": "nope"}, format="json").status_code == 404
    response = client.post("/api/instances/", {"template": "review", "version": 9}, format="json")
    assert response.status_code == 404


def test_start_of_a_draft_version_is_409(templates):
    template_load(document={**REVIEW, "description": "next"})
    client, _ = client_for("add_workflowinstance")
    response = client.post(
        "/api/instances/", {"template": "review", "version": 2, "params": {"report_id": 1}}, format="json"
    )
    assert response.status_code == 409


def test_start_needs_the_add_permission(templates):
    client, _ = client_for()
    response = client.post(
        "/api/instances/", {"template": "review", "params": {"report_id": 1}}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


# --- reading and visibility -----------------------------------------------------------------------------


def test_staff_see_every_instance(templates, admin):
    start()
    start()
    assert admin.get("/api/instances/").json()["count"] == 2


def test_others_see_what_they_started_or_hold_a_role_in(templates, broker):
    starter, starter_user = client_for()
    reviewer, _ = client_for(roles=("reviewer",))
    stranger, _ = client_for(roles=("auditor",))
    mine = start_instance("pipe", {}, actor=Actor.of(starter_user))
    review = start()
    assert [row["id"] for row in starter.get("/api/instances/").json()["results"]] == [str(mine.pk)]
    assert [row["id"] for row in reviewer.get("/api/instances/").json()["results"]] == [str(review.pk)]
    assert stranger.get("/api/instances/").json()["count"] == 0
    assert stranger.get(url(review)).status_code == 403
    assert stranger.get(url(review, "history/")).status_code == 403
    assert stranger.get(url(review, "phases/draft/")).status_code == 403
    assert reviewer.get(url(review)).status_code == 200


def test_a_list_response_keeps_its_data_while_its_view_lets_go_of_the_page(templates, admin):
    start()
    response = admin.get("/api/instances/")
    assert response.status_code == 200
    assert response.data["count"] == 1 and len(response.json()["results"]) == 1
    assert vars(response.renderer_context["view"]) == {}  # config.heap.ReleaseRenderedViews


def test_unknown_or_malformed_instance_ids_are_404(admin):
    assert admin.get(f"/api/instances/{uuid.uuid4()}/").status_code == 404
    assert admin.get(f"/api/instances/{uuid.uuid4()}/").json()["code"] == "not_found"
    assert admin.get("/api/instances/not-a-uuid/").status_code == 404


def test_list_filters(templates, admin, broker):
    review = start(business_key="a")
    pipe = start("pipe", {})
    start(business_key="b")

    def ids(query: str) -> set[str]:
        response = admin.get(f"/api/instances/?{query}")
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert ids("template=pipe") == {str(pipe.pk)}
    assert ids("business_key=a") == {str(review.pk)}
    assert len(ids("state=running")) == 3
    assert ids("state=completed") == set()
    assert len(ids("created_after=2000-01-01T00:00:00Z")) == 3
    assert ids("created_before=2000-01-01T00:00:00Z") == set()


def test_list_refuses_bad_filters(admin):
    for query in ("state=sideways", "created_after=yesterday"):
        response = admin.get(f"/api/instances/?{query}")
        assert response.status_code == 400
        assert response.json()["message"]


def test_detail_and_history(templates, admin):
    instance = start()
    detail = admin.get(url(instance)).json()
    assert detail["id"] == str(instance.pk)
    assert len(detail["phases"]) == 2
    history = admin.get(url(instance, "history/")).json()["results"]
    assert history[0]["name"] == "start"
    assert history[0]["phase_id"] == ""
    assert {"draft"} <= {row["phase_id"] for row in history}


# --- instance operations --------------------------------------------------------------------------------


def test_cancel_then_cancel_again_is_409(templates):
    client, _ = client_for("override_workflowinstance", is_staff=True)
    instance = start()
    response = client.post(url(instance, "cancel/"), {"reason": "wrong report"}, format="json")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    assert {p["state"] for p in response.json()["phases"]} == {"cancelled"}
    again = client.post(url(instance, "cancel/"), {"reason": "again"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "transition_rejected"
    history = client.get(url(instance, "history/")).json()["results"]
    assert any(row["name"] == "cancel" and row["reason"] == "wrong report" for row in history)


def test_operations_need_a_reason(templates):
    client, _ = client_for("override_workflowinstance", is_staff=True)
    instance = start()
    for body in ({}, {"reason": ""}, {"reason": "   "}):
        response = client.post(url(instance, "cancel/"), body, format="json")
        assert response.status_code == 400
        assert response.json()["message"].startswith("reason:")


@pytest.mark.parametrize("operation", ["cancel", "suspend", "resume", "retry"])
def test_instance_operations_need_the_override_permission(templates, operation):
    client, _ = client_for(is_staff=True)
    instance = start()
    response = client.post(url(instance, f"{operation}/"), {"reason": "because"}, format="json")
    assert response.status_code == 403
    assert "override_workflowinstance" in response.json()["message"]


def test_operations_on_an_invisible_instance_are_403(templates):
    client, _ = client_for("override_workflowinstance")
    instance = start()
    assert client.post(url(instance, "cancel/"), {"reason": "x"}, format="json").status_code == 403


def test_operations_on_an_unknown_instance_are_404(templates):
    client, _ = client_for("override_workflowinstance", is_staff=True)
    response = client.post(f"/api/instances/{uuid.uuid4()}/suspend/", {"reason": "x"}, format="json")
    assert response.status_code == 404


def test_suspend_and_resume(templates, broker):
    client, _ = client_for("override_workflowinstance", is_staff=True)
    instance = start("pipe", {})
    suspended = client.post(url(instance, "suspend/"), {"reason": "maintenance"}, format="json")
    assert suspended.json()["state"] == "suspended"
    assert client.post(url(instance, "suspend/"), {"reason": "twice"}, format="json").status_code == 409
    broker.drain()
    assert states(instance)["fetch"] == "ready"
    resumed = client.post(url(instance, "resume/"), {"reason": "done"}, format="json")
    assert resumed.json()["state"] == "running"
    broker.drain()
    assert states(instance)["go"] == "waiting"


def test_retry_of_a_failed_instance(templates, broker):
    client, _ = client_for("override_workflowinstance", is_staff=True)
    instance = start("flaky", {})
    broker.drain()
    assert client.get(url(instance)).json()["state"] == "failed"
    response = client.post(url(instance, "retry/"), {"reason": "upstream fixed"}, format="json")
    assert response.status_code == 200
    broker.drain()
    assert client.get(url(instance)).json()["state"] == "completed"


# --- phases ---------------------------------------------------------------------------------------------


def test_phase_detail(templates, admin):
    instance = start()
    response = admin.get(url(instance, "phases/draft/"))
    assert response.status_code == 200
    body = response.json()
    assert (body["phase_id"], body["state"], body["instance"]) == ("draft", "active", str(instance.pk))
    assert body["definition"] == REVIEW["phases"][0]
    assert body["gate_results"] == []
    assert body["dead_letters"] == []
    assert admin.get(url(instance, "phases/nope/")).status_code == 404


def test_phase_skip(templates):
    client, _ = client_for("override_phaserun", is_staff=True)
    instance = start()
    skipped = client.post(url(instance, "phases/draft/skip/"), {"reason": "not needed"}, format="json")
    assert skipped.status_code == 200
    assert skipped.json()["state"] == "skipped"
    assert states(instance) == {"draft": "skipped", "check": "skipped"}


def test_phase_reopen_starts_a_new_round(templates):
    client, _ = client_for("override_phaserun", is_staff=True)
    instance = start()
    reopened = client.post(url(instance, "phases/draft/reopen/"), {"reason": "start over"}, format="json")
    assert reopened.status_code == 200
    assert (reopened.json()["round"], reopened.json()["state"]) == (2, "active")


def test_phase_reopen_of_a_completed_instance_reopens_the_instance(templates):
    client, _ = client_for("override_phaserun", is_staff=True)
    instance = start()
    client.post(url(instance, "phases/draft/skip/"), {"reason": "not needed"}, format="json")
    instance.refresh_from_db()
    assert instance.state == "completed"
    response = client.post(url(instance, "phases/draft/reopen/"), {"reason": "late"}, format="json")
    assert response.status_code == 200
    assert (response.json()["round"], response.json()["state"]) == (2, "active")
    instance.refresh_from_db()
    assert instance.state == "running"


def test_phase_reopen_of_a_cancelled_instance_is_409(templates):
    client, _ = client_for("override_phaserun", "override_workflowinstance", is_staff=True)
    instance = start()
    assert client.post(url(instance, "cancel/"), {"reason": "stop"}, format="json").status_code == 200
    response = client.post(url(instance, "phases/draft/reopen/"), {"reason": "late"}, format="json")
    assert response.status_code == 409
    instance.refresh_from_db()
    assert instance.state == "cancelled"


def test_phase_retry_of_a_phase_that_did_not_fail_is_409(templates):
    client, _ = client_for("override_phaserun", is_staff=True)
    instance = start()
    response = client.post(url(instance, "phases/draft/retry/"), {"reason": "again"}, format="json")
    assert response.status_code == 409


def test_phase_retry_of_a_failed_phase(templates, broker):
    client, _ = client_for("override_phaserun", is_staff=True)
    instance = start("flaky", {})
    broker.drain()
    response = client.post(url(instance, "phases/fetch/retry/"), {"reason": "try again"}, format="json")
    assert response.status_code == 200
    broker.drain()
    assert states(instance) == {"fetch": "completed"}


@pytest.mark.parametrize("operation", ["retry", "skip", "reopen"])
def test_phase_operations_need_the_phase_override_permission(templates, operation):
    client, _ = client_for("override_workflowinstance", is_staff=True)
    instance = start()
    response = client.post(url(instance, f"phases/draft/{operation}/"), {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert "override_phaserun" in response.json()["message"]


def test_phase_operation_on_an_unknown_phase_is_404(templates):
    client, _ = client_for("override_phaserun", is_staff=True)
    instance = start()
    assert client.post(url(instance, "phases/nope/skip/"), {"reason": "x"}, format="json").status_code == 404


# --- signals --------------------------------------------------------------------------------------------


def test_signal_completes_the_waiting_phase_with_the_payload(templates, admin, broker):
    instance = start("pipe", {})
    broker.drain()
    response = admin.post(url(instance, "signals/go/"), {"approved": True}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["signal"], body["completed"]) == ("go", ["go"])
    assert (body["buffered"], body["duplicate"]) == (False, False)
    broker.drain()
    assert admin.get(url(instance, "phases/go/")).json()["output"] == {"approved": True}
    assert admin.get(url(instance)).json()["state"] == "completed"


def test_signal_with_an_empty_body(templates, admin, broker):
    instance = start("pipe", {})
    broker.drain()
    assert admin.post(url(instance, "signals/go/")).status_code == 200


def test_signal_nobody_waits_for_is_409(templates, admin, broker):
    instance = start("pipe", {})
    broker.drain()
    response = admin.post(url(instance, "signals/stop/"), {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_signal_needs_visibility(templates, broker):
    client, _ = client_for()
    instance = start("pipe", {})
    assert client.post(url(instance, "signals/go/"), {}, format="json").status_code == 403
    assert client.post(f"/api/instances/{uuid.uuid4()}/signals/go/", {}, format="json").status_code == 404
