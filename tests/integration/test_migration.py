"""Moving running instances to another version: the data-testing cycle mid-flight from v1 to v2
(request_info renamed, a quality review added), what blocks a move, the API and the admin action."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from engine.errors import FormInvalid, PermissionDenied
from engine.models import InstanceState, PhaseRun, Transition
from engine.runtime import human
from engine.runtime.actors import Actor
from engine.runtime.migration import instances_migrate, target_version
from engine.runtime.operations import cancel_instance as instance_cancel
from engine.services.templates import template_load
from tests.support.human import (  # noqa: F401  (fixtures)
    PLAN_URL,
    dt_document,
    dt_testing,
    fast_passwords,
    grant,
    people,
    start,
    states,
)

pytestmark = pytest.mark.django_db(transaction=True)

V2 = Path(__file__).resolve().parents[2] / "fixtures" / "migrations" / "dt_testing_v2.json"
RENAMED = {"request_info": "information_request"}


def publish_v2():
    return template_load(document=json.loads(V2.read_text()), publish=True).version


@pytest.fixture
def migrator(people):
    return grant(people["staff"], "migrate_workflowinstance")


def mid_flight(people):
    """Planning and scoping done; sample selection and data-provider identification open."""
    instance = start()
    human.phase_complete(
        instance_id=instance.pk, phase_id="planning", user=people["tester"], data={"plan_url": PLAN_URL}
    )
    human.phase_complete(
        instance_id=instance.pk, phase_id="scoping", user=people["tester"], outcome="approved"
    )
    return instance


def finish(instance, people):
    tester, manager, cdo = people["tester"], people["manager"], people["cdo"]
    steps = [
        ("sample_selection", tester, {"sample_size": 25, "method": "random"}, None),
        ("data_provider_id", cdo, {"providers": ["Acme"]}, None),
        ("information_request", tester, {}, None),
        ("testing", tester, {"all_passed": True, "error_rate": 0}, None),
        ("quality_review", manager, {}, "approved"),
        ("observations", manager, {"observations": "clean"}, None),
    ]
    for phase_id, user, data, outcome in steps:
        human.phase_complete(
            instance_id=instance.pk, phase_id=phase_id, user=user, data=data, outcome=outcome
        )


def test_the_data_testing_cycle_moves_mid_flight_from_v1_to_v2_and_finishes(dt_testing, people, migrator):
    instance = mid_flight(people)
    target = publish_v2()
    [report] = instances_migrate(
        instance_ids=[instance.pk],
        target=target,
        user=migrator,
        reason="quality review added",
        mapping=RENAMED,
    )
    assert report.can_move and report.migrated
    assert (report.added, report.removed) == (["quality_review"], [])
    assert report.mapped["request_info"] == "information_request"
    instance.refresh_from_db()
    assert (instance.version.number, instance.state) == (2, InstanceState.RUNNING)
    assert states(instance) == {
        "planning": "completed",
        "scoping": "completed",
        "sample_selection": "active",
        "data_provider_id": "active",
        "information_request": "pending",
        "testing": "pending",
        "quality_review": "pending",
        "observations": "pending",
    }
    migrate = Transition.objects.get(instance=instance, name="migrate")
    assert migrate.metadata == {
        "from_version": 1,
        "to_version": 2,
        "mapped": RENAMED,
        "added": ["quality_review"],
        "removed": [],
    }
    assert (migrate.reason, migrate.actor_label) == ("quality review added", "staff")
    names = list(Transition.objects.filter(instance=instance, phase_id="").values_list("name", flat=True))
    assert names[-3:] == ["suspend", "migrate", "resume"]
    finish(instance, people)
    instance.refresh_from_db()
    assert instance.state == InstanceState.COMPLETED


def test_a_dry_run_reports_and_changes_nothing(dt_testing, people, migrator):
    instance = mid_flight(people)
    target = publish_v2()
    [report] = instances_migrate(
        instance_ids=[instance.pk], target=target, user=migrator, reason="", dry_run=True
    )
    # without the mapping, request_info is removed (it is pending, so that is allowed) and the new id added
    assert (report.can_move, report.migrated) == (True, False)
    assert report.removed == ["request_info"] and set(report.added) == {
        "information_request",
        "quality_review",
    }
    instance.refresh_from_db()
    assert instance.version.number == 1
    assert not Transition.objects.filter(instance=instance, name="migrate").exists()


def _v2_with(change):
    document = dt_document()
    change(document["phases"])
    return template_load(document=document, publish=True).version


def test_a_removed_active_phase_blocks_the_move(dt_testing, people, migrator):
    instance = mid_flight(people)

    def drop_sample_selection(phases):
        phases[:] = [p for p in phases if p["id"] != "sample_selection"]
        next(p for p in phases if p["id"] == "request_info")["depends_on"] = ["data_provider_id"]

    target = _v2_with(drop_sample_selection)
    [report] = instances_migrate(instance_ids=[instance.pk], target=target, user=migrator, reason="r")
    assert [(p["code"], p["phase_id"]) for p in report.problems] == [
        ("removed_active_phase", "sample_selection")
    ]
    assert not report.migrated
    instance.refresh_from_db()
    assert (instance.version.number, instance.state) == (1, InstanceState.RUNNING)


def test_a_changed_kind_of_a_started_phase_blocks_the_move(dt_testing, people, migrator):
    instance = mid_flight(people)

    def planning_becomes_a_wait(phases):
        phases[0] = {"id": "planning", "type": "wait", "duration": "PT1H"}

    target = _v2_with(planning_becomes_a_wait)
    [report] = instances_migrate(
        instance_ids=[instance.pk], target=target, user=migrator, reason="r", dry_run=True
    )
    assert [(p["code"], p["phase_id"]) for p in report.problems] == [("changed_phase_kind", "planning")]


def test_bad_mappings_and_targets_are_reported(dt_testing, people, migrator):
    instance = mid_flight(people)
    target = publish_v2()
    mapping = {"nothing": "information_request", "request_info": "nowhere"}
    [report] = instances_migrate(
        instance_ids=[instance.pk], target=target, user=migrator, reason="r", mapping=mapping, dry_run=True
    )
    assert [(p["code"], p["phase_id"]) for p in report.problems] == [
        ("unknown_source_phase", "nothing"),
        ("unknown_target_phase", "nowhere"),
    ]
    [same] = instances_migrate(
        instance_ids=[instance.pk], target=instance.version, user=migrator, reason="r", dry_run=True
    )
    assert [p["code"] for p in same.problems] == ["same_version"]


def test_a_swap_of_two_phase_ids_moves(dt_testing, people, migrator):
    instance = mid_flight(people)

    def swap(phases):
        a = next(p for p in phases if p["id"] == "sample_selection")
        b = next(p for p in phases if p["id"] == "data_provider_id")
        a["id"], b["id"] = "data_provider_id", "sample_selection"
        a["roles"], b["roles"] = b["roles"], a["roles"]

    target = _v2_with(swap)
    swap_map = {"sample_selection": "data_provider_id", "data_provider_id": "sample_selection"}
    [report] = instances_migrate(
        instance_ids=[instance.pk], target=target, user=migrator, reason="r", mapping=swap_map
    )
    assert report.migrated
    assert PhaseRun.objects.filter(instance=instance).count() == 7


def test_migration_needs_the_permission_and_a_reason(dt_testing, people, migrator):
    instance = mid_flight(people)
    target = publish_v2()
    with pytest.raises(PermissionDenied):
        instances_migrate(instance_ids=[instance.pk], target=target, user=people["manager"], reason="r")
    with pytest.raises(FormInvalid):
        instances_migrate(instance_ids=[instance.pk], target=target, user=migrator, reason=" ")


def test_a_finished_instance_does_not_move(dt_testing, people, migrator):
    instance = mid_flight(people)
    target = publish_v2()
    instance_cancel(instance_id=instance.pk, actor=Actor.system("test"), reason="stop")
    [report] = instances_migrate(instance_ids=[instance.pk], target=target, user=migrator, reason="r")
    assert [p["code"] for p in report.problems] == ["instance_finished"] and not report.migrated


# --- API and admin ----------------------------------------------------------------------------------------


def test_api_dry_run_then_migrate(dt_testing, people, migrator):
    instance = mid_flight(people)
    publish_v2()
    client = APIClient()
    client.force_login(migrator)
    body = {"template": "dt_testing", "to_version": 2, "instances": [str(instance.pk)], "mapping": RENAMED}
    checked = client.post("/api/instances/migrate/", {**body, "dry_run": True}, format="json")
    assert checked.status_code == 200
    assert (checked.json()[0]["can_move"], checked.json()[0]["migrated"]) == (True, False)
    moved = client.post("/api/instances/migrate/", {**body, "reason": "v2"}, format="json")
    assert moved.status_code == 200 and moved.json()[0]["migrated"] is True
    assert target_version(template_key="dt_testing", number=2).instances.filter(pk=instance.pk).exists()


@pytest.mark.parametrize(
    ("change", "status"),
    [({"to_version": 9}, 404), ({"template": "nope"}, 404), ({"instances": []}, 400), ({"reason": ""}, 400)],
)
def test_api_bad_requests(dt_testing, people, migrator, change, status):
    instance = mid_flight(people)
    publish_v2()
    client = APIClient()
    client.force_login(migrator)
    body = {
        "template": "dt_testing",
        "to_version": 2,
        "instances": [str(instance.pk)],
        "reason": "r",
        **change,
    }
    response = client.post("/api/instances/migrate/", body, format="json")
    assert response.status_code == status and set(response.json()) == {"code", "message", "extra"}


def test_api_needs_the_permission(dt_testing, people):
    client = APIClient()
    client.force_login(people["manager"])
    body = {"template": "dt_testing", "to_version": 2, "instances": [], "reason": "r"}
    assert client.post("/api/instances/migrate/", body, format="json").status_code == 403


def test_admin_bulk_action_checks_then_moves(dt_testing, people, client):
    instance = mid_flight(people)
    target = publish_v2()
    client.force_login(people["admin"])
    base = {"action": "migrate_instances", "_selected_action": [str(instance.pk)]}
    page = client.post("/admin/engine/workflowinstance/", base)
    assert page.status_code == 200 and b"Move to version" in page.content
    form = {**base, "target": target.pk, "mapping": json.dumps(RENAMED), "reason": "v2 for everyone"}
    checked = client.post("/admin/engine/workflowinstance/", {**form, "step": "check"})
    assert b"can move" in checked.content
    instance.refresh_from_db()
    assert instance.version.number == 1
    client.post("/admin/engine/workflowinstance/", {**form, "step": "migrate"})
    instance.refresh_from_db()
    assert instance.version.number == 2
    assert Transition.objects.get(instance=instance, name="migrate").reason == "v2 for everyone"
