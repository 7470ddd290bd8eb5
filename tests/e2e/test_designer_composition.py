"""The designer's composition fields in headless Chromium: a sub-workflow from the palette with a template
picker, an error route, a compensation and a signal buffer, saved into the document."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.test_designer import (
    admin_login,
    admin_user,  # noqa: F401  (fixture)
    connect,
    design_url,
    document_in_browser,
    load_example,
    node,
    open_designer,
    phase_panel,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_sub_workflow_with_an_error_route_and_a_compensation(page, admin_user):  # noqa: F811
    load_example("weekly_refresh")
    version = load_example("market_symbol")
    admin_login(page, admin_user.username)
    open_designer(page, design_url(version.template_id))
    expect(page.locator("#pg-problem-count")).to_have_text("0")
    page.click("#pg-edit-draft")

    page.locator(".pg-palette-item[data-type=subworkflow]").click()
    page.locator(".pg-palette-item[data-type=task]").click()
    page.locator(".pg-palette-item[data-type=wait]").click()
    page.click("#pg-fit")
    connect(page, "indicators", "subworkflow_1")
    connect(page, "subworkflow_1", "task_1")

    page.click("#pg-fit")
    node(page, "subworkflow_1").click()
    panel = phase_panel(page)
    panel.get_by_label("Template", exact=True).select_option("weekly_refresh")
    panel.get_by_label("Version").select_option("v1")
    panel.get_by_label("On fail").select_option("goto:task_1")
    panel.get_by_role("button", name="Add error route").click()
    doc = document_in_browser(page)
    phase = next(p for p in doc["phases"] if p["id"] == "subworkflow_1")
    assert (phase["template"], phase["version"], phase["on_fail"]) == (
        "weekly_refresh",
        1,
        {"goto": "task_1"},
    )
    assert phase["catch"] == [{"errors": ["any"], "goto": ""}]

    page.click("#pg-fit")
    node(page, "wait_1").click()
    panel.get_by_label("Waits for").select_option("signal")
    panel.get_by_label("Buffer").fill("PT12H")
    panel.get_by_label("Buffer").press("Tab")
    doc = document_in_browser(page)
    assert next(p for p in doc["phases"] if p["id"] == "wait_1")["buffer"] == "PT12H"

    page.click("#pg-fit")
    node(page, "indicators").click()
    panel.get_by_label("Undone by").select_option("market.gap_report")
    doc = document_in_browser(page)
    assert next(p for p in doc["phases"] if p["id"] == "indicators")["compensate"] == {
        "activity": "market.gap_report"
    }
    assert page.js_errors == []
