"""BusinessCalendar: due times and the elapsed fraction for SLAs, in the calendar's own time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from engine.definition.calendar import BusinessCalendar, is_time_zone

UTC_WEEKDAYS = BusinessCalendar()
NEW_YORK = BusinessCalendar(timezone="America/New_York", holidays=frozenset({date(2026, 12, 25)}))
NEW_YORK_EVERY_DAY = BusinessCalendar(timezone="America/New_York", workdays=frozenset(range(1, 8)))


def utc(*parts):
    return datetime(*parts, tzinfo=UTC)


def test_without_business_days_due_is_start_plus_duration():
    start = utc(2026, 3, 6, 10)  # a Friday

    assert UTC_WEEKDAYS.due(start, timedelta(days=1), business_days=False) == utc(2026, 3, 7, 10)


def test_business_day_skips_the_weekend():
    assert UTC_WEEKDAYS.due(utc(2026, 3, 6, 10), timedelta(days=1), business_days=True) == utc(2026, 3, 9, 10)


def test_business_days_skip_a_holiday():
    calendar = BusinessCalendar(holidays=frozenset({date(2026, 12, 25)}))  # a Friday

    assert calendar.due(utc(2026, 12, 24, 9), timedelta(days=1), business_days=True) == utc(2026, 12, 28, 9)


def test_part_of_a_day_continues_on_the_next_workday():
    # Four of the eight hours fit in Friday; the other four start at Monday midnight.
    assert UTC_WEEKDAYS.due(utc(2026, 3, 6, 20), timedelta(hours=8), business_days=True) == utc(2026, 3, 9, 4)


def test_start_on_a_saturday_counts_from_monday_midnight():
    saturday = utc(2026, 3, 7, 15)

    assert UTC_WEEKDAYS.due(saturday, timedelta(hours=2), business_days=True) == utc(2026, 3, 9, 2)
    assert UTC_WEEKDAYS.due(saturday, timedelta(days=1), business_days=True) == utc(2026, 3, 10, 0)


def test_workdays_are_read_in_the_calendar_time_zone():
    friday_evening_in_new_york = utc(2026, 1, 10, 3)  # Saturday in UTC

    assert NEW_YORK.due(friday_evening_in_new_york, timedelta(days=1), business_days=True) == utc(
        2026, 1, 13, 3
    )
    assert UTC_WEEKDAYS.due(friday_evening_in_new_york, timedelta(days=1), business_days=True) == utc(
        2026, 1, 13
    )


def test_holidays_are_local_dates():
    thursday_evening_in_new_york = utc(2026, 12, 25, 2)  # already the 25th in UTC

    due = NEW_YORK.due(thursday_evening_in_new_york, timedelta(days=1), business_days=True)

    assert due == utc(2026, 12, 29, 2)  # Monday 21:00 in New York


def test_business_day_across_spring_forward_keeps_the_wall_clock():
    friday_10am_est = utc(2026, 3, 6, 15)

    due = NEW_YORK.due(friday_10am_est, timedelta(days=1), business_days=True)

    assert due == utc(2026, 3, 9, 14)  # Monday 10:00 EDT, 71 hours later
    assert due - friday_10am_est == timedelta(hours=71)


def test_business_day_across_fall_back_keeps_the_wall_clock():
    friday_9am_edt = utc(2026, 10, 30, 13)

    due = NEW_YORK.due(friday_9am_edt, timedelta(days=1), business_days=True)

    assert due == utc(2026, 11, 2, 14)  # Monday 09:00 EST, 73 hours later


def test_day_of_spring_forward_is_one_local_day_of_23_hours():
    midnight = utc(2026, 3, 8, 5)  # 00:00 EST on the day the clocks go forward

    assert NEW_YORK_EVERY_DAY.due(midnight, timedelta(days=1), business_days=True) == utc(2026, 3, 9, 4)
    assert NEW_YORK_EVERY_DAY.due(midnight, timedelta(hours=23), business_days=True) == utc(2026, 3, 9, 4)


def test_day_of_fall_back_is_one_local_day_of_25_hours():
    midnight = utc(2026, 11, 1, 4)  # 00:00 EDT on the day the clocks go back

    assert NEW_YORK_EVERY_DAY.due(midnight, timedelta(days=1), business_days=True) == utc(2026, 11, 2, 5)
    # Hours are elapsed time: 23 hours after midnight is 22:00 EST, still the same local day.
    assert NEW_YORK_EVERY_DAY.due(midnight, timedelta(hours=23), business_days=True) == utc(2026, 11, 2, 3)


def test_due_is_in_utc_whatever_the_input_zone():
    start = datetime.fromisoformat("2026-03-06T10:00:00-05:00")

    due = NEW_YORK.due(start, timedelta(hours=1), business_days=True)

    assert due.tzinfo is UTC
    assert due == utc(2026, 3, 6, 16)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="naive"):
        UTC_WEEKDAYS.due(datetime(2026, 3, 6, 10), timedelta(days=1), business_days=True)


def test_at_risk_fraction_counts_only_working_time():
    start = utc(2026, 3, 6, 12)  # Friday noon
    due = UTC_WEEKDAYS.due(start, timedelta(days=1), business_days=True)  # Monday noon: 24 working hours

    assert UTC_WEEKDAYS.elapsed_fraction(start, due, utc(2026, 3, 7, 12), business_days=True) == 0.5
    assert UTC_WEEKDAYS.elapsed_fraction(start, due, utc(2026, 3, 9, 6), business_days=True) == 0.75


def test_at_risk_fraction_without_business_days_is_elapsed_over_allowed():
    start, due = utc(2026, 3, 6, 12), utc(2026, 3, 9, 12)

    assert UTC_WEEKDAYS.elapsed_fraction(
        start, due, utc(2026, 3, 7, 12), business_days=False
    ) == pytest.approx(1 / 3)


def test_at_risk_fraction_is_clamped_to_zero_and_one():
    start, due = utc(2026, 3, 6, 12), utc(2026, 3, 9, 12)

    assert UTC_WEEKDAYS.elapsed_fraction(start, due, utc(2026, 3, 1), business_days=True) == 0.0
    assert UTC_WEEKDAYS.elapsed_fraction(start, due, utc(2026, 3, 10), business_days=True) == 1.0


def test_working_time_skips_the_weekend():
    assert UTC_WEEKDAYS.working_time(utc(2026, 3, 6, 18), utc(2026, 3, 9, 6)) == timedelta(hours=12)


def test_from_document_reads_every_field():
    calendar = BusinessCalendar.from_document(
        {"timezone": "Europe/Paris", "workdays": [1, 2, 3, 4], "holidays": ["2026-05-01"]}
    )

    assert calendar == BusinessCalendar(
        timezone="Europe/Paris", workdays=frozenset({1, 2, 3, 4}), holidays=frozenset({date(2026, 5, 1)})
    )


def test_from_document_without_calendar_is_utc_weekdays():
    assert BusinessCalendar.from_document(None) == BusinessCalendar()
    assert BusinessCalendar.from_document({"timezone": "Asia/Tokyo"}).workdays == frozenset({1, 2, 3, 4, 5})


def test_a_calendar_needs_a_workday():
    with pytest.raises(ValueError, match="at least one workday"):
        BusinessCalendar(workdays=frozenset())


@pytest.mark.parametrize(
    ("name", "known"),
    [
        ("America/New_York", True),
        ("UTC", True),
        ("Mars/Base", False),
        ("", False),
        ("../etc", False),
        (None, False),
    ],
)
def test_is_time_zone(name, known):
    assert is_time_zone(name) is known
