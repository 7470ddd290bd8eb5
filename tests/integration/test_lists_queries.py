"""List, API and admin query counts do not grow with the rows behind them (no N+1, no per-row work).

The page tests (test_pages_queries.py) cover the pages' first views; these cover the filters, deep pages,
per-instance role assignments, the API lists and the admin's changelists and instance pages.
"""

# ruff: noqa: F811  (pytest fixtures imported from test_human_helpers are parameters here)

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from engine import paging
from engine.admin import instances as admin_instances
from engine.api.serializers import PhaseRunSummarySerializer
from engine.models import DeadLetter, PhaseRun, RoleAssignment
from tests.integration.test_pages_queries import busy_instances, wide_instance
from tests.support.human import dt_testing, fast_passwords, people  # noqa: F401

pytestmark = pytest.mark.django_db
MAX_QUERIES = 20


def count(client, url: str) -> int:
    client.get(url)  # warm up: compiled plans are cached per process
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return len(queries.captured_queries)


def grows(client, urls: list[str], people, *, first: int = 4, then: int = 26) -> list[tuple[str, int, int]]:
    """(url, queries with `first` instances, queries with `first + then`) for each url."""
    busy_instances(first, people)
    few = [count(client, url) for url in urls]
    busy_instances(then, people)
    many = [count(client, url) for url in urls]
    return [(url, a, b) for url, a, b in zip(urls, few, many, strict=True) if a != b or b > MAX_QUERIES]


@pytest.mark.parametrize("who", ["admin", "tester", "outsider"])
def test_workflow_list_filters_and_deep_pages(client, dt_testing, people, who):
    client.force_login(people[who])
    base = reverse("pages:workflow_list")
    urls = [
        base,
        base + "?state=running",
        base + "?template=dt_testing",
        base + "?sla=at_risk",
        base + "?sla=on_schedule&state=running",
        base + "?page=2",
        base + "?page=9999",
    ]
    assert grows(client, urls, people) == []


def test_inbox_of_a_user_with_many_per_instance_assignments(client, dt_testing, people):
    outsider = people["outsider"]  # no group: every phase comes from an assignment on its instance
    client.force_login(outsider)
    url = reverse("pages:inbox")
    few_instances = busy_instances(3, people)
    for instance in few_instances:
        RoleAssignment.objects.create(instance=instance, role="tester", user=outsider)
    few = count(client, url)
    for instance in busy_instances(27, people):
        RoleAssignment.objects.create(instance=instance, role="tester", user=outsider)
    many = count(client, url)
    assert few == many <= MAX_QUERIES
    page = client.get(url).content.decode()
    assert "Showing 1–" in page and "of 3" not in page


def test_inbox_pages_and_says_how_many_it_shows(client, dt_testing, people):
    client.force_login(people["tester"])
    busy_instances(60, people)  # 60 open planning or scoping phases the tester may act on
    first = client.get(reverse("pages:inbox")).content.decode()
    total = PhaseRun.objects.filter(
        state="active", phase_type="human", phase_id__in=["planning", "scoping"]
    ).count()
    assert f"Showing 1–50 of {total} open phases." in first
    assert "page=2" in first
    second = client.get(reverse("pages:inbox") + "?page=2").content.decode()
    assert f"Showing 51–{total} of {total} open phases." in second
    assert count(client, reverse("pages:inbox") + "?page=2") == count(client, reverse("pages:inbox"))


@pytest.mark.parametrize("who", ["admin", "tester"])
def test_instance_api_lists_filters_and_deep_pages(client, dt_testing, people, who):
    client.force_login(people[who])
    base = reverse("api:instance-list")
    urls = [base, base + "?state=running&template=dt_testing", base + "?page=1&state=running"]
    assert grows(client, urls, people) == []


def test_history_api_does_not_grow_with_the_history(client, people):
    client.force_login(people["admin"])
    small, large = wide_instance(4, people), wide_instance(30, people)
    few = count(client, reverse("api:instance-history", args=[small.pk]))
    many = count(client, reverse("api:instance-history", args=[large.pk]))
    assert few == many <= MAX_QUERIES


def test_admin_changelists(client, dt_testing, people):
    client.force_login(people["admin"])
    urls = [
        reverse("admin:engine_workflowinstance_changelist"),
        reverse("admin:engine_workflowinstance_changelist") + "?state__exact=running",
        reverse("admin:engine_workflowinstance_changelist") + "?q=dt_testing",
        reverse("admin:engine_phaserun_changelist"),
        reverse("admin:engine_phaserun_changelist") + "?q=planning",
        reverse("admin:engine_transition_changelist"),
        reverse("admin:engine_transition_changelist") + "?name=open",
        reverse("admin:engine_event_changelist"),
        reverse("admin:engine_deadletter_changelist"),
    ]

    def letters() -> None:
        for run in PhaseRun.objects.filter(phase_id="planning", dead_letters__isnull=True):
            DeadLetter.objects.create(
                instance_id=run.instance_id,
                phase_run=run,
                phase_id=run.phase_id,
                category="system",
                message="x",
            )

    busy_instances(4, people)
    letters()
    few = [count(client, url) for url in urls]
    busy_instances(26, people)
    letters()
    many = [count(client, url) for url in urls]
    assert [(u, a, b) for u, a, b in zip(urls, few, many, strict=True) if a != b or b > MAX_QUERIES] == []


def test_admin_instance_and_phase_pages_do_not_grow_with_phases(client, people):
    client.force_login(people["admin"])
    small, large = wide_instance(4, people), wide_instance(30, people)
    few = count(client, reverse("admin:engine_workflowinstance_change", args=[small.pk]))
    many = count(client, reverse("admin:engine_workflowinstance_change", args=[large.pk]))
    assert few == many <= MAX_QUERIES
    run_small = PhaseRun.objects.get(instance=small, phase_id="p0")
    run_large = PhaseRun.objects.get(instance=large, phase_id="p0")
    few = count(client, reverse("admin:engine_phaserun_change", args=[run_small.pk]))
    many = count(client, reverse("admin:engine_phaserun_change", args=[run_large.pk]))
    assert few == many <= MAX_QUERIES


def test_admin_instance_page_shows_the_newest_audit_rows_and_links_the_rest(client, people):
    client.force_login(people["admin"])
    large = wide_instance(60, people)  # well over a hundred audit rows
    page = client.get(reverse("admin:engine_workflowinstance_change", args=[large.pk])).content.decode()
    assert "the newest 100 shown" in page
    assert f"{reverse('admin:engine_transition_changelist')}?q={large.pk}" in page
    listed = client.get(reverse("admin:engine_transition_changelist") + f"?q={large.pk}").content.decode()
    assert str(large.pk) in listed


def test_admin_instance_page_shows_a_page_of_phases_and_links_them_all(client, people, monkeypatch):
    monkeypatch.setattr(admin_instances, "PHASES_SHOWN", 10)
    client.force_login(people["admin"])
    small, large = wide_instance(4, people), wide_instance(30, people)
    url = reverse("admin:engine_workflowinstance_change", args=[large.pk])
    page = client.get(url).content.decode()
    assert "phases 1–10 of 30 shown" in page
    assert f"{reverse('admin:engine_phaserun_changelist')}?q={large.pk}" in page
    assert ">p8</a>" in page and ">p9</a>" not in page  # first, p0 … p8
    small_url = reverse("admin:engine_workflowinstance_change", args=[small.pk])
    assert count(client, url) == count(client, small_url)


def test_deep_pages_read_their_ids_first_in_the_same_order(client, dt_testing, people, monkeypatch):
    client.force_login(people["admin"])
    busy_instances(12, people)
    api = reverse("api:instance-list") + "?page_size=5&page="
    admin_list = reverse("admin:engine_phaserun_changelist") + "?p="

    def listed() -> tuple[list, list, list]:
        ids = [row["id"] for n in (1, 2, 3) for row in client.get(api + str(n)).json()["results"]]
        workflows = client.get(reverse("pages:workflow_list") + "?page=1").content.decode()
        phases = client.get(admin_list + "1").content.decode()
        return (
            ids,
            re.findall(r'data-instance="([^"]+)"', workflows),
            re.findall(r"/admin/engine/phaserun/(\d+)/change/", phases),
        )

    shallow = listed()
    monkeypatch.setattr(paging, "DEEP_OFFSET", 0)  # every page reads its ids first
    assert listed() == shallow and len(shallow[0]) == 12 and len(shallow[2]) == 50
    urls = [api + "2", reverse("pages:workflow_list") + "?page=1", admin_list + "1"]
    few = [count(client, url) for url in urls]
    busy_instances(10, people)
    assert [count(client, url) for url in urls] == few


def test_instance_detail_api_does_not_grow_with_phases_and_says_what_the_models_say(client, people):
    client.force_login(people["admin"])
    small, large = wide_instance(4, people), wide_instance(30, people)
    few = count(client, reverse("api:instance-detail", args=[small.pk]))
    many = count(client, reverse("api:instance-detail", args=[large.pk]))
    assert few == many <= MAX_QUERIES
    phases = client.get(reverse("api:instance-detail", args=[large.pk])).json()["phases"]
    runs = PhaseRun.objects.filter(instance=large).select_related("assignee").order_by("position", "id")
    assert phases == PhaseRunSummarySerializer(runs, many=True).data
    assert {row["assignee"] for row in phases} == {None, "tester", "tester2"}


def test_instance_api_pages_by_cursor_in_the_same_order_as_by_number(client, dt_testing, people):
    client.force_login(people["admin"])
    busy_instances(12, people)
    base = reverse("api:instance-list") + "?page_size=5"
    by_number = [row["id"] for n in (1, 2, 3) for row in client.get(f"{base}&page={n}").json()["results"]]
    by_cursor, url, pages = [], base + "&cursor=", []
    while url:
        body = client.get(url).json()
        pages.append(body)
        by_cursor += [row["id"] for row in body["results"]]
        url = body["next"]
    assert by_cursor == by_number and len(by_cursor) == 12 and len(pages) == 3
    assert pages[0]["count"] == 12 and pages[0]["previous"] is None
    back = client.get(pages[2]["previous"]).json()
    assert [row["id"] for row in back["results"]] == by_number[5:10]
    deep = pages[1]["next"]
    few = count(client, deep)
    busy_instances(10, people)
    assert count(client, deep) == few <= MAX_QUERIES
    assert client.get(base + "&cursor=nonsense").status_code == 404
