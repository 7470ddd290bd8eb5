"""Schedules: each tick starts one instance (never two, even with two beat processes), overlap policies,
pause/resume, params and business keys from the tick, the API and the admin."""

from __future__ import annotations

import io
import json
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from engine.models import InstanceState, Schedule, ScheduleRun, WorkflowInstance, WorkflowTemplate
from engine.runtime.schedules import (
    schedule_fire,
    schedule_pause,
    schedule_resume,
    schedule_save,
    schedule_upcoming,
    schedules_fire,
)
from engine.services.templates import template_load
from tests.factories import UserFactory
from tests.support.clients import client_for
from tests.support.engine import publish, template
from tests.unit.definition.documents import FIXTURES

pytestmark = pytest.mark.django_db(transaction=True)

WEEKLY = template(
    "weekly",
    {"id": "review", "type": "human", "roles": ["analyst"]},
    roles={"analyst": {"name": "Analyst"}},
    params={"type": "object", "required": ["week"], "properties": {"week": {"type": "string"}}},
)
MONDAY_0600 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


@pytest.fixture
def weekly(broker) -> Schedule:
    publish(WEEKLY)
    schedule = Schedule(
        name="weekly-refresh",
        template=WorkflowTemplate.objects.get(key="weekly"),
        cron="0 6 * * 1",
        timezone="UTC",
        params={},
        tick_params={"week": "%G-W%V"},
        business_key_pattern="%G-W%V",
    )
    return schedule_save(schedule=schedule, now=MONDAY_0600 - timedelta(hours=1))


def test_saving_computes_the_next_tick(weekly):
    assert weekly.next_run_at == MONDAY_0600


def test_a_due_tick_starts_one_instance_with_params_and_key_from_the_tick(weekly):
    assert schedules_fire(now=MONDAY_0600 + timedelta(seconds=5)) == 1
    [instance] = WorkflowInstance.objects.all()
    assert (instance.business_key, instance.params) == ("weekly-refresh@2026-W49", {"week": "2026-W49"})
    assert instance.state == InstanceState.RUNNING
    run = ScheduleRun.objects.get()
    assert (run.tick, run.outcome, run.instance_id) == (MONDAY_0600, "started", instance.pk)
    weekly.refresh_from_db()
    assert weekly.next_run_at == MONDAY_0600 + timedelta(days=7)


def test_nothing_fires_before_the_tick(weekly):
    assert schedules_fire(now=MONDAY_0600 - timedelta(seconds=1)) == 0
    assert not WorkflowInstance.objects.exists()


def test_firing_the_same_tick_again_starts_nothing(weekly):
    schedule_fire(schedule_id=weekly.pk, now=MONDAY_0600)
    # a second beat process that read the schedule before the first one moved next_run_at on
    Schedule.objects.filter(pk=weekly.pk).update(next_run_at=MONDAY_0600)
    assert schedule_fire(schedule_id=weekly.pk, now=MONDAY_0600) is None
    assert WorkflowInstance.objects.count() == 1
    assert ScheduleRun.objects.count() == 1


@pytest.mark.requires_postgres
def test_two_beat_processes_at_once_start_one_instance(weekly):
    barrier = threading.Barrier(2)
    fired = []

    def beat() -> None:
        try:
            barrier.wait(timeout=10)
            fired.append(schedules_fire(now=MONDAY_0600))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(fired) == [0, 1]
    assert WorkflowInstance.objects.count() == 1


def test_missed_ticks_are_not_made_up(weekly):
    three_weeks_late = MONDAY_0600 + timedelta(days=21, hours=1)
    assert schedules_fire(now=three_weeks_late) == 1
    weekly.refresh_from_db()
    assert weekly.next_run_at == MONDAY_0600 + timedelta(days=28)


def _two_ticks(weekly) -> list[ScheduleRun]:
    schedules_fire(now=MONDAY_0600)
    schedules_fire(now=MONDAY_0600 + timedelta(days=7))
    return list(ScheduleRun.objects.order_by("tick"))


def test_overlap_skip_leaves_the_earlier_run_alone(weekly):
    first, second = _two_ticks(weekly)
    assert (first.outcome, second.outcome) == ("started", "skipped")
    assert second.instance is None and "1 earlier run" in second.message
    assert WorkflowInstance.objects.count() == 1


def test_overlap_allow_starts_another(weekly):
    Schedule.objects.filter(pk=weekly.pk).update(overlap="allow")
    first, second = _two_ticks(weekly)
    assert (first.outcome, second.outcome) == ("started", "started")
    assert WorkflowInstance.objects.filter(state=InstanceState.RUNNING).count() == 2


def test_overlap_cancel_previous_cancels_then_starts(weekly):
    Schedule.objects.filter(pk=weekly.pk).update(overlap="cancel_previous")
    first, second = _two_ticks(weekly)
    first.instance.refresh_from_db()
    assert first.instance.state == InstanceState.CANCELLED
    assert first.instance.transitions.filter(
        name="cancel", actor_label="system:schedule:weekly-refresh"
    ).exists()
    assert second.instance.state == InstanceState.RUNNING


def test_a_tick_that_cannot_start_is_recorded_as_failed(weekly):
    Schedule.objects.filter(pk=weekly.pk).update(tick_params={})  # `week` is required by the params schema
    [run] = [schedule_fire(schedule_id=weekly.pk, now=MONDAY_0600)]
    assert run.outcome == "failed" and "params" in run.message
    assert not WorkflowInstance.objects.exists()


def test_pause_stops_firing_and_resume_starts_from_the_next_tick(weekly):
    schedule_pause(schedule_id=weekly.pk)
    assert schedules_fire(now=MONDAY_0600 + timedelta(days=1)) == 0
    resumed = schedule_resume(schedule_id=weekly.pk, now=MONDAY_0600 + timedelta(days=8))
    assert resumed.next_run_at == MONDAY_0600 + timedelta(days=14)


def test_business_days_skip_the_templates_holidays(broker):
    publish(
        {**WEEKLY, "key": "daily", "calendar": {"timezone": "America/New_York", "holidays": ["2026-12-25"]}}
    )
    schedule = schedule_save(
        schedule=Schedule(
            name="close",
            template=WorkflowTemplate.objects.get(key="daily"),
            cron="30 16 * * *",
            timezone="America/New_York",
            business_days_only=True,
            params={"week": "x"},
        ),
        now=datetime(2026, 12, 24, 22, tzinfo=UTC),
    )
    assert schedule.next_run_at == datetime(2026, 12, 28, 21, 30, tzinfo=UTC)


# --- API -------------------------------------------------------------------------------------------------


BODY = {
    "name": "api-weekly",
    "template": "weekly",
    "cron": "0 6 * * 1",
    "timezone": "Europe/London",
    "tick_params": {"week": "%G-W%V"},
    "overlap": "cancel_previous",
}


def test_api_creates_a_schedule_and_shows_its_next_runs(weekly):
    client = client_for("add_schedule", "view_schedule")
    response = client.post("/api/schedules/", BODY, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert len(body["upcoming"]) == 5 and body["upcoming"][0] == body["next_run_at"].replace("Z", "+00:00")
    listed = client.get("/api/schedules/").json()
    assert [s["name"] for s in listed] == ["api-weekly", "weekly-refresh"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "every monday"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"cron": "", "interval_seconds": None}, "cron"),
        ({"tick_params": {"week": 5}}, "tick_params"),
    ],
)
def test_api_refuses_a_schedule_that_cannot_work(weekly, change, field):
    response = client_for("add_schedule").post("/api/schedules/", {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["extra"]["field"]) == ("schedule_invalid", field)
    assert not Schedule.objects.filter(name="api-weekly").exists()


def test_api_needs_permissions(weekly):
    assert client_for().get("/api/schedules/").status_code == 403
    assert client_for("view_schedule").post("/api/schedules/", BODY, format="json").status_code == 403
    assert client_for("view_schedule").post("/api/schedules/weekly-refresh/pause/").status_code == 403
    assert APIClient().get("/api/schedules/").status_code in (401, 403)


def test_api_pause_resume_and_patch(weekly):
    client = client_for("pause_schedule", "change_schedule", "view_schedule")
    paused = client.post("/api/schedules/weekly-refresh/pause/").json()
    assert (paused["paused"], paused["next_run_at"], paused["upcoming"]) == (True, None, [])
    resumed = client.post("/api/schedules/weekly-refresh/resume/").json()
    assert resumed["paused"] is False and resumed["next_run_at"]
    patched = client.patch("/api/schedules/weekly-refresh/", {"cron": "0 7 * * 2"}, format="json")
    assert patched.status_code == 200 and patched.json()["cron"] == "0 7 * * 2"
    assert client.get("/api/schedules/nope/").status_code == 404


def test_api_detail_lists_fired_ticks(weekly):
    schedules_fire(now=MONDAY_0600)
    runs = client_for("view_schedule").get("/api/schedules/weekly-refresh/").json()["recent_runs"]
    assert [(r["outcome"], r["business_key"]) for r in runs] == [("started", "weekly-refresh@2026-W49")]


# --- admin -----------------------------------------------------------------------------------------------


def test_admin_shows_next_run_times_and_pauses(weekly, client):
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    page = client.get(f"/admin/engine/schedule/{weekly.pk}/change/")
    assert page.status_code == 200
    assert b"2026-11-30 06:00 UTC" in page.content and b"2026-12-07 06:00 UTC" in page.content
    response = client.post(
        "/admin/engine/schedule/", {"action": "pause", "_selected_action": [weekly.pk]}, follow=True
    )
    assert response.status_code == 200
    weekly.refresh_from_db()
    assert weekly.paused


def test_admin_form_reports_a_bad_cron_on_its_field(weekly, client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    data = {
        "name": "bad",
        "template": weekly.template_id,
        "cron": "61 * * * *",
        "timezone": "UTC",
        "calendar": "{}",
        "params": "{}",
        "tick_params": "{}",
        "business_key_pattern": "%Y",
        "overlap": "skip",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
    }
    response = client.post("/admin/engine/schedule/add/", data)
    assert response.status_code == 200
    assert "is not a cron expression" in response.context["adminform"].form.errors["cron"][0]


def test_example_schedules_load_market_close_on_weekdays_and_the_weekly_refresh():
    for key in ("market_daily", "weekly_refresh"):
        template_load(document=json.loads((FIXTURES / f"{key}.json").read_text()), publish=True)
    call_command("load_schedules", str(FIXTURES.parent / "schedules.json"), stdout=io.StringIO())
    close = Schedule.objects.get(name="market-close")
    for tick in schedule_upcoming(close, 5):
        local = tick.astimezone(ZoneInfo("America/New_York"))
        assert (local.hour, local.minute) == (16, 30) and local.isoweekday() <= 5
    weekly = Schedule.objects.get(name="weekly-refresh")
    assert {
        tick.astimezone(ZoneInfo("Europe/London")).isoweekday() for tick in schedule_upcoming(weekly)
    } == {1}
    call_command(
        "load_schedules", str(FIXTURES.parent / "schedules.json"), stdout=io.StringIO()
    )  # loading again updates, never duplicates
    assert Schedule.objects.count() == 2
