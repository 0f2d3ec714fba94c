"""The change calendar shows the changes: readers filter by kind (changes, releases, windows
and freezes, job runs) on the page and in the iCalendar feed; a job's runs fold into one line
per job and day unless every run is asked for; in a busy day's cell changes and conflicts come
first; the service and CI filters take names."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from operations import calendar
from tests.factories import CIFactory
from tests.operations.factories import scheduled_change
from tests.operations.jobs_factories import JobFactory, run
from tests.operations.test_feed import create_feed, unfold

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy_day():
    """Tomorrow: an hourly job ran 24 times (one failed), and one change is scheduled at noon."""
    day = timezone.localdate() + dt.timedelta(days=1)
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=timezone.get_current_timezone())
    ci = CIFactory(name="EX-MBX-01")
    job = JobFactory(name="mailbox sync", schedule="0 * * * *", targets=[ci])
    for hour in range(24):
        r = run(job, start=midnight + dt.timedelta(hours=hour), status="failed" if hour == 5 else "success", minutes=10)
        type(r).objects.filter(pk=r.pk).update(planned_for=r.start)  # each answers its occurrence
    change = scheduled_change(start=midnight + dt.timedelta(hours=12), cis=[ci], title="Patch the mailbox server")
    return {"day": day, "job": job, "change": change, "ci": ci}


def page(user, **params):
    client = Client()
    client.force_login(user)
    return client.get("/operating/calendar/", params)


def test_runs_fold_into_one_line_per_job_and_day_unless_every_run_is_asked_for(manager, busy_day):
    day = busy_day["day"].isoformat()
    html = page(manager, view="list", date=day).content.decode()
    assert "mailbox sync: 24 runs (23 succeeded, 1 failed)" in html
    assert "mailbox sync (succeeded)" not in html and "mailbox sync (failed)" not in html
    html = page(manager, view="list", date=day, runs="each").content.decode()
    assert html.count("mailbox sync (succeeded)") == 23 and "mailbox sync (failed)" in html


def test_the_day_cell_shows_the_change_first(manager, busy_day):
    html = page(manager, view="month", date=busy_day["day"].isoformat(), runs="each").content.decode()
    cell = html[html.index(busy_day["change"].reference) - 400 : html.index(busy_day["change"].reference)]
    assert "mailbox sync" not in cell.split("<ul")[-1]  # nothing listed before the change in its day
    assert "more" in html  # the runs that do not fit are behind the day's link


def test_the_kind_filter_keeps_only_what_is_asked_for(manager, busy_day):
    html = page(manager, view="list", date=busy_day["day"].isoformat(), kind="change").content.decode()
    assert busy_day["change"].reference in html and "mailbox sync" not in html
    html = page(manager, view="list", date=busy_day["day"].isoformat(), kind="job").content.decode()
    assert busy_day["change"].reference not in html and "mailbox sync" in html


@pytest.mark.parametrize("kind", ["nonsense", "", "change\x00", "x" * 500])
def test_an_unknown_kind_is_a_400_with_the_choices_never_a_500(manager, busy_day, kind):
    response = page(manager, view="list", kind=kind)
    assert response.status_code in (200, 400)
    if kind and kind != "":
        assert response.status_code == 400


def test_the_service_and_ci_filters_take_names(manager, busy_day):
    html = page(manager, view="list", date=busy_day["day"].isoformat(), ci="ex-mbx-01").content.decode()
    assert busy_day["change"].reference in html and "Showing what touches" in html
    assert page(manager, view="list", ci="no such box").status_code == 400


def test_the_feed_lets_subscribers_choose_what_they_get(manager, busy_day):
    url = create_feed(manager)
    everything = unfold(Client().get(url).content.decode())
    summaries = [line for line in everything if line.startswith("SUMMARY:mailbox sync")]
    assert len(summaries) <= 181  # one per job and day over the feed's 180 days, not one per hour
    assert summaries.count("SUMMARY:mailbox sync: 24 runs (23 succeeded\\, 1 failed)") == 1
    assert not any(line.startswith("SUMMARY:mailbox sync (") for line in everything)
    changes_only = unfold(Client().get(url, {"kind": "change"}).content.decode())
    assert any(busy_day["change"].reference in line for line in changes_only if line.startswith("SUMMARY:"))
    assert not any("mailbox sync" in line for line in changes_only)
    each = unfold(Client().get(url, {"runs": "each"}).content.decode())
    assert sum(1 for line in each if line.startswith("SUMMARY:mailbox sync (")) >= 24 * 30


def test_choose_keeps_a_lone_run_as_it_is(manager):
    start = timezone.now() + dt.timedelta(days=2)
    job = JobFactory(name="weekly report", schedule="0 6 * * 1")
    run(job, start=start)
    items = calendar.build(user=manager, start=start - dt.timedelta(hours=1), end=start + dt.timedelta(hours=2)).items
    chosen = calendar.choose(items, kinds={"job"})
    assert [i.title for i in chosen if i.kind == "job" and i.status != "planned"] == ["weekly report (succeeded)"]
