"""Schedule ticks: cron in a time zone (with daylight saving), intervals, workdays only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.definition.calendar import BusinessCalendar
from engine.runtime.ticks import BadRule, TickRule

NEW_YORK_CLOSE = TickRule(cron="30 16 * * 1-5", timezone="America/New_York")


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


def test_cron_ticks_in_the_time_zone_follow_daylight_saving():
    # 16:30 in New York is 21:30 UTC in winter and 20:30 UTC in summer
    assert NEW_YORK_CLOSE.next_after(utc(2026, 12, 1, 12)) == utc(2026, 12, 1, 21, 30)
    assert NEW_YORK_CLOSE.next_after(utc(2026, 7, 1, 12)) == utc(2026, 7, 1, 20, 30)


def test_cron_weekdays_skip_the_weekend():
    friday_after_close = utc(2026, 12, 4, 22)
    assert NEW_YORK_CLOSE.next_after(friday_after_close) == utc(2026, 12, 7, 21, 30)


def test_a_tick_is_strictly_after_the_moment():
    assert NEW_YORK_CLOSE.next_after(utc(2026, 12, 1, 21, 30)) == utc(2026, 12, 2, 21, 30)


def test_business_days_only_skips_holidays_of_the_calendar():
    calendar = BusinessCalendar.from_document({"timezone": "America/New_York", "holidays": ["2026-12-25"]})
    rule = TickRule(
        cron="30 16 * * *", timezone="America/New_York", business_days_only=True, calendar=calendar
    )
    ticks = rule.upcoming(utc(2026, 12, 24, 22), 2)
    assert ticks == [utc(2026, 12, 28, 21, 30), utc(2026, 12, 29, 21, 30)]


def test_intervals_count_from_the_epoch_so_every_process_agrees():
    rule = TickRule(interval=timedelta(minutes=15))
    assert rule.upcoming(utc(2026, 12, 1, 10, 7), 2) == [utc(2026, 12, 1, 10, 15), utc(2026, 12, 1, 10, 30)]


def test_a_rule_that_never_hits_a_workday_gives_no_tick():
    calendar = BusinessCalendar.from_document({"workdays": [1, 2, 3, 4, 5]})
    rule = TickRule(cron="0 9 * * 6", business_days_only=True, calendar=calendar)  # Saturdays only
    assert rule.next_after(utc(2026, 12, 1)) is None


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (TickRule(), "cron"),
        (TickRule(cron="* * * * *", interval=timedelta(minutes=1)), "cron"),
        (TickRule(cron="61 * * * *"), "cron"),
        (TickRule(cron="* * * * * *"), "cron"),
        (TickRule(interval=timedelta(0)), "interval_seconds"),
        (TickRule(cron="0 9 * * *", timezone="Mars/Olympus"), "timezone"),
    ],
)
def test_bad_rules_name_the_field(rule, field):
    with pytest.raises(BadRule) as caught:
        rule.check()
    assert caught.value.field == field
