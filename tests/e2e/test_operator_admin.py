"""The operator's fixes in headless Chromium: a dead letter fixed and retried in the admin, a skip that
shows what it also settles, a role given on an instance, and a rework round that opens prefilled."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

import tests.support.activities  # noqa: F401  (the test activities)
from engine.models import DeadLetter, PhaseRun, WorkflowInstance
from engine.runtime import human
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from fixtures.demo_users import DEFAULT_PASSWORD, ensure_demo_users
from tests.e2e.conftest import login
from tests.support.engine import FakeBroker, publish, template
from tests.support.human import PLAN_URL, dt_document

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    template_load(document=dt_document(), publish=True)
    ensure_demo_users()


@pytest.fixture
def broker(monkeypatch):
    return FakeBroker.installed(monkeypatch)


def test_a_dead_letter_is_fixed_and_retried_in_the_admin(page, demo, broker):
    publish(
        template(
            "fragile",
            {
                "id": "fetch",
                "type": "task",
                "activity": "test.flaky",
                "input": {"fail_times": "params.fails", "kind": '"data"'},
            },
            params={"type": "object", "properties": {"fails": {"type": "integer", "minimum": 0}}},
        )
    )
    instance = start_instance("fragile", {"fails": 3})
    broker.drain()
    letter = DeadLetter.objects.get(instance=instance)
    login(page, "admin", DEFAULT_PASSWORD)
    page.goto("/admin/engine/deadletter/?state__exact=open")
    page.click(f"a[href*='/deadletter/{letter.pk}/change/']")
    expect(page.locator("body")).to_contain_text("row 7 has no price")
    page.click("a.override-link:has-text('Fix and retry')")
    params = page.locator("textarea[name=params]")
    expect(params).to_have_value(re.compile(r'"fails": 3'))
    params.fill('{"fails": "many"}')  # breaks the params schema: refused beside the field
    page.fill("textarea[name=reason]", "upstream fixed the feed")
    page.click("input[type=submit][value='Fix and retry']")
    expect(page.locator(".errorlist")).to_contain_text("fails must be an integer, not a string")
    page.locator("textarea[name=params]").fill('{"fails": 0}')
    page.fill("textarea[name=reason]", "upstream fixed the feed")
    page.click("input[type=submit][value='Fix and retry']")
    expect(page.locator(".messagelist")).to_contain_text("Fix and retry: done")
    broker.drain()
    assert WorkflowInstance.objects.get(pk=instance.pk).state == "completed"
    page.goto(f"/workflows/{instance.pk}/")
    expect(page.locator(".timeline").first).to_contain_text("params_edit")
    assert page.js_errors == []


def test_skip_shows_what_it_also_settles_and_asks_to_confirm(page, demo):
    instance = start_instance("dt_testing", {"report_id": 7}, business_key="REP-9")
    run = PhaseRun.objects.get(instance=instance, phase_id="planning")
    login(page, "admin", DEFAULT_PASSWORD)
    page.goto(f"/admin/engine/phaserun/{run.pk}/change/")
    page.click("a.override-link:has-text('Skip')")
    preview = page.locator("[data-testid=override-preview]")
    expect(preview.locator("[data-testid=also-skipped] li")).to_have_count(6)
    expect(preview.locator("[data-testid=instance-completes]")).to_be_visible()
    page.fill("textarea[name=reason]", "report withdrawn")
    page.click("input[type=submit][value=Skip]")
    expect(page.locator(".errorlist")).to_contain_text("Tick this to confirm")
    assert PhaseRun.objects.get(pk=run.pk).state == "active"
    page.check("input[name=confirm]")
    page.fill("textarea[name=reason]", "report withdrawn")
    page.click("input[type=submit][value=Skip]")
    expect(page.locator(".messagelist")).to_contain_text("Skip: done")
    assert WorkflowInstance.objects.get(pk=instance.pk).state == "completed"
    page.goto(f"/workflows/{instance.pk}/")
    expect(page.locator("[data-testid=progress-text]")).to_have_text("0 of 7 completed · 7 skipped")
    assert page.js_errors == []


def test_a_role_given_on_an_instance_puts_the_phase_in_the_persons_inbox(page, demo):
    from django.contrib.auth import get_user_model

    guest = get_user_model().objects.create_user("guest", password=DEFAULT_PASSWORD)
    instance = start_instance("dt_testing", {"report_id": 7}, business_key="REP-11")
    login(page, "admin", DEFAULT_PASSWORD)
    page.goto(f"/admin/engine/workflowinstance/{instance.pk}/change/")
    page.click("text=Give a role on this instance")
    expect(page.locator("input[name=instance]")).to_have_value(str(instance.pk))
    page.select_option("select[name=role]", "tester")  # the template's roles to pick from
    # The person is found by name (the admin's autocomplete), not typed in as an id.
    page.locator(".field-user .select2-selection").click()
    page.locator(".select2-search__field").fill("gue")
    page.locator(".select2-results__option", has_text="guest").click()
    expect(page.locator("select[name=user]")).to_have_value(str(guest.pk))
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    page.goto(f"/admin/engine/workflowinstance/{instance.pk}/change/")
    expect(page.locator(".role-assignments")).to_contain_text("tester: guest")
    page.context.clear_cookies()
    login(page, guest.username, DEFAULT_PASSWORD)
    page.goto("/inbox/")
    expect(
        page.locator(f'tr.inbox-item[data-instance="{instance.pk}"][data-phase="planning"]')
    ).to_be_visible()
    assert page.js_errors == []


def test_a_rework_round_opens_with_the_last_submission_filled_in(page, demo):
    from django.contrib.auth import get_user_model

    tester = get_user_model().objects.get(username="tester")
    instance = start_instance("dt_testing", {"report_id": 7}, business_key="REP-12")
    human.phase_claim(instance_id=instance.pk, phase_id="planning", user=tester)
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=tester, data={"plan_url": PLAN_URL, "notes": "v1"}
    )
    human.phase_claim(instance_id=instance.pk, phase_id="scoping", user=tester)
    human.phase_complete(
        instance_id=instance.pk, phase_id="scoping", user=tester, outcome="rework", data={"scope": "redo"}
    )
    login(page, "tester", DEFAULT_PASSWORD)
    page.goto(f"/workflows/{instance.pk}/phases/planning/")
    if page.locator("button[data-action=claim]").count():
        page.click("button[data-action=claim]")
    expect(page.locator("input[name=plan_url]")).to_have_value(PLAN_URL)
    expect(page.locator("textarea[name=notes]")).to_have_value("v1")
    assert page.js_errors == []
