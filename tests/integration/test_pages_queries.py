"""Page query counts do not grow with the number of instances or phases listed (no N+1)."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from engine import selectors
from engine.models import Comment, PhaseRun, RoleAssignment
from engine.runtime import human
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    dt_testing,
    fast_passwords,
    load,
    people,
    start,
)

pytestmark = pytest.mark.django_db
MAX_QUERIES = 20


def count(client, url: str) -> int:
    client.get(url)  # warm up: compiled plans are cached per process
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


def busy_instances(n: int, people) -> list:
    """n dt_testing instances, some claimed, some further on, with comments and role assignments."""
    instances = []
    for index in range(n):
        instance = start(params={"report_id": index}, user=people["manager"])
        RoleAssignment.objects.create(instance=instance, role="tester", user=people["tester2"])
        if index % 3 == 1:
            human.phase_claim(instance_id=instance.pk, phase_id="planning", user=people["tester"])
        if index % 3 == 2:
            human.phase_complete(
                instance_id=instance.pk,
                phase_id="planning",
                user=people["tester"],
                data={"plan_url": PLAN_URL},
            )
            PhaseRun.objects.filter(instance=instance, phase_id="scoping").update(sla_status="at_risk")
        Comment.objects.create(instance=instance, author=people["cdo"], body="note")
        instances.append(instance)
    return instances


def wide(n: int) -> dict:
    """A template of n human phases: one first, n - 2 in parallel after it, one last."""
    middle = [
        {
            "id": f"p{i}",
            "name": f"Parallel {i}",
            "type": "human",
            "roles": ["tester"],
            "depends_on": ["first"],
        }
        for i in range(n - 2)
    ]
    return {
        "format": "phasegate/v1",
        "key": f"wide{n}",
        "name": f"Wide {n}",
        "roles": {"tester": {"name": "Tester"}},
        "phases": [
            {"id": "first", "type": "human", "roles": ["tester"], "sla": {"duration": "P1D"}},
            *middle,
            {"id": "last", "type": "human", "roles": ["tester"], "depends_on": [p["id"] for p in middle]},
        ],
    }


def wide_instance(n: int, people):
    load(wide(n))
    instance = start(f"wide{n}", params={})
    human.phase_complete(instance_id=instance.pk, phase_id="first", user=people["tester"])
    for i in range(0, n - 2, 2):  # every other parallel phase claimed by someone
        human.phase_claim(
            instance_id=instance.pk, phase_id=f"p{i}", user=people["tester" if i % 4 else "tester2"]
        )
    for i in range(1, n - 2, 4):
        human.comment_add(instance_id=instance.pk, user=people["tester"], body="hi", phase_id=f"p{i}")
    return instance


@pytest.mark.parametrize("who", ["tester", "tester2", "manager"])
def test_inbox_queries_do_not_grow_with_instances(client, dt_testing, people, who):
    client.force_login(people[who])
    url = reverse("pages:inbox")
    busy_instances(3, people)
    few = count(client, url)
    busy_instances(27, people)
    many = count(client, url)
    assert few == many <= MAX_QUERIES


@pytest.mark.parametrize("who", ["tester", "admin", "outsider"])
def test_workflow_list_queries_do_not_grow_with_instances(client, dt_testing, people, who):
    client.force_login(people[who])
    url = reverse("pages:workflow_list")
    busy_instances(3, people)
    few = count(client, url)
    busy_instances(27, people)
    many = count(client, url)
    assert few == many <= MAX_QUERIES


def test_progress_page_queries_do_not_grow_with_phases(client, people):
    client.force_login(people["tester"])
    small, large = wide_instance(3, people), wide_instance(30, people)
    few = count(client, reverse("pages:workflow_detail", args=[small.pk]))
    many = count(client, reverse("pages:workflow_detail", args=[large.pk]))
    assert few == many <= MAX_QUERIES


def test_phase_page_queries_do_not_grow_with_phases(client, people):
    client.force_login(people["tester"])
    small, large = wide_instance(3, people), wide_instance(30, people)
    few = count(client, reverse("pages:phase_detail", args=[small.pk, "p0"]))
    many = count(client, reverse("pages:phase_detail", args=[large.pk, "p0"]))
    assert few == many <= MAX_QUERIES


def test_inbox_queries_do_not_grow_with_phases(client, people):
    client.force_login(people["tester"])
    wide_instance(4, people)  # one phase open to the tester already: an empty page reads one query less
    few = count(client, reverse("pages:inbox"))
    wide_instance(30, people)
    many = count(client, reverse("pages:inbox"))
    assert few == many <= MAX_QUERIES


def test_progress_page_pages_its_phase_table_and_draws_every_phase(client, people, monkeypatch):
    monkeypatch.setattr(selectors, "PHASES_SHOWN", 10)
    client.force_login(people["tester"])
    instance = wide_instance(30, people)
    url = reverse("pages:workflow_detail", args=[instance.pk])
    first = client.get(url).content.decode()
    assert first.count('<tr class="phase-row') == 10
    assert "Phases 1–10 of 30" in first and "phases=2" in first
    graph = json.loads(re.search(r'<script id="pg-graph" type="application/json">(.*?)</script>', first)[1])
    assert len(graph["nodes"]) == 30 and len(graph["edges"]) == 2 * 28
    last = client.get(url + "?phases=3").content.decode()
    assert 'data-phase="last"' in last and 'data-phase="last"' not in first
    assert count(client, url + "?phases=3") == count(client, url) <= MAX_QUERIES


def test_progress_page_opens_its_phase_table_where_the_instance_stands(client, people, monkeypatch):
    monkeypatch.setattr(selectors, "PHASES_SHOWN", 10)
    client.force_login(people["tester"])
    instance = wide_instance(30, people)
    done = [f"p{i}" for i in range(16)]  # the first open phase is p16, the 18th row
    PhaseRun.objects.filter(instance=instance, phase_id__in=done).update(state="completed")
    page = client.get(reverse("pages:workflow_detail", args=[instance.pk])).content.decode()
    assert "Phases 11–20 of 30" in page and 'data-phase="p16"' in page
