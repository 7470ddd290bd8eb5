"""The dashboard's figures on a seeded dataset: /api/metrics/ and /dashboard/."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from tests.factories import UserFactory
from tests.support.seed import seed

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(UserFactory(username="operator", is_staff=True))
    return client


def test_metrics_figures_on_the_seeded_dataset(staff_client: Client) -> None:
    seed(timezone.now())
    response = staff_client.get("/api/metrics/", {"range": "24h"})
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["range"] == "24h" and data["template"] is None
    assert data["instances_by_state"] == {
        "created": 0, "running": 3, "suspended": 1, "completed": 2, "failed": 1, "cancelled": 0,
    }  # fmt: skip
    [fetch] = [row for row in data["phase_durations"] if row["phase"] == "fetch"]
    # From the histogram: exact p50 30 s lies in the bucket (22, 33], p95 88 s in (68, 100]
    assert fetch == {"template": "seeded", "phase": "fetch", "count": 5, "p50": 27.5, "p95": 92.0}
    assert data["retries"] == {
        "total": 2,
        "by_phase": [{"template": "seeded", "phase": "fetch", "retries": 2}],
    }
    assert data["failures_by_category"] == {"data": 1, "transient": 1}
    assert data["open_human_phases_by_sla"] == {
        "on_schedule": 1,
        "at_risk": 1,
        "behind_schedule": 1,
        "none": 1,
    }
    assert data["dead_letters_open"] == {"data": 1, "transient": 1}
    assert data["queue"]["ready"] == 1 and data["queue"]["oldest_seconds"] >= 120
    assert data["reaper"]["count"] == 1 and data["reaper"]["oldest_seconds"] >= 30
    hours = data["throughput_per_hour"]
    assert sum(hour["instances_completed"] for hour in hours) == 2
    assert sum(hour["phases_completed"] for hour in hours) == 5
    assert 24 <= len(hours) <= 26


def test_a_longer_range_takes_in_the_older_work(staff_client: Client) -> None:
    seed(timezone.now())
    data = staff_client.get("/api/metrics/", {"range": "7d"}).json()
    assert data["instances_by_state"]["completed"] == 3
    assert data["retries"]["total"] == 6
    assert data["failures_by_category"] == {"data": 1, "transient": 1, "system": 1}


def test_template_filter(staff_client: Client) -> None:
    seed(timezone.now())
    from tests.support.engine import publish, template

    publish(template("other", {"id": "only", "type": "wait", "duration": "PT1S"}))
    data = staff_client.get("/api/metrics/", {"template": "other"}).json()
    assert data["template"] == "other"
    assert sum(data["instances_by_state"].values()) == 0
    assert data["phase_durations"] == [] and data["dead_letters_open"] == {}
    seeded = staff_client.get("/api/metrics/", {"template": "seeded"}).json()
    assert seeded["instances_by_state"]["running"] == 3


@pytest.mark.parametrize(
    ("params", "field"), [({"range": "2y"}, "range"), ({"template": "nope"}, "template")]
)
def test_bad_filters_are_a_400_naming_the_parameter(staff_client: Client, params, field) -> None:
    response = staff_client.get("/api/metrics/", params)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"code", "message", "extra"}
    assert body["message"].startswith(f"{field}:")


def test_figures_cost_a_fixed_number_of_queries(staff_client: Client, django_assert_max_num_queries) -> None:
    seed(timezone.now())
    with django_assert_max_num_queries(25):
        assert staff_client.get("/api/metrics/").status_code == 200


def test_only_staff_or_the_permission_see_the_figures(client: Client) -> None:
    assert client.get("/api/metrics/").status_code in (401, 403)
    worker = UserFactory(username="plain")
    client.force_login(worker)
    assert client.get("/api/metrics/").status_code == 403
    assert client.get("/dashboard/").status_code == 403
    worker.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client.force_login(worker)
    assert client.get("/api/metrics/").status_code == 200
    assert client.get("/dashboard/").status_code == 200


def test_dashboard_page_shows_the_figures_in_tables(staff_client: Client) -> None:
    seed(timezone.now())
    response = staff_client.get("/dashboard/", {"range": "24h", "template": "seeded"})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-testid="table-durations"' in page
    assert "<td>28 s</td>" in page and "<td>1 min 32 s</td>" in page
    assert "vendor/chart.umd.min.js" in page and 'id="dashboard-data"' in page
    assert 'data-testid="retries-total">2<' in page
    # the SLA table in the inbox's words, not the figures' keys
    assert '<th scope="row">On schedule</th>' in page and '<th scope="row">No SLA</th>' in page
    assert "on_schedule</th>" not in page


def test_durations_under_a_second_read_in_milliseconds() -> None:
    from engine.observability.dashboard import seconds_text

    assert [seconds_text(v) for v in (0.0, 0.0049, 0.185, 0.9996, 1.0, 9.94)] == [
        "0 s",
        "5 ms",
        "185 ms",
        "1.0 s",
        "1.0 s",
        "9.9 s",
    ]


def test_dashboard_with_a_bad_filter_says_so(staff_client: Client) -> None:
    response = staff_client.get("/dashboard/", {"range": "forever"})
    assert response.status_code == 200
    assert "range must be one of" in response.content.decode()
