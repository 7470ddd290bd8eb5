"""Phase work in headless Chromium with the demo users: inbox, claim, forms, rework, parallel phases, an
administrator's override with a reason in the history."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from engine.models import PhaseRun, WorkflowInstance
from engine.runtime.start import start_instance
from engine.services.templates import template_load
from fixtures.demo_users import DEFAULT_PASSWORD, ensure_demo_users
from tests.e2e.conftest import login
from tests.support.human import PLAN_URL, dt_document

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    template_load(document=dt_document(), publish=True)
    ensure_demo_users()


def state(instance: WorkflowInstance, phase_id: str) -> str:
    return PhaseRun.objects.get(instance=instance, phase_id=phase_id).state


def as_user(page, username: str) -> None:
    if page.url and "/accounts/login/" not in page.url and page.locator("button:has-text('Log out')").count():
        page.click("button:has-text('Log out')")
        page.wait_for_url(re.compile(r"/accounts/login/"))
    login(page, username, DEFAULT_PASSWORD)
    expect(page.locator("[data-testid=username]")).to_have_text(username)


def claim_from_inbox(page, instance: WorkflowInstance, phase_id: str) -> None:
    page.goto("/inbox/")
    row = page.locator(f'tr.inbox-item[data-instance="{instance.pk}"][data-phase="{phase_id}"]')
    expect(row).to_be_visible()
    row.locator("button[data-action=claim]").click()
    page.wait_for_url(re.compile(rf"/workflows/{instance.pk}/phases/{phase_id}/$"))
    expect(page.locator("[data-testid=assignee]")).to_contain_text(
        page.locator("[data-testid=username]").inner_text()
    )


def submit(page, instance: WorkflowInstance) -> None:
    page.click("button[data-action=complete]")
    page.wait_for_url(re.compile(rf"/workflows/{instance.pk}/$"))
    expect(page.locator(".message.success")).to_contain_text("completed")


def row(page, phase_id: str):
    return page.locator(f'tr.phase-row[data-phase="{phase_id}"]')


def test_tester_claims_planning_submits_it_reworks_it_and_an_admin_override_shows_in_history(page, demo):
    instance = start_instance("dt_testing", {"report_id": 7}, business_key="REP-7")
    as_user(page, "tester")
    assert page.url.endswith("/inbox/")

    claim_from_inbox(page, instance, "planning")
    page.fill("input[name=plan_url]", "not a link")
    page.click("button[data-action=complete]")
    expect(page.locator('[data-field="plan_url"] .errorlist')).to_contain_text("Enter a valid URL.")
    page.fill("input[name=plan_url]", PLAN_URL)
    page.fill("textarea[name=notes]", "first draft")
    submit(page, instance)
    expect(row(page, "planning")).to_have_attribute("data-state", "completed")
    expect(row(page, "scoping")).to_have_attribute("data-state", "active")
    expect(page.locator('.graph [data-phase="planning"]')).to_have_attribute("data-state", "completed")
    expect(page.locator('.graph [data-phase="scoping"]')).to_have_attribute("data-state", "active")

    # Scoping sends the plan back: planning opens again for a second round.
    claim_from_inbox(page, instance, "scoping")
    page.fill("textarea[name=scope]", "the plan misses the EU entities")
    page.check("input[name=pg_outcome][value=rework]")
    submit(page, instance)
    expect(row(page, "planning")).to_have_attribute("data-state", "active")
    expect(row(page, "planning")).to_contain_text("round 2")
    expect(row(page, "scoping")).to_have_attribute("data-state", "pending")
    assert state(instance, "planning") == "active"

    # An administrator reassigns planning in the admin, with a reason.
    as_user(page, "admin")
    page.goto(f"/workflows/{instance.pk}/phases/planning/")
    page.click("text=Override in the admin")
    page.click("a.override-link:has-text('Reassign')")
    page.select_option("select[name=assignee]", label="manager")
    page.fill("textarea[name=reason]", "tester is on leave until Monday")
    page.click("input[type=submit][value=Reassign]")
    expect(page.locator(".messagelist")).to_contain_text("Reassign: done")

    page.goto(f"/workflows/{instance.pk}/")
    history = page.locator(".timeline").first
    expect(history).to_contain_text("tester is on leave until Monday")
    expect(history).to_contain_text("reassign")
    expect(row(page, "planning")).to_contain_text("manager")
    assert page.js_errors == []


def test_the_whole_data_testing_cycle_in_the_browser_with_the_demo_users(page, demo):
    as_user(page, "manager")
    page.goto("/workflows/start/")
    page.click("a.button:has-text('Start')")
    page.fill("input[name=report_id]", "42")
    page.fill("input[name=pg_business_key]", "REP-42")
    page.click("button:has-text('Start')")
    expect(page.locator(".message.success")).to_contain_text("started")
    instance = WorkflowInstance.objects.get(business_key="REP-42")
    assert instance.started_by.username == "manager"

    as_user(page, "tester")
    claim_from_inbox(page, instance, "planning")
    page.fill("input[name=plan_url]", PLAN_URL)
    submit(page, instance)
    claim_from_inbox(page, instance, "scoping")
    page.check("input[name=pg_outcome][value=rework]")
    submit(page, instance)
    claim_from_inbox(page, instance, "planning")
    page.fill("input[name=plan_url]", PLAN_URL + "/v2")
    submit(page, instance)
    claim_from_inbox(page, instance, "scoping")
    page.check("input[name=pg_outcome][value=approved]")
    submit(page, instance)

    # Sample selection and data-provider identification run side by side, for different roles.
    expect(row(page, "sample_selection")).to_have_attribute("data-state", "active")
    expect(row(page, "data_provider_id")).to_have_attribute("data-state", "active")
    claim_from_inbox(page, instance, "sample_selection")
    page.fill("input[name=sample_size]", "25")
    page.select_option("select[name=method]", "stratified")
    page.fill("input[name=due_date]", "2026-03-31")
    page.fill("textarea[name=populations]", "retail\ncorporate")
    submit(page, instance)
    expect(row(page, "request_info")).to_have_attribute("data-state", "pending")

    as_user(page, "cdo")
    claim_from_inbox(page, instance, "data_provider_id")
    page.fill("textarea[name=providers]", "Finance\nRisk")
    page.fill("input[name=contact_email]", "data@example.com")
    submit(page, instance)

    as_user(page, "tester")
    claim_from_inbox(page, instance, "request_info")
    submit(page, instance)
    claim_from_inbox(page, instance, "testing")
    page.select_option("select[name=all_passed]", "true")
    page.fill("input[name=error_rate]", "0.02")
    submit(page, instance)

    as_user(page, "manager")
    claim_from_inbox(page, instance, "observations")
    page.fill("textarea[name=observations]", "Two minor breaks in the EU sample.")
    page.select_option("select[name=severity]", "low")
    submit(page, instance)

    instance.refresh_from_db()
    assert instance.state == "completed"
    expect(page.locator(".page-head .badge")).to_have_text("completed")
    data = dict(PhaseRun.objects.filter(instance=instance).values_list("phase_id", "data"))
    assert data["sample_selection"] == {
        "sample_size": 25,
        "method": "stratified",
        "due_date": "2026-03-31",
        "populations": ["retail", "corporate"],
    }
    assert data["data_provider_id"] == {"providers": ["Finance", "Risk"], "contact_email": "data@example.com"}
    assert data["testing"] == {"all_passed": True, "error_rate": 0.02}
    assert page.js_errors == []


def test_a_rule_only_the_schema_knows_is_shown_beside_its_field_in_words(page, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    document = dt_document()
    planning = next(phase for phase in document["phases"] if phase["id"] == "planning")
    # The page's number input takes any integer; only the schema asks for whole hundreds.
    planning["form"]["properties"]["budget"] = {"type": "integer", "multipleOf": 100, "title": "Budget"}
    template_load(document=document, publish=True)
    ensure_demo_users()
    instance = start_instance("dt_testing", {"report_id": 8}, business_key="REP-8")
    as_user(page, "tester")
    claim_from_inbox(page, instance, "planning")
    page.fill("input[name=plan_url]", PLAN_URL)
    page.fill("input[name=budget]", "150")
    page.click("button[data-action=complete]")
    expect(page.locator('[data-field="budget"] .errorlist')).to_have_text(
        "Budget must be a multiple of 100, not 150"
    )
    assert state(instance, "planning") == "active"
    page.fill("input[name=budget]", "200")
    submit(page, instance)
    assert PhaseRun.objects.get(instance=instance, phase_id="planning").data == {
        "plan_url": PLAN_URL,
        "budget": 200,
    }
    assert page.js_errors == []
