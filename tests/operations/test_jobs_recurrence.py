"""The job schedule's recurrence: cron expressions read in an IANA time zone, across
daylight-saving changes, and refused with a clear message when they cannot work."""

import datetime as dt

import pytest

from operations.models_jobs import parse_recurrence, recurrence_error

UTC = dt.timezone.utc


def at(*args):
    return dt.datetime(*args, tzinfo=UTC)


def occurrences(expr, tz, start, end):
    return parse_recurrence(expr).occurrences(tz, start, end)


def test_daily_job_keeps_its_local_time_across_the_spring_change_in_london():
    # 02:30 London: 02:30 UTC in winter, 01:30 UTC once British Summer Time starts (29 March 2026).
    found = occurrences("30 2 * * *", "Europe/London", at(2026, 3, 27), at(2026, 3, 31))
    assert found == [at(2026, 3, 27, 2, 30), at(2026, 3, 28, 2, 30), at(2026, 3, 29, 1, 30), at(2026, 3, 30, 1, 30)]


def test_a_local_time_inside_the_spring_gap_runs_once_right_after_it():
    # On 29 March 2026 London jumps from 01:00 to 02:00: 01:30 does not exist.
    found = occurrences("30 1 * * *", "Europe/London", at(2026, 3, 28), at(2026, 3, 30))
    assert found == [
        at(2026, 3, 28, 1, 30),
        at(2026, 3, 29, 1, 30),
    ]  # 01:30 UTC = 02:30 BST, the same instant as a late run


def test_hourly_job_neither_runs_twice_nor_skips_real_hours_in_the_spring_gap():
    found = occurrences("0 * * * *", "Europe/London", at(2026, 3, 28, 23), at(2026, 3, 29, 4))
    assert found == [
        at(2026, 3, 28, 23),
        at(2026, 3, 29, 0),
        at(2026, 3, 29, 1),
        at(2026, 3, 29, 2),
        at(2026, 3, 29, 3),
    ]


def test_a_time_repeated_in_the_autumn_runs_once():
    # 25 October 2026: London goes back from 02:00 BST to 01:00 GMT; 01:30 happens twice.
    found = occurrences("30 1 * * *", "Europe/London", at(2026, 10, 24), at(2026, 10, 27))
    assert found == [at(2026, 10, 24, 0, 30), at(2026, 10, 25, 0, 30), at(2026, 10, 26, 1, 30)]


def test_new_york_weekday_schedule_follows_its_own_change_date():
    # US daylight saving starts 8 March 2026: 23:00 New York is 04:00 UTC before, 03:00 UTC after.
    found = occurrences("0 23 * * 1-5", "America/New_York", at(2026, 3, 5, 5), at(2026, 3, 11))
    # Thursday and Friday evenings in EST, no weekend, Monday evening in EDT.
    assert found == [at(2026, 3, 6, 4), at(2026, 3, 7, 4), at(2026, 3, 10, 3)]


def test_day_of_month_or_day_of_week_when_both_are_restricted():
    found = occurrences("0 0 1 * 1", "UTC", at(2026, 6, 1), at(2026, 6, 16))
    assert found == [at(2026, 6, 1), at(2026, 6, 8), at(2026, 6, 15)]  # the 1st (a Monday) and every Monday


def test_macros_are_accepted():
    assert occurrences("@daily", "UTC", at(2026, 1, 1), at(2026, 1, 3)) == [at(2026, 1, 1), at(2026, 1, 2)]


@pytest.mark.parametrize(
    "expr, message",
    [
        ("61 * * * *", "Not a valid cron expression"),
        ("* * *", "five fields"),
        ("0 0 * * * 5", "five fields"),
        ("0 0 L * *", "not supported"),
        ("0 0 31 2 *", "never occurs"),
        ("", "five fields"),
    ],
)
def test_bad_expressions_are_refused_with_a_reason(expr, message):
    errors = recurrence_error(expr, "UTC")
    assert message in errors["schedule"]


def test_unknown_time_zone_is_refused():
    assert "Unknown time zone" in recurrence_error("0 1 * * *", "Mars/Olympus")["time_zone"]
    assert recurrence_error("0 1 * * *", "Europe/Berlin") == {}
