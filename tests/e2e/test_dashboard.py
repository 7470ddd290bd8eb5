"""The operations dashboard in headless Chromium: charts drawn by the vendored Chart.js, tables beside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

import tests.support.activities  # noqa: F401  (the seeded template uses the test activities)
from tests.e2e.conftest import login
from tests.factories import UserFactory
from tests.support.seed import seed

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def operator(settings) -> str:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    UserFactory(username="operator", is_staff=True, password="pw-123456")
    return "operator"


def test_dashboard_draws_every_chart_and_filters(page, operator: str, tmp_path: Path) -> None:
    seed(timezone.now())
    login(page, operator, "pw-123456")
    page.goto("/dashboard/")
    expect(page.locator("h1")).to_have_text("Dashboard")
    for chart in ("states", "sla", "throughput", "durations", "failures"):
        drawn = page.evaluate(f"() => Boolean(Chart.getChart(document.getElementById('chart-{chart}')))")
        assert drawn, f"chart {chart} was not drawn"
    states = page.locator("[data-testid=table-states]")
    expect(states.locator("tr", has_text="running").locator("td")).to_have_text("3")
    durations = page.locator("[data-testid=table-durations] tbody tr").first
    expect(durations).to_contain_text("fetch")
    # p50 from the duration histogram: the exact 30 s lies in the bucket (22, 33], interpolated to 27.5 s
    expect(durations).to_contain_text("28 s")
    expect(page.locator("[data-testid=table-lags]")).to_contain_text("Expired leases not yet reaped")
    assert page.js_errors == []
    shot = Path(os.environ.get("PHASEGATE_SCREENSHOT_DIR", tmp_path)) / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # filter to a template with no work: the figures follow
    from tests.support.engine import publish, template

    publish(template("quiet", {"id": "only", "type": "wait", "duration": "PT1S"}))
    page.reload()
    page.select_option("select[name=template]", "quiet")
    page.select_option("select[name=range]", "7d")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/dashboard/?template=quiet&range=7d")
    expect(states.locator("tr", has_text="running").locator("td")).to_have_text("0")
    expect(page.locator("#h-durations + p.empty")).to_have_text("No phase completed in this range.")
    assert page.js_errors == []
