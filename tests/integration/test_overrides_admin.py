"""Overrides in the Django admin: forms with a reason, bulk actions, permissions, races shown as messages."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from engine.models import InstanceState, Transition
from engine.runtime import human
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    dt_testing,
    fast_passwords,
    grant,
    people,
    run_of,
    start,
    states,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, people):
    client.force_login(people["admin"])
    return client


def override_url(model, pk, action):
    return reverse(f"admin:engine_{model}_override", args=[pk, action])


def test_the_phase_page_in_the_admin_links_the_overrides_its_state_allows(admin_client, dt_testing, people):
    instance = start()
    run = run_of(instance, "planning")
    page = admin_client.get(reverse("admin:engine_phaserun_change", args=[run.pk])).content.decode()
    for action in ("force_complete", "skip", "reassign", "extend_sla", "reopen"):
        assert override_url("phaserun", run.pk, action) in page
    for action in ("retry", "edit_data"):
        assert override_url("phaserun", run.pk, action) not in page
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    page = admin_client.get(reverse("admin:engine_phaserun_change", args=[run.pk])).content.decode()
    assert override_url("phaserun", run.pk, "edit_data") in page
    assert override_url("phaserun", run.pk, "force_complete") not in page


def test_an_override_form_without_a_reason_is_refused_beside_the_field(admin_client, dt_testing):
    instance = start()
    run = run_of(instance, "planning")
    response = admin_client.post(override_url("phaserun", run.pk, "skip"), {"reason": ""})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert run_of(instance, "planning").state == "active"


def test_reassign_through_the_admin_lands_in_the_audit_trail(admin_client, dt_testing, people):
    instance = start()
    run = run_of(instance, "planning")
    response = admin_client.post(
        override_url("phaserun", run.pk, "reassign"),
        {"reason": "tester is on leave", "assignee": people["tester2"].pk},
    )
    assert response.status_code == 302
    assert run_of(instance, "planning").assignee == people["tester2"]
    row = Transition.objects.get(instance=instance, name="reassign")
    assert (row.actor_label, row.reason) == ("admin", "tester is on leave")
    # and the instance's page in the admin shows it, read-only
    page = admin_client.get(
        reverse("admin:engine_workflowinstance_change", args=[instance.pk])
    ).content.decode()
    assert "tester is on leave" in page


def test_extend_sla_through_the_admin(admin_client, dt_testing):
    instance = start()
    run = run_of(instance, "planning")
    response = admin_client.post(
        override_url("phaserun", run.pk, "extend_sla"), {"reason": "late data", "due_at": "2099-01-02T10:00"}
    )
    assert response.status_code == 302
    assert run_of(instance, "planning").due_at.year == 2099


def test_force_complete_with_bad_data_shows_the_problem_on_the_form(admin_client, dt_testing):
    instance = start()
    run = run_of(instance, "planning")
    response = admin_client.post(
        override_url("phaserun", run.pk, "force_complete"), {"reason": "by phone", "data": '{"plan_url": 3}'}
    )
    assert response.status_code == 400
    assert "<li>Test plan must be a string, not an integer</li>" in response.content.decode()
    assert run_of(instance, "planning").state == "active"


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ('{"plan_url": "not a link"}', "Test plan &quot;not a link&quot; is not a link with its scheme"),
        ("{}", "Test plan is required"),
    ],
)
def test_a_form_problem_in_the_admin_is_in_words_without_the_raw_key(admin_client, dt_testing, data, shown):
    run = run_of(start(), "planning")
    response = admin_client.post(
        override_url("phaserun", run.pk, "force_complete"), {"reason": "by phone", "data": data}
    )
    assert response.status_code == 400
    errors = response.content.decode().split('<ul class="errorlist')[1].split("</ul>")[0]
    assert f"<li>{shown}" in errors
    assert "plan_url" not in errors


def test_force_complete_of_a_phase_someone_just_completed_is_a_message_not_a_500(
    admin_client, dt_testing, people
):
    instance = start()
    run = run_of(instance, "planning")
    form = admin_client.get(override_url("phaserun", run.pk, "force_complete"))
    assert form.status_code == 200
    # meanwhile the tester completes it
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    response = admin_client.post(override_url("phaserun", run.pk, "force_complete"), {"reason": "by phone"})
    assert response.status_code == 409
    assert "refused" in response.content.decode() and "completed" in response.content.decode()


def test_edit_data_form_starts_from_what_was_submitted(admin_client, dt_testing, people):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    run = run_of(instance, "planning")
    page = admin_client.get(override_url("phaserun", run.pk, "edit_data")).content.decode()
    assert PLAN_URL in page
    response = admin_client.post(
        override_url("phaserun", run.pk, "edit_data"),
        {"reason": "fixed link", "data": '{"plan_url": "https://docs.example.com/plan/43"}'},
    )
    assert response.status_code == 302
    assert run_of(instance, "planning").data == {"plan_url": "https://docs.example.com/plan/43"}


def test_bulk_suspend_asks_for_a_reason_then_applies_to_each(admin_client, dt_testing):
    first, second = start(), start(params={"report_id": 9})
    changelist = reverse("admin:engine_workflowinstance_changelist")
    ids = [str(first.pk), str(second.pk)]
    ask = admin_client.post(changelist, {"action": "override_suspend", ACTION_CHECKBOX_NAME: ids})
    assert ask.status_code == 200 and "reason" in ask.content.decode()
    done = admin_client.post(
        changelist,
        {
            "action": "override_suspend",
            ACTION_CHECKBOX_NAME: ids,
            "apply": "yes",
            "reason": "quarter-end freeze",
        },
    )
    assert done.status_code == 302
    for instance in (first, second):
        instance.refresh_from_db()
        assert instance.state == InstanceState.SUSPENDED
        assert Transition.objects.get(instance=instance, name="suspend").reason == "quarter-end freeze"


def test_bulk_action_refusals_are_messages(admin_client, dt_testing):
    instance = start()
    changelist = reverse("admin:engine_workflowinstance_changelist")
    response = admin_client.post(
        changelist,
        {
            "action": "override_resume",
            ACTION_CHECKBOX_NAME: [str(instance.pk)],
            "apply": "yes",
            "reason": "go",
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Resume refused" in response.content.decode()


def test_overrides_need_the_permission(client, dt_testing, people):
    instance = start()
    run = run_of(instance, "planning")
    staff = people["staff"]
    client.force_login(staff)
    assert client.get(override_url("phaserun", run.pk, "skip")).status_code == 403
    assert client.post(override_url("phaserun", run.pk, "skip"), {"reason": "x"}).status_code == 403
    staff = grant(staff, "override_phaserun")
    client.force_login(staff)
    assert client.get(override_url("phaserun", run.pk, "skip")).status_code == 200
    # the phase permission does not cover instances
    assert client.get(override_url("workflowinstance", instance.pk, "cancel")).status_code == 403


def test_the_audit_trail_is_read_only_in_the_admin(admin_client, dt_testing):
    instance = start()
    row = Transition.objects.filter(instance=instance).first()
    response = admin_client.post(
        reverse("admin:engine_transition_change", args=[row.pk]), {"reason": "edited"}
    )
    assert response.status_code == 403
    row.refresh_from_db()
    assert row.reason == ""
    page = admin_client.get(
        reverse("admin:engine_workflowinstance_change", args=[instance.pk])
    ).content.decode()
    assert 'name="transitions-0-reason"' not in page  # the inline shows the trail, it does not edit it


def test_instance_override_form_cancels(admin_client, dt_testing):
    instance = start()
    response = admin_client.post(
        override_url("workflowinstance", instance.pk, "cancel"), {"reason": "withdrawn"}
    )
    assert response.status_code == 302
    instance.refresh_from_db()
    assert instance.state == InstanceState.CANCELLED
    assert set(states(instance).values()) == {"cancelled"}


def test_the_reopen_page_lists_what_it_resets_and_says_a_completed_instance_runs_again(
    admin_client, dt_testing, people
):
    from engine.services import overrides

    instance = start()
    run = run_of(instance, "planning")
    page = admin_client.get(override_url("phaserun", run.pk, "reopen")).content.decode()
    assert 'data-testid="reset">Reset, to run again (history stays): <strong>planning</strong>.' in page
    assert 'data-testid="instance-reopens"' not in page  # running: nothing to say about the instance
    overrides.phase_skip(
        instance_id=instance.pk, phase_id="planning", user=people["admin"], reason="withdrawn"
    )
    instance.refresh_from_db()
    assert instance.state == InstanceState.COMPLETED
    page = admin_client.get(override_url("phaserun", run.pk, "reopen")).content.decode()
    reset = page.split('data-testid="reset">', 1)[1].split("</li>", 1)[0]
    # the skip took every later phase with it: a reopen resets them all (they had settled)
    assert reset.count("<strong>") == 7 and "<strong>observations</strong>" in reset
    assert 'data-testid="instance-reopens">The instance is <strong>completed</strong>' in page
    response = admin_client.post(override_url("phaserun", run.pk, "reopen"), {"reason": "skipped by mistake"})
    assert response.status_code == 302
    instance.refresh_from_db()
    assert instance.state == InstanceState.RUNNING
