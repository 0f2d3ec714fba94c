"""The fast business time agrees with the slow reference: across daylight-saving changes,
holidays, midnight and empty days (property-based), plus hand-written cases."""

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slas.businesstime import BusinessTime, CalendarSpec
from tests.slas.reference import reference_add, reference_elapsed

T = dt.time
UTC = dt.timezone.utc
OFFICE = {d: ((T(9), T(12)), (T(13), T(17, 30))) for d in range(5)}


def at(tz, *args):
    return dt.datetime(*args, tzinfo=ZoneInfo(tz))


def test_office_hours_across_a_weekend():
    bt = BusinessTime(CalendarSpec("Europe/London", OFFICE), around=dt.date(2026, 3, 20))
    friday_4pm, monday_10am = at("Europe/London", 2026, 3, 20, 16), at("Europe/London", 2026, 3, 23, 10)
    assert bt.elapsed(friday_4pm, monday_10am) == int(1.5 * 3600) + 3600
    assert bt.add(friday_4pm, 2 * 3600 + 1800) == at("Europe/London", 2026, 3, 23, 10, 0)


def test_a_spring_forward_night_is_no_longer_than_it_is():
    """Europe/London skips 01:00-02:00 on 29 March 2026: a 00:00-04:00 shift is 3 hours."""
    spec = CalendarSpec("Europe/London", {6: ((T(0), T(4)),)})
    bt = BusinessTime(spec, around=dt.date(2026, 3, 29))
    sunday = at("Europe/London", 2026, 3, 29, 0)
    assert bt.elapsed(sunday, sunday + dt.timedelta(hours=6)) == 3 * 3600
    assert bt.elapsed(sunday, sunday + dt.timedelta(hours=6)) == reference_elapsed(
        spec, sunday, sunday + dt.timedelta(hours=6)
    )


def test_autumn_back_gives_the_extra_hour():
    spec = CalendarSpec("America/New_York", {6: ((T(0), T(4)),)})
    bt = BusinessTime(spec, around=dt.date(2026, 11, 1))
    sunday = at("America/New_York", 2026, 11, 1, 0)
    assert bt.elapsed(sunday, sunday + dt.timedelta(hours=8)) == 5 * 3600


def test_holidays_do_not_count_and_are_explained():
    christmas = dt.date(2026, 12, 25)
    spec = CalendarSpec("Europe/London", OFFICE, {christmas: "Christmas Day"})
    bt = BusinessTime(spec, around=christmas)
    thursday, monday = at("Europe/London", 2026, 12, 24, 17), at("Europe/London", 2026, 12, 28, 9, 30)
    assert bt.elapsed(thursday, monday) == 1800 + 1800
    assert bt.why_not_working(at("Europe/London", 2026, 12, 25, 10)) == "public holiday: Christmas Day"
    assert bt.why_not_working(at("Europe/London", 2026, 12, 26, 10)) == "non-working day"
    assert bt.why_not_working(at("Europe/London", 2026, 12, 28, 12, 30)) == "outside business hours"
    assert bt.why_not_working(at("Europe/London", 2026, 12, 28, 10)) is None


def test_round_the_clock_calendar_with_midnight_end():
    spec = CalendarSpec("UTC", {d: ((T(0), T(0)),) for d in range(7)})
    bt = BusinessTime(spec, around=dt.date(2026, 6, 1))
    a = dt.datetime(2026, 6, 1, 22, tzinfo=UTC)
    assert bt.elapsed(a, a + dt.timedelta(days=3)) == 3 * 86400
    assert bt.add(a, 7200) == a + dt.timedelta(hours=2)


def test_far_outside_the_layout_extends_it():
    bt = BusinessTime(CalendarSpec("UTC", OFFICE), around=dt.date(2026, 1, 1))
    a = dt.datetime(2031, 1, 6, 9, tzinfo=UTC)  # a Monday
    assert bt.elapsed(a, a + dt.timedelta(hours=8)) == 7 * 3600  # 9-12 and 13-17
    assert bt.add(dt.datetime(2020, 1, 6, 9, tzinfo=UTC), 3600) == dt.datetime(2020, 1, 6, 10, tzinfo=UTC)


ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/Sao_Paulo"]


@st.composite
def calendars(draw):
    weekly = {}
    for day in range(7):
        if draw(st.booleans()):
            continue  # an empty day
        cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=24 * 4), min_size=2, max_size=6, unique=True)))
        spans = []
        for s, e in zip(cuts[0::2], cuts[1::2]):
            start = T(s // 4, (s % 4) * 15)
            end = T(0) if e == 96 else T(e // 4, (e % 4) * 15)
            spans.append((start, end))
        weekly[day] = tuple(spans)
    base = dt.date(2026, 1, 1)
    hol = draw(st.sets(st.integers(min_value=0, max_value=400), max_size=15))
    return CalendarSpec(draw(st.sampled_from(ZONES)), weekly, {base + dt.timedelta(days=d): "holiday" for d in hol})


instants = st.integers(min_value=0, max_value=400 * 86400).map(
    lambda s: dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(seconds=s)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=calendars(), a=instants, b=instants)
def test_elapsed_agrees_with_the_reference(spec, a, b):
    bt = BusinessTime(spec, around=dt.date(2026, 7, 1))
    assert bt.elapsed(a, b) == reference_elapsed(spec, a, b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=calendars(), a=instants, seconds=st.integers(min_value=1, max_value=40 * 3600))
def test_due_time_agrees_with_the_reference_and_inverts_elapsed(spec, a, seconds):
    if not any(spec.weekly.values()):
        return
    bt = BusinessTime(spec, around=dt.date(2026, 7, 1))
    due = bt.add(a, seconds)
    assert due == reference_add(spec, a, seconds)
    assert bt.elapsed(a, due) == seconds
