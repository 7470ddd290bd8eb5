"""Dead letters fixed in the admin and the API: retry, discard (reason required), bulk, and a retry after
correcting the attempt's input or the instance's params (checked, audited with before and after)."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from engine.models import DeadLetter, PhaseRun, Transition, WorkflowInstance
from engine.runtime.start import start_instance
from tests.factories import UserFactory
from tests.support.engine import publish, template

pytestmark = pytest.mark.django_db(transaction=True)

PARAMS_SCHEMA = {
    "type": "object",
    "required": ["fails"],
    "properties": {"fails": {"type": "integer", "minimum": 0}},
}


@pytest.fixture
def failing(broker):
    """An instance whose only task failed with a data error (params.fails attempts fail): one dead letter."""
    publish(
        template(
            "fragile",
            {
                "id": "fetch",
                "type": "task",
                "activity": "test.flaky",
                "input": {"fail_times": "params.fails", "kind": '"data"'},
            },
            params=PARAMS_SCHEMA,
        )
    )

    def make(fails: int = 5) -> DeadLetter:
        instance = start_instance("fragile", {"fails": fails})
        broker.drain()
        return DeadLetter.objects.get(instance=instance)

    return make


@pytest.fixture
def operator(client):
    user = UserFactory(username="ops", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="resolve_deadletter"),
        Permission.objects.get(codename="view_deadletter"),
    )
    client.force_login(user)
    return client


def url(letter: DeadLetter, action: str) -> str:
    return reverse("admin:engine_deadletter_override", args=[letter.pk, action])


def finished_state(letter: DeadLetter) -> str:
    return WorkflowInstance.objects.get(pk=letter.instance_id).state


def test_the_dead_letter_page_offers_retry_fix_and_discard(operator, failing) -> None:
    letter = failing()
    assert finished_state(letter) == "failed"
    page = operator.get(reverse("admin:engine_deadletter_change", args=[letter.pk])).content.decode()
    for action in ("retry", "retry_edited", "discard"):
        assert url(letter, action) in page
    assert "row 7 has no price" in page  # the error
    assert "&quot;fail_times&quot;: 5" in page  # the input the attempt got, as JSON


def test_retry_after_correcting_the_params(operator, failing, broker) -> None:
    letter = failing()
    form = operator.get(url(letter, "retry_edited")).content.decode()
    assert "&quot;fails&quot;: 5" in form  # prefilled with the instance's params
    response = operator.post(
        url(letter, "retry_edited"),
        {
            "reason": "the feed was fixed upstream",
            "params": '{"fails": 0}',
            "input": '{"fail_times": 5, "kind": "data"}',
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    broker.drain()
    assert finished_state(letter) == "completed"
    letter.refresh_from_db()
    assert letter.state == "retried" and letter.resolution_reason == "the feed was fixed upstream"
    edit = Transition.objects.get(instance_id=letter.instance_id, name="params_edit")
    assert edit.metadata == {
        "override": True,
        "before": {"params": {"fails": 5}},
        "after": {"params": {"fails": 0}},
    }
    assert edit.actor_label == "ops"
    assert not Transition.objects.filter(
        instance_id=letter.instance_id, name="input_edit"
    ).exists()  # unchanged


def test_retry_after_correcting_the_attempts_input(operator, failing, broker) -> None:
    letter = failing()
    response = operator.post(
        url(letter, "retry_edited"),
        {
            "reason": "skip the bad row",
            "params": '{"fails": 5}',
            "input": '{"fail_times": 0, "kind": "data"}',
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    broker.drain()
    assert finished_state(letter) == "completed"
    run = PhaseRun.objects.get(instance_id=letter.instance_id, phase_id="fetch")
    assert run.output == {"ok": True, "attempt": 2} and run.input_override == {
        "fail_times": 0,
        "kind": "data",
    }
    edit = Transition.objects.get(instance_id=letter.instance_id, name="input_edit")
    assert edit.metadata["before"] == {"input": {"fail_times": 5, "kind": "data"}}
    assert edit.metadata["after"] == {"input": {"fail_times": 0, "kind": "data"}}
    assert WorkflowInstance.objects.get(pk=letter.instance_id).params == {"fails": 5}


def test_params_that_break_the_schema_are_refused_beside_the_field(operator, failing) -> None:
    letter = failing()
    response = operator.post(url(letter, "retry_edited"), {"reason": "try", "params": '{"fails": "none"}'})
    assert response.status_code == 400
    assert "fails must be an integer, not a string" in response.content.decode()
    letter.refresh_from_db()
    assert letter.state == "open"
    assert WorkflowInstance.objects.get(pk=letter.instance_id).params == {"fails": 5}
    assert not Transition.objects.filter(instance_id=letter.instance_id, name="params_edit").exists()
    not_json = operator.post(url(letter, "retry_edited"), {"reason": "try", "params": "{fails: 0"})
    assert not_json.status_code == 400


def test_discard_needs_a_reason(operator, failing) -> None:
    letter = failing()
    assert operator.post(url(letter, "discard"), {"reason": "  "}).status_code == 400
    letter.refresh_from_db()
    assert letter.state == "open"
    assert operator.post(url(letter, "discard"), {"reason": "duplicate of #12"}).status_code == 302
    letter.refresh_from_db()
    assert (letter.state, letter.resolution_reason) == ("discarded", "duplicate of #12")
    assert finished_state(letter) == "failed"  # the instance stays as it is


def test_bulk_retry_and_discard(operator, failing, broker) -> None:
    letters = [failing(fails=1), failing(fails=1), failing(fails=1)]
    changelist = reverse("admin:engine_deadletter_changelist")
    ask = operator.post(
        changelist, {"action": "override_retry", ACTION_CHECKBOX_NAME: [letters[0].pk, letters[1].pk]}
    )
    assert ask.status_code == 200 and "reason" in ask.content.decode()
    done = operator.post(
        changelist,
        {
            "action": "override_retry",
            ACTION_CHECKBOX_NAME: [letters[0].pk, letters[1].pk],
            "apply": "yes",
            "reason": "the upstream is back",
        },
    )
    assert done.status_code == 302
    broker.drain()
    assert [finished_state(letter) for letter in letters[:2]] == ["completed", "completed"]
    operator.post(
        changelist,
        {
            "action": "override_discard",
            ACTION_CHECKBOX_NAME: [letters[2].pk],
            "apply": "yes",
            "reason": "stale",
        },
    )
    assert DeadLetter.objects.get(pk=letters[2].pk).state == "discarded"


def test_without_the_permission_nothing_is_offered_or_done(client, failing) -> None:
    letter = failing()
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_deadletter"))
    client.force_login(viewer)
    page = client.get(reverse("admin:engine_deadletter_change", args=[letter.pk])).content.decode()
    assert url(letter, "retry") not in page
    assert client.post(url(letter, "retry"), {"reason": "x"}).status_code == 403
    assert DeadLetter.objects.get(pk=letter.pk).state == "open"


def test_api_retry_with_a_corrected_input(failing, broker) -> None:
    letter = failing()
    user = UserFactory(username="robot", is_superuser=True, is_staff=True)
    api = APIClient()
    api.force_login(user)
    bad = api.post(
        f"/api/dead-letters/{letter.pk}/retry/", {"reason": "fix", "params": {"fails": -1}}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["code"] == "form_invalid"
    response = api.post(
        f"/api/dead-letters/{letter.pk}/retry/",
        {"reason": "fix", "input": {"fail_times": 0}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "retried"
    broker.drain()
    assert finished_state(letter) == "completed"
