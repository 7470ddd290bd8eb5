"""Idempotent start tells the truth: one 201, the rest 200 with the same instance, 409 when the params
differ; a template may keep its business keys for good (`business_key_reuse: "never"`), and then a key
whose instance finished is refused naming that instance; a new run of a freed key notes the earlier one."""

from __future__ import annotations

import html
import io
import json
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from engine.models import WorkflowInstance
from engine.services.templates import template_load, template_validate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

TEMPLATES = Path(__file__).resolve().parents[2] / "fixtures" / "templates"

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


def test_a_kept_key_whose_instance_finished_is_refused_naming_that_instance(client, broker):
    template_load(document={**QUICK, "business_key_reuse": "never"}, publish=True)
    first = start(client, "quick", "2026-W12")
    broker.drain()
    done = WorkflowInstance.objects.get(pk=first.json()["id"])
    assert done.state == "completed"
    for params in ({}, {"x": 1}):
        again = start(client, "quick", "2026-W12", params)
        assert again.status_code == 409
        body = again.json()
        assert body["code"] == "business_key_used"
        assert body["message"] == (
            f"business key '2026-W12' was used by instance {done.pk}, which completed at "
            f"{done.finished_at:%Y-%m-%d %H:%M} UTC; quick never reuses a business key, so nothing started "
            "(retry or reopen that instance, or start with another key)"
        )
        assert body["extra"] == {
            "instance": str(done.pk),
            "business_key": "2026-W12",
            "state": "completed",
            "finished_at": done.finished_at.isoformat(),
        }
    assert start(client, "quick", "2026-W13").status_code == 201
    assert WorkflowInstance.objects.count() == 2


def test_a_kept_key_is_still_idempotent_while_its_instance_runs(client):
    template_load(document={**REVIEW, "business_key_reuse": "never"}, publish=True)
    first = start(client, "review", "2026-W12", {"week": 12})
    again = start(client, "review", "2026-W12", {"week": 12})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["earlier_run"] is None


def test_a_new_start_after_a_finished_run_of_its_key_notes_that_run(client, broker):
    template_load(document=QUICK, publish=True)
    first = start(client, "quick", "2026-W12")
    assert first.json()["earlier_run"] is None
    broker.drain()
    done = WorkflowInstance.objects.get(pk=first.json()["id"])
    second = start(client, "quick", "2026-W12")
    assert second.status_code == 201
    assert second.json()["earlier_run"] == {
        "instance": str(done.pk),
        "state": "completed",
        "finished_at": second.json()["earlier_run"]["finished_at"],
        "message": f"An earlier run finished: business key '2026-W12' was used by instance {done.pk}, which "
        f"completed at {done.finished_at:%Y-%m-%d %H:%M} UTC. This is a new run.",
    }
    assert parse_datetime(second.json()["earlier_run"]["finished_at"]) == done.finished_at
    assert start(client, "quick", "other-key").json()["earlier_run"] is None


def test_the_weekly_refresh_example_never_runs_a_week_twice(client, broker):
    template_load(document=json.loads((TEMPLATES / "weekly_refresh.json").read_text()), publish=True)
    first = start(client, "weekly_refresh", "1999-W01", {"week": "1999-W01"})  # no file: it fails
    broker.drain()
    failed = WorkflowInstance.objects.get(pk=first.json()["id"])
    assert failed.state == "failed"
    again = start(client, "weekly_refresh", "1999-W01", {"week": "1999-W01"})
    assert again.status_code == 409
    assert again.json()["code"] == "business_key_used"
    assert f"instance {failed.pk}, which failed at" in again.json()["message"]
    assert WorkflowInstance.objects.count() == 1


def test_start_page_shows_the_refusal_of_a_used_key(client, broker):
    template_load(document={**QUICK, "business_key_reuse": "never"}, publish=True)
    first = start(client, "quick", "2026-W12")
    broker.drain()
    page = client.post(reverse("pages:workflow_start", args=["quick"]), {"pg_business_key": "2026-W12"})
    assert page.status_code == 409
    text = html.unescape(page.content.decode())
    assert f"business key '2026-W12' was used by instance {first.json()['id']}, which completed at" in text
    assert WorkflowInstance.objects.count() == 1


def test_start_page_notes_an_earlier_finished_run_of_the_key(client, broker):
    template_load(document=QUICK, publish=True)
    first = start(client, "quick", "2026-W12")
    broker.drain()
    page = client.post(
        reverse("pages:workflow_start", args=["quick"]), {"pg_business_key": "2026-W12"}, follow=True
    )
    assert page.status_code == 200
    notes = [str(message) for message in page.context["messages"]]
    assert notes[0] == "Quick started."
    assert notes[1].startswith(
        f"An earlier run finished: business key '2026-W12' was used by instance {first.json()['id']}"
    )
    assert WorkflowInstance.objects.count() == 2


def test_start_workflow_command_prints_the_refusal_and_the_note(client, broker):
    template_load(document={**QUICK, "business_key_reuse": "never"}, publish=True)
    template_load(document={**QUICK, "key": "quick_again", "name": "Quick again"}, publish=True)
    kept = start(client, "quick", "2026-W12").json()["id"]
    freed = start(client, "quick_again", "2026-W12").json()["id"]
    broker.drain()
    with pytest.raises(CommandError, match=f"used by instance {kept}, which completed at"):
        call_command("start_workflow", "quick", "--business-key", "2026-W12")
    out, err = io.StringIO(), io.StringIO()
    call_command("start_workflow", "quick_again", "--business-key", "2026-W12", stdout=out, stderr=err)
    assert out.getvalue().split()[1] == "running"
    assert f"An earlier run finished: business key '2026-W12' was used by instance {freed}" in err.getvalue()


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
