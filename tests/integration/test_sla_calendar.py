"""SLA arithmetic with frozen time: due and at-risk times across weekends, holidays, a time zone and DST.

The instance is started at a frozen moment and the due time the engine stored is checked against the wall
clock of the template's calendar.
"""

# ruff: noqa: F811  (pytest fixtures imported from tests.support.human are parameters here)

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from engine.definition.calendar import BusinessCalendar
from engine.definition.plan import SlaPolicy
from engine.runtime.sla import at_risk_time, status_at
from tests.support.human import db_clock, load, run_of, start  # noqa: F401  (fixtures)

NEW_YORK = ZoneInfo("America/New_York")
pytestmark = pytest.mark.django_db


def one_phase(key: str, sla: dict, calendar: dict | None = None) -> dict:
    document = {
        "format": "phasegate/v1",
        "key": key,
        "name": key.replace("_", " ").title(),
        "roles": {"tester": {"name": "Tester"}},
        "phases": [{"id": "work", "name": "Work", "type": "human", "roles": ["tester"], "sla": sla}],
    }
    if calendar is not None:
        document["calendar"] = calendar
    load(document)
    return document


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def started_at(moment: datetime, key: str):
    with time_machine.travel(moment, tick=False):
        return run_of(start(key, params={}), "work")


US = {"timezone": "America/New_York", "workdays": [1, 2, 3, 4, 5], "holidays": ["2026-12-25"]}


def test_business_days_skip_the_weekend(db_clock):
    one_phase("weekend", {"duration": "P2D", "business_days": True}, US)
    run = started_at(ny(2026, 2, 6, 10, 0), "weekend")  # a Friday
    assert run.due_at == ny(2026, 2, 10, 10, 0)  # Tuesday, same wall-clock time


def test_business_days_skip_a_holiday(db_clock):
    one_phase("holiday", {"duration": "P5D", "business_days": True}, US)
    run = started_at(ny(2026, 12, 21, 10, 0), "holiday")  # Monday; Friday the 25th is a holiday
    assert run.due_at == ny(2026, 12, 29, 10, 0)


def test_business_days_keep_the_wall_clock_across_a_daylight_saving_change(db_clock):
    one_phase("dst", {"duration": "P2D", "business_days": True}, US)
    run = started_at(ny(2026, 3, 6, 9, 30), "dst")  # Friday, EST; clocks go forward on Sunday the 8th
    assert run.due_at == ny(2026, 3, 10, 9, 30)  # Tuesday 09:30 EDT
    assert run.due_at.astimezone(UTC).hour == 13  # 14:30 UTC before the change, 13:30 after


def test_calendar_days_are_plain_elapsed_time(db_clock):
    one_phase("plain", {"duration": "P2D", "business_days": False}, US)
    run = started_at(ny(2026, 3, 6, 9, 30), "plain")
    assert run.due_at - run.activated_at == timedelta(days=2)  # 48 hours, DST or not


def test_a_start_on_a_saturday_counts_from_monday_morning(db_clock):
    one_phase("saturday", {"duration": "P1D", "business_days": True}, US)
    run = started_at(ny(2026, 2, 7, 15, 0), "saturday")
    assert run.due_at == ny(2026, 2, 10, 0, 0)  # Monday 00:00 + one business day


def test_the_calendar_time_zone_decides_the_working_day(db_clock):
    # 23:30 UTC on Friday is already Saturday in Tokyo, so the clock starts on Monday there.
    one_phase("tokyo", {"duration": "PT8H", "business_days": True}, {"timezone": "Asia/Tokyo"})
    run = started_at(datetime(2026, 2, 6, 23, 30, tzinfo=UTC), "tokyo")
    assert run.due_at == datetime(2026, 2, 9, 8, 0, tzinfo=ZoneInfo("Asia/Tokyo"))


def test_at_risk_time_is_the_fraction_of_working_time(db_clock):
    one_phase("risky", {"duration": "P2D", "business_days": True, "at_risk": 0.5}, US)
    run = started_at(ny(2026, 2, 6, 9, 0), "risky")  # Friday 09:00, due Tuesday 09:00
    # Working time between them: Friday 15h + Monday 24h + Tuesday 9h = 48h; half of it ends Monday 09:00.
    assert run.at_risk_at is None  # computed by the sweep (or by the next human action), not by the start
    calendar = BusinessCalendar(timezone="America/New_York")
    policy = SlaPolicy(duration=timedelta(days=2), business_days=True, at_risk=0.5)
    assert at_risk_time(calendar, policy, run.activated_at, run.due_at) == ny(2026, 2, 9, 9, 0)


def test_status_at_is_derived_from_due_and_at_risk_times():
    due, risk = datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC)
    assert status_at(datetime(2026, 1, 7, tzinfo=UTC), due_at=due, at_risk_at=risk) == "on_schedule"
    assert status_at(risk, due_at=due, at_risk_at=risk) == "at_risk"
    assert status_at(due, due_at=due, at_risk_at=risk) == "at_risk"  # due at the minute is still on time
    assert status_at(due + timedelta(seconds=1), due_at=due, at_risk_at=risk) == "behind_schedule"
    assert status_at(due, due_at=None, at_risk_at=None) == ""
