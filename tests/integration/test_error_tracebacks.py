"""An attempt's traceback (server paths and code) is for operators; others see the failure without it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from engine.models import DeadLetter, WorkflowInstance
from engine.runtime.actors import Actor
from engine.runtime.start import start_instance
from tests.support.clients import client_for
from tests.support.engine import publish, template

pytestmark = pytest.mark.django_db(transaction=True)

BROKEN = template(
    "broken",
    {
        "id": "fetch",
        "type": "task",
        "activity": "test.flaky",
        "retry": {"max_attempts": 1},
        "input": {"fail_times": "1", "kind": "'system'"},
    },
)


@pytest.fixture
def failed(broker) -> WorkflowInstance:
    publish(BROKEN)
    instance = start_instance("broken", {}, actor=Actor("test"))
    broker.drain()
    instance = WorkflowInstance.objects.get(pk=instance.pk)
    assert instance.state == "failed"
    assert "Traceback" in instance.phase_runs.get(phase_id="fetch").error["traceback"]
    return instance


@pytest.fixture
def viewer():
    """Sees every instance (staff) but may not operate any."""
    return client_for(is_staff=True)


@pytest.fixture(params=["override_phaserun", "override_workflowinstance", "resolve_deadletter"])
def operator(request):
    return client_for(request.param, is_staff=True)


def _api_errors(client, instance) -> list[dict]:
    """Every stored error the API shows of the instance: its phases, the phase detail, its dead letters."""
    body = client.get(f"/api/instances/{instance.pk}/").json()
    phase = client.get(f"/api/instances/{instance.pk}/phases/fetch/").json()
    letter = DeadLetter.objects.get(instance=instance)
    listed = client.get(f"/api/dead-letters/?instance={instance.pk}").json()["results"]
    shown = [
        body["phases"][0]["error"],
        phase["error"],
        client.get(f"/api/dead-letters/{letter.pk}/").json()["error"],
    ]
    shown += [row["error"] for row in phase["dead_letters"]] + [row["error"] for row in listed]
    if body["error"]:
        shown.append(body["error"])
    return shown


def test_api_shows_the_failure_without_its_traceback_to_a_viewer(failed, viewer):
    shown = _api_errors(viewer, failed)
    assert len(shown) >= 5
    for error in shown:
        assert "traceback" not in error
        assert (error["category"], error["message"]) == ("system", "unexpected")


def test_api_shows_the_traceback_to_an_operator(failed, operator):
    for error in _api_errors(operator, failed):
        assert "Traceback" in error["traceback"]
        assert error["category"] == "system"


def test_phase_page_hides_the_traceback_from_a_viewer(failed, viewer):
    page = viewer.get(reverse("pages:phase_detail", args=[failed.pk, "fetch"]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "unexpected" in text
    assert 'class="traceback"' not in text
    assert "Traceback" not in text


def test_phase_page_shows_the_traceback_to_an_operator(failed, operator):
    page = operator.get(reverse("pages:phase_detail", args=[failed.pk, "fetch"]))
    text = page.content.decode()
    assert 'class="traceback"' in text
    assert "RuntimeError" in text


ADMIN_VIEWS = ("view_workflowinstance", "view_phaserun", "view_deadletter")


def _admin_pages(instance) -> list[str]:
    run = instance.phase_runs.get(phase_id="fetch")
    letter = DeadLetter.objects.get(instance=instance)
    return [
        reverse("admin:engine_workflowinstance_change", args=[instance.pk]),
        reverse("admin:engine_phaserun_change", args=[run.pk]),
        reverse("admin:engine_deadletter_change", args=[letter.pk]),
    ]


def test_admin_pages_hide_the_traceback_from_a_viewer(failed):
    client = client_for(*ADMIN_VIEWS, is_staff=True)
    for url in _admin_pages(failed):
        page = client.get(url)
        assert page.status_code == 200, url
        assert "unexpected" in page.content.decode(), url
        assert "Traceback" not in page.content.decode(), url


@pytest.mark.parametrize(
    "permission", ["override_phaserun", "override_workflowinstance", "resolve_deadletter"]
)
def test_admin_pages_show_the_traceback_to_an_operator(failed, permission):
    client = client_for(permission, *ADMIN_VIEWS, is_staff=True)
    for url in _admin_pages(failed)[1:]:  # the instance's own error has no traceback; its phase's has
        page = client.get(url)
        assert page.status_code == 200, url
        assert "Traceback" in page.content.decode(), url
