"""Job runs and planned occurrences on the forward schedule: the calendar page, the
schedule endpoint (with a constant number of queries) and the filters."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from operations import calendar
from tests.conftest import api_as
from tests.factories import CIFactory, ServiceFactory
from tests.operations.factories import scheduled_change
from tests.operations.jobs_factories import JobFactory, run

pytestmark = pytest.mark.django_db


def week_ahead():
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    return start, start + dt.timedelta(days=7)


def test_runs_and_planned_occurrences_sit_beside_changes(manager):
    ci = CIFactory()
    start, end = week_ahead()
    job = JobFactory(name="nightly backup", schedule="0 2 * * *", targets=[ci])
    done = run(job, start=start - dt.timedelta(hours=1), status="failed")
    change = scheduled_change(start=start + dt.timedelta(days=1), cis=[ci])
    schedule = calendar.build(user=manager, start=start - dt.timedelta(hours=2), end=end)
    jobs = schedule.of_kind("job")
    assert [i for i in jobs if i.uid == f"jobrun-{done.pk}@mof-portal"][0].status == "failed"
    planned = [i for i in jobs if i.status == "planned"]
    assert len(planned) == 7 and all(i.start.hour == 2 for i in planned)
    assert [i.object_id for i in schedule.of_kind("change")] == [change.pk]


def test_an_occurrence_with_a_run_is_shown_once_as_the_run(manager):
    from operations.models_jobs import JobRun

    start, end = week_ahead()
    job = JobFactory(schedule="0 * * * *", expected_duration_minutes=120)
    at = start  # an occurrence on the hour
    JobRun.objects.create(job=job, planned_for=at, start=at, end=at + dt.timedelta(hours=2), started_at=at)
    items = calendar.build(user=manager, start=start, end=start + dt.timedelta(hours=3)).of_kind("job")
    assert [i.status for i in items if i.start == at] == ["running"]


def test_the_schedule_endpoint_lists_jobs_in_constant_queries(manager):
    start, end = week_ahead()
    client = api_as(manager)
    JobFactory(schedule="0 3 * * *")
    url = f"/api/v1/schedule/?start={start.date().isoformat()}&end={end.date().isoformat()}"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        first = client.get(url).json()
    for i in range(8):
        job = JobFactory(schedule="30 4 * * *")
        run(job, start=start + dt.timedelta(hours=i))
    with CaptureQueriesContext(connection) as many:
        body = client.get(url).json()
    assert len(body["jobs"]) > len(first["jobs"]) >= 7
    assert {"kind", "id", "uid", "title", "start", "end", "status", "url"} <= set(body["jobs"][0])
    assert len(many) == len(few)


def test_the_service_filter_keeps_the_jobs_that_reach_it(manager):
    mail, web = ServiceFactory(name="Mail"), ServiceFactory(name="Web")
    start, end = week_ahead()
    mail_job = JobFactory(targets=[CIFactory(services=[mail])])
    JobFactory(targets=[CIFactory(services=[web])])
    body = api_as(manager).get(f"/api/v1/schedule/?start={start.date()}&end={end.date()}&service={mail.pk}").json()
    assert {i["id"] for i in body["jobs"]} == {mail_job.pk}


def test_people_who_may_not_see_jobs_get_none(partner_user):
    start, end = week_ahead()
    JobFactory()
    assert calendar.build(user=partner_user, start=start, end=end).of_kind("job") == []


def test_the_calendar_page_shows_job_runs(manager):
    start, _ = week_ahead()
    JobFactory(name="ledger batch", schedule="0 3 * * *")
    client = Client()
    client.force_login(manager)
    page = client.get(f"/operating/calendar/?view=week&date={start.date().isoformat()}").content.decode()
    assert "ledger batch (planned)" in page and "kind-job" in page
