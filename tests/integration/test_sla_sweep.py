"""The SLA sweep with frozen time: statuses move forward once, events fire once per crossing, escalation
mail is sent once, finished phases keep met or missed, and suspended time does not count."""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from engine.models import Event, RoleAssignment, SlaStatus, Transition
from engine.runtime import human
from engine.runtime.sla import sla_sweep
from engine.services import overrides
from tests.support.human import (  # noqa: F401  (fixtures)
    db_clock,
    fast_passwords,
    load,
    people,
    run_of,
    start,
)

NEW_YORK = ZoneInfo("America/New_York")
US = {"timezone": "America/New_York", "workdays": [1, 2, 3, 4, 5], "holidays": ["2026-12-25"]}
pytestmark = pytest.mark.django_db


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


@pytest.fixture
def review(db, db_clock):
    """Two human phases; `review` is due two business days after it opens and escalates to the managers."""
    load(
        {
            "format": "phasegate/v1",
            "key": "review",
            "name": "Review",
            "roles": {
                "tester": {"name": "Tester"},
                "test_manager": {"name": "Test manager"},
                "cdo": {"name": "CDO"},
            },
            "calendar": US,
            "phases": [
                {
                    "id": "review",
                    "name": "Review",
                    "type": "human",
                    "roles": ["tester"],
                    "sla": {
                        "duration": "P2D",
                        "business_days": True,
                        "at_risk": 0.5,
                        "escalate_to": ["test_manager", "cdo"],
                    },
                },
                {"id": "sign_off", "type": "human", "roles": ["test_manager"], "depends_on": ["review"]},
            ],
        }
    )


@pytest.fixture
def clock():
    with time_machine.travel(ny(2026, 2, 6, 9, 0), tick=False) as traveller:  # a Friday morning
        yield traveller


def sweep_at(clock, moment: datetime) -> int:
    clock.move_to(moment)
    return sla_sweep(now=moment)


def events(name: str) -> int:
    return Event.objects.filter(name=name).count()


def test_statuses_move_forward_once_each_with_one_event_per_crossing(review, people, clock):
    instance = start("review", params={})
    assert run_of(instance, "review").due_at == ny(2026, 2, 10, 9, 0)  # Tuesday
    assert sweep_at(clock, ny(2026, 2, 6, 17, 0)) == 0
    assert run_of(instance, "review").sla_status == SlaStatus.ON_SCHEDULE

    # Half the working time is spent on Monday at 09:00 (Friday 15h + Monday 9h of 48h).
    sweep_at(clock, ny(2026, 2, 9, 9, 30))
    assert run_of(instance, "review").sla_status == SlaStatus.AT_RISK
    assert events("sla.at_risk") == 1
    assert sweep_at(clock, ny(2026, 2, 9, 10, 0)) == 0
    assert events("sla.at_risk") == 1

    sweep_at(clock, ny(2026, 2, 10, 9, 1))
    assert run_of(instance, "review").sla_status == SlaStatus.BEHIND_SCHEDULE
    sweep_at(clock, ny(2026, 2, 10, 12, 0))
    assert (events("sla.at_risk"), events("sla.behind_schedule")) == (1, 1)
    names = list(
        Transition.objects.filter(instance=instance, phase_id="review").values_list("name", flat=True)
    )
    assert names.count("sla_at_risk") == 1 and names.count("sla_behind_schedule") == 1


def test_the_weekend_does_not_bring_a_phase_closer_to_at_risk(review, people, clock):
    instance = start("review", params={})
    sweep_at(clock, ny(2026, 2, 8, 23, 0))  # Sunday night: only Friday's 15 hours have counted
    assert run_of(instance, "review").sla_status == SlaStatus.ON_SCHEDULE


def test_a_late_sweep_records_both_crossings(review, people, clock):
    instance = start("review", params={})
    sweep_at(clock, ny(2026, 2, 11, 9, 0))
    assert run_of(instance, "review").sla_status == SlaStatus.BEHIND_SCHEDULE
    assert (events("sla.at_risk"), events("sla.behind_schedule")) == (1, 1)


def test_escalation_mails_the_escalate_to_roles_once(review, people, clock, settings):
    settings.PHASEGATE_BASE_URL = "http://flows.example.com"  # the link in the mail is absolute
    people["manager"].email = ""  # nobody to write to: skipped, the rest still get it
    people["manager"].save()
    instance = start("review", params={})
    RoleAssignment.objects.create(instance=instance, role="cdo", user=people["tester2"])
    sweep_at(clock, ny(2026, 2, 10, 10, 0))
    sweep_at(clock, ny(2026, 2, 10, 11, 0))
    sweep_at(clock, ny(2026, 2, 11, 11, 0))
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert sorted(message.to) == ["cdo@example.com", "tester2@example.com"]
    assert "Review" in message.subject and "behind schedule" in message.subject
    assert f"http://flows.example.com/workflows/{instance.pk}/phases/review/" in message.body
    run = run_of(instance, "review")
    assert run.escalated_at == ny(2026, 2, 10, 10, 0)
    row = Transition.objects.get(instance=instance, name="sla_escalated")
    assert row.metadata["to"] == ["test_manager", "cdo"]
    assert sorted(row.metadata["recipients"]) == ["cdo", "manager", "tester2"]
    assert events("sla.escalated") == 1


def test_escalation_shows_on_the_phase_page(client, review, people, clock):
    instance = start("review", params={})
    sweep_at(clock, ny(2026, 2, 10, 10, 0))
    client.force_login(people["tester"])
    page = client.get(reverse("pages:phase_detail", args=[instance.pk, "review"])).content.decode()
    assert "escalated" in page and "Behind schedule" in page and "late by" in page


def test_the_sweep_is_idempotent(review, people, clock):
    start("review", params={})
    moment = ny(2026, 2, 10, 10, 0)
    first = sweep_at(clock, moment)
    assert first >= 3  # at risk, behind schedule, escalated
    assert sla_sweep(now=moment) == 0
    assert len(mail.outbox) == 1


def test_completing_in_time_is_met(review, people, clock):
    instance = start("review", params={})
    clock.move_to(ny(2026, 2, 9, 17, 0))
    human.phase_complete(instance_id=instance.pk, phase_id="review", user=people["tester"])
    assert run_of(instance, "review").sla_status == SlaStatus.MET
    sweep_at(clock, ny(2026, 2, 20, 9, 0))
    assert run_of(instance, "review").sla_status == SlaStatus.MET


def test_completing_late_is_missed(review, people, clock):
    instance = start("review", params={})
    sweep_at(clock, ny(2026, 2, 10, 12, 0))
    human.phase_complete(instance_id=instance.pk, phase_id="review", user=people["tester"])
    assert run_of(instance, "review").sla_status == SlaStatus.MISSED


def test_a_phase_cancelled_after_its_due_time_is_settled_as_missed(review, people, clock):
    instance = start("review", params={})
    sweep_at(clock, ny(2026, 2, 10, 12, 0))
    overrides.instance_cancel(instance_id=instance.pk, user=people["admin"], reason="report withdrawn")
    sweep_at(clock, ny(2026, 2, 10, 12, 5))
    assert run_of(instance, "review").sla_status == SlaStatus.MISSED


def test_a_phase_cancelled_in_time_has_no_verdict(review, people, clock):
    instance = start("review", params={})
    clock.move_to(ny(2026, 2, 9, 9, 0))
    overrides.instance_cancel(instance_id=instance.pk, user=people["admin"], reason="report withdrawn")
    sweep_at(clock, ny(2026, 2, 9, 9, 5))
    assert run_of(instance, "review").sla_status == SlaStatus.NONE


def test_time_while_suspended_does_not_count(review, people, clock):
    instance = start("review", params={})  # Friday 09:00, due Tuesday 09:00
    clock.move_to(ny(2026, 2, 9, 9, 0))  # Monday 09:00
    overrides.instance_suspend(instance_id=instance.pk, user=people["admin"], reason="waiting for legal")
    # While suspended, the sweep leaves it alone even past its due time.
    sweep_at(clock, ny(2026, 2, 10, 10, 0))
    assert run_of(instance, "review").sla_status == SlaStatus.ON_SCHEDULE
    assert mail.outbox == []
    clock.move_to(ny(2026, 2, 11, 9, 0))  # Wednesday 09:00: two working days suspended
    overrides.instance_resume(instance_id=instance.pk, user=people["admin"], reason="legal said yes")
    run = run_of(instance, "review")
    assert run.due_at == ny(2026, 2, 12, 9, 0)  # Tuesday 09:00 moved out by two working days
    row = Transition.objects.get(instance=instance, name="sla_paused")
    assert row.metadata["before"] == {"due_at": ny(2026, 2, 10, 9, 0).astimezone(UTC).isoformat()}
    sweep_at(clock, ny(2026, 2, 11, 9, 5))
    assert run_of(instance, "review").sla_status == SlaStatus.AT_RISK  # half of the time has been used
    sweep_at(clock, ny(2026, 2, 12, 8, 59))
    assert run_of(instance, "review").sla_status == SlaStatus.AT_RISK
    sweep_at(clock, ny(2026, 2, 12, 9, 1))
    assert run_of(instance, "review").sla_status == SlaStatus.BEHIND_SCHEDULE


def test_a_suspension_over_a_weekend_only_gives_back_the_working_time(review, people, clock):
    instance = start("review", params={})  # Friday 09:00, due Tuesday 09:00
    clock.move_to(ny(2026, 2, 6, 21, 0))  # Friday 21:00
    overrides.instance_suspend(instance_id=instance.pk, user=people["admin"], reason="weekend freeze")
    clock.move_to(ny(2026, 2, 9, 3, 0))  # Monday 03:00: Friday 3h and Monday 3h of working time lost
    overrides.instance_resume(instance_id=instance.pk, user=people["admin"], reason="back")
    assert run_of(instance, "review").due_at == ny(2026, 2, 10, 15, 0)


def test_a_resume_through_the_operations_moves_due_times_once(review, people, clock):
    from engine.runtime.actors import Actor
    from engine.runtime.operations import resume_instance as instance_resume
    from engine.runtime.operations import suspend_instance as instance_suspend

    instance = start("review", params={})
    clock.move_to(ny(2026, 2, 9, 9, 0))
    instance_suspend(instance_id=instance.pk, actor=Actor.of(people["admin"]), reason="api")
    clock.move_to(ny(2026, 2, 10, 9, 0))
    instance_resume(
        instance_id=instance.pk, actor=Actor.of(people["admin"]), reason="api"
    )  # not the override
    assert run_of(instance, "review").due_at == ny(2026, 2, 11, 9, 0)  # moved by the day suspended
    sweep_at(clock, ny(2026, 2, 10, 9, 5))
    run = run_of(instance, "review")
    assert run.due_at == ny(2026, 2, 11, 9, 0)
    assert run.sla_status == SlaStatus.AT_RISK  # not behind: its due time moved before statuses were read
    sla_sweep(now=ny(2026, 2, 10, 9, 6))
    assert run_of(instance, "review").due_at == ny(2026, 2, 11, 9, 0)  # moved once


def test_extending_the_sla_puts_a_late_phase_back_on_schedule_and_rearms_escalation(review, people, clock):
    instance = start("review", params={})
    sweep_at(clock, ny(2026, 2, 10, 10, 0))
    assert len(mail.outbox) == 1
    overrides.phase_sla_extend(
        instance_id=instance.pk,
        phase_id="review",
        user=people["admin"],
        due_at=ny(2026, 2, 17, 9, 0),
        reason="data arrived late",
    )
    run = run_of(instance, "review")
    assert (run.sla_status, run.escalated_at) == (SlaStatus.ON_SCHEDULE, None)
    sweep_at(clock, ny(2026, 2, 17, 9, 30))
    assert run_of(instance, "review").sla_status == SlaStatus.BEHIND_SCHEDULE
    assert len(mail.outbox) == 2


def test_a_phase_without_an_sla_is_never_swept(db, db_clock, people, clock):
    load(
        {
            "format": "phasegate/v1",
            "key": "no_sla",
            "name": "No SLA",
            "roles": {"tester": {"name": "Tester"}},
            "phases": [{"id": "work", "type": "human", "roles": ["tester"]}],
        }
    )
    instance = start("no_sla", params={})
    assert sweep_at(clock, ny(2027, 1, 1, 0, 0)) == 0
    run = run_of(instance, "work")
    assert (run.due_at, run.sla_status) == (None, SlaStatus.NONE)


def test_reopened_phases_get_a_fresh_at_risk_time(review, people, clock):
    instance = start("review", params={})
    sweep_at(clock, ny(2026, 2, 6, 10, 0))
    first = run_of(instance, "review").at_risk_at
    clock.move_to(ny(2026, 2, 6, 11, 0))
    human.phase_complete(instance_id=instance.pk, phase_id="review", user=people["tester"])
    clock.move_to(ny(2026, 2, 16, 9, 0))
    overrides.phase_reopen(instance_id=instance.pk, phase_id="review", user=people["admin"], reason="again")
    sweep_at(clock, ny(2026, 2, 16, 9, 5))
    run = run_of(instance, "review")
    assert run.round == 2 and run.due_at == ny(2026, 2, 18, 9, 0)
    assert run.at_risk_at == ny(2026, 2, 17, 9, 0) != first
    assert run.sla_status == SlaStatus.ON_SCHEDULE


def test_sweep_task_calls_the_sweep(monkeypatch):
    from engine import tasks
    from engine.runtime import sla

    seen = []
    monkeypatch.setattr(sla, "sla_sweep", lambda *, now: seen.append(now) or 7)
    assert tasks.sla_sweep.run() == 7
    assert len(seen) == 1 and seen[0].tzinfo is not None
