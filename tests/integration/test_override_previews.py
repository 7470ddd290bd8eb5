"""Skip and force-complete say what they will also settle and ask to confirm; overrides land in the admin's
History; a completed instance can be reopened from a phase."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from engine.runtime import human
from engine.runtime.previews import settle_preview
from engine.services import overrides
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    dt_testing,
    fast_passwords,
    people,
    run_of,
    start,
    states,
)

pytestmark = pytest.mark.django_db

LATER = ("scoping", "sample_selection", "data_provider_id", "request_info", "testing", "observations")


@pytest.fixture
def admin_client(client, people):
    client.force_login(people["admin"])
    return client


def override_url(model, pk, action):
    return reverse(f"admin:engine_{model}_override", args=[pk, action])


def test_preview_of_skipping_the_first_phase_lists_every_later_phase(dt_testing):
    instance = start()
    preview = settle_preview(instance_id=instance.pk, phase_id="planning", action="skip")
    assert preview.also_skipped == LATER
    assert preview.instance_completes and preview.has_consequences
    assert states(instance)["planning"] == "active"  # a preview changes nothing


def test_preview_of_force_complete_says_what_starts(dt_testing):
    instance = start()
    preview = settle_preview(instance_id=instance.pk, phase_id="planning", action="force_complete")
    assert preview.also_skipped == () and preview.will_start == ("scoping",)
    assert not preview.has_consequences


def scoping_open(people):
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    assert states(instance)["scoping"] == "active"
    return instance


def test_preview_of_force_complete_with_an_outcome_that_sends_work_back(dt_testing, people):
    instance = scoping_open(people)
    preview = settle_preview(
        instance_id=instance.pk, phase_id="scoping", action="force_complete", outcome="rework"
    )
    assert (preview.outcome, preview.reopened) == ("rework", ("planning", "scoping"))
    assert preview.will_start == ("planning",) and preview.also_skipped == ()
    assert preview.has_consequences and not preview.instance_completes
    assert states(instance)["planning"] == "completed"  # a preview changes nothing
    overrides.phase_force_complete(
        instance_id=instance.pk, phase_id="scoping", user=people["admin"], reason="redo", outcome="rework"
    )
    after = states(instance)
    assert (after["planning"], after["scoping"]) == ("active", "pending")  # what the preview said


def test_preview_of_force_complete_with_the_default_outcome_names_the_others(dt_testing, people):
    instance = scoping_open(people)
    preview = settle_preview(instance_id=instance.pk, phase_id="scoping", action="force_complete")
    assert (preview.outcome, preview.reopened) == ("approved", ())
    assert preview.other_outcomes == {"rework": "planning"}
    assert preview.will_start == ("sample_selection", "data_provider_id")


def test_the_force_complete_page_asks_to_confirm_an_outcome_that_reopens(admin_client, dt_testing, people):
    instance = scoping_open(people)
    url = override_url("phaserun", run_of(instance, "scoping").pk, "force_complete")
    assert 'data-testid="other-outcome"' in admin_client.get(url).content.decode()
    refused = admin_client.post(url, {"reason": "redo", "outcome": "rework", "data": ""})
    assert refused.status_code == 400
    page = refused.content.decode()
    assert 'data-testid="reopened"' in page and "Tick this to confirm" in page
    assert states(instance)["scoping"] == "active"
    done = admin_client.post(url, {"reason": "redo", "outcome": "rework", "data": "", "confirm": "on"})
    assert done.status_code == 302
    assert states(instance)["planning"] == "active"


def test_the_skip_page_shows_the_preview_and_needs_a_confirmation(admin_client, dt_testing):
    instance = start()
    run = run_of(instance, "planning")
    page = admin_client.get(override_url("phaserun", run.pk, "skip")).content.decode()
    assert 'data-testid="also-skipped"' in page and "observations" in page
    assert 'data-testid="instance-completes"' in page
    refused = admin_client.post(override_url("phaserun", run.pk, "skip"), {"reason": "not needed"})
    assert refused.status_code == 400
    assert "Tick this to confirm" in refused.content.decode()
    assert states(instance)["planning"] == "active"
    done = admin_client.post(
        override_url("phaserun", run.pk, "skip"), {"reason": "not needed", "confirm": "on"}
    )
    assert done.status_code == 302
    assert set(states(instance).values()) == {"skipped"}


def test_force_complete_without_consequences_needs_no_confirmation(admin_client, dt_testing):
    instance = start()
    run = run_of(instance, "planning")
    page = admin_client.get(override_url("phaserun", run.pk, "force_complete")).content.decode()
    assert "Then ready to start" in page and 'name="confirm"' not in page
    response = admin_client.post(
        override_url("phaserun", run.pk, "force_complete"), {"reason": "done on paper", "data": ""}
    )
    assert response.status_code == 302, response.content.decode()[:1500]
    assert states(instance)["scoping"] == "active"


def test_overrides_appear_in_the_admin_history(admin_client, dt_testing):
    instance = start()
    run = run_of(instance, "planning")
    admin_client.post(override_url("workflowinstance", instance.pk, "suspend"), {"reason": "audit hold"})
    admin_client.post(override_url("workflowinstance", instance.pk, "resume"), {"reason": "audit over"})
    admin_client.post(
        override_url("phaserun", run.pk, "force_complete"), {"reason": "done on paper", "data": ""}
    )
    messages = list(
        LogEntry.objects.filter(object_id=str(instance.pk)).values_list("change_message", flat=True)
    )
    assert any("Suspend: audit hold" in m for m in messages)
    assert any("Force-complete of planning: done on paper" in m for m in messages)
    history = admin_client.get(reverse("admin:engine_workflowinstance_history", args=[instance.pk]))
    assert history.status_code == 200 and "audit hold" in history.content.decode()
    phase_history = admin_client.get(reverse("admin:engine_phaserun_history", args=[run.pk]))
    assert "done on paper" in phase_history.content.decode()


def test_reopen_of_a_completed_instance_through_the_admin(admin_client, dt_testing, people):
    instance = start()
    run = run_of(instance, "planning")
    admin_client.post(override_url("phaserun", run.pk, "skip"), {"reason": "skip all", "confirm": "on"})
    instance.refresh_from_db()
    assert instance.state == "completed"
    response = admin_client.post(
        override_url("phaserun", run.pk, "reopen"), {"reason": "it was needed after all"}
    )
    assert response.status_code == 302
    instance.refresh_from_db()
    assert instance.state == "running"
    assert states(instance)["planning"] == "active"
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    assert states(instance)["scoping"] == "active"


def test_bulk_skip_lists_what_each_skip_settles_and_asks_to_confirm(admin_client, dt_testing):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    first, second = start(), start()
    runs = [run_of(first, "planning").pk, run_of(second, "planning").pk]
    changelist = reverse("admin:engine_phaserun_changelist")
    ask = admin_client.post(changelist, {"action": "override_skip", ACTION_CHECKBOX_NAME: runs})
    page = ask.content.decode()
    assert "also skips scoping" in page and "the instance then completes" in page
    refused = admin_client.post(
        changelist, {"action": "override_skip", ACTION_CHECKBOX_NAME: runs, "apply": "yes", "reason": "gone"}
    )
    assert refused.status_code == 200 and "Tick this to confirm" in refused.content.decode()
    assert states(first)["planning"] == "active"
    done = admin_client.post(
        changelist,
        {
            "action": "override_skip",
            ACTION_CHECKBOX_NAME: runs,
            "apply": "yes",
            "reason": "gone",
            "confirm": "on",
        },
    )
    assert done.status_code == 302
    assert set(states(first).values()) == {"skipped"} and set(states(second).values()) == {"skipped"}
