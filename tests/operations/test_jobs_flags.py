"""Off-peak flags: a job whose runs fall inside the business hours of a service it
reaches (its SLA's calendar, in the calendar's time zone), overlap a freeze in force, or
overlap a scheduled change on the same CI is flagged with the reason and the item."""

import datetime as dt

import pytest

from operations.jobs_selectors import job_flags
from slas.models import BusinessCalendar, ServiceLevelAgreement, SLAVersion, WorkingInterval
from tests.factories import CIFactory, ManagerFactory, RelationshipFactory, ServiceFactory
from tests.operations.factories import freeze, scheduled_change
from tests.operations.jobs_factories import JobFactory

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
NOW = dt.datetime(2027, 3, 1, 0, 0, tzinfo=UTC)  # a Monday


def office_sla(service, *, tz="Europe/London", status="active", name="Mail SLA"):
    calendar = BusinessCalendar.objects.create(name=f"{name} hours", time_zone=tz)
    for day in range(5):
        WorkingInterval.objects.create(calendar=calendar, weekday=day, start=dt.time(8), end=dt.time(18))
    sla = ServiceLevelAgreement.objects.create(name=name, owner=ManagerFactory(username="sla-owner"))
    SLAVersion.objects.create(
        sla=sla, number=1, service=service, calendar=calendar, resolution_seconds=3600, created_by=sla.owner
    )
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=status)
    return calendar


def flags_of(job, days=7):
    job.refresh_from_db()
    return job_flags([job], now=NOW, days=days)[job.pk]


def test_a_daytime_job_on_a_ci_supporting_a_service_is_flagged_for_its_business_hours():
    mail = ServiceFactory(name="Exchange mail")
    office_sla(mail)
    job = JobFactory(schedule="0 10 * * *", time_zone="Europe/London", targets=[CIFactory(services=[mail])])
    (flag,) = flags_of(job)
    assert flag.kind == "business_hours" and flag.item == "Exchange mail"
    assert flag.count == 5  # Monday to Friday; the weekend runs are off-peak
    assert flag.first == dt.datetime(2027, 3, 1, 10, tzinfo=UTC)
    assert "business hours of Exchange mail" in flag.reason


def test_the_same_job_at_night_is_not_flagged():
    mail = ServiceFactory()
    office_sla(mail)
    job = JobFactory(
        schedule="30 2 * * *",
        time_zone="Europe/London",
        expected_duration_minutes=120,
        targets=[CIFactory(services=[mail])],
    )
    assert flags_of(job) == []


def test_a_job_running_into_the_morning_is_flagged():
    mail = ServiceFactory()
    office_sla(mail)
    job = JobFactory(
        schedule="0 6 * * *",
        time_zone="Europe/London",
        expected_duration_minutes=150,
        targets=[CIFactory(services=[mail])],
    )
    assert [f.kind for f in flags_of(job)] == ["business_hours"]


def test_business_hours_reach_through_the_cmdb_and_follow_the_calendars_time_zone():
    # A SAN job at 16:00 UTC: outside New York office hours? No - 16:00 UTC is 11:00 in New York.
    mail = ServiceFactory(name="US mail")
    office_sla(mail, tz="America/New_York", name="US SLA")
    san = CIFactory(name="san-01")
    RelationshipFactory(source=CIFactory(services=[mail]), target=san)
    job = JobFactory(schedule="0 16 * * 1", time_zone="UTC", targets=[san])
    (flag,) = flags_of(job)
    assert flag.item == "US mail"
    late = JobFactory(schedule="0 23 * * 1", time_zone="UTC", targets=[san])  # 18:00 New York: closed
    assert flags_of(late) == []


def test_a_draft_sla_does_not_make_business_hours():
    mail = ServiceFactory()
    office_sla(mail, status="draft")
    job = JobFactory(schedule="0 10 * * *", targets=[CIFactory(services=[mail])])
    assert flags_of(job) == []


def test_a_freeze_on_a_service_it_reaches_flags_the_job_and_one_on_another_does_not():
    mail, web = ServiceFactory(name="Mail"), ServiceFactory(name="Web")
    job = JobFactory(schedule="0 2 * * *", targets=[CIFactory(services=[mail])])
    freeze(start=NOW + dt.timedelta(days=2), end=NOW + dt.timedelta(days=4), services=[web], name="Web freeze")
    assert flags_of(job) == []
    freeze(start=NOW + dt.timedelta(days=2), end=NOW + dt.timedelta(days=4), services=[mail], name="Mail freeze")
    (flag,) = flags_of(job)
    assert (flag.kind, flag.item, flag.count) == ("freeze", "Mail freeze", 2)
    assert flag.url.endswith(f"/freezes/{flag.url.rstrip('/').split('/')[-1]}/")


def test_a_proposed_freeze_does_not_flag():
    job = JobFactory(schedule="0 2 * * *")
    freeze(start=NOW, end=NOW + dt.timedelta(days=3), status="proposed")
    assert flags_of(job) == []


def test_a_change_on_the_same_ci_flags_the_overlapping_runs():
    ci, other = CIFactory(), CIFactory()
    job = JobFactory(schedule="0 2 * * *", expected_duration_minutes=60, targets=[ci])
    change = scheduled_change(start=NOW + dt.timedelta(days=1, hours=1), hours=3, cis=[ci], title="Firmware")
    scheduled_change(start=NOW + dt.timedelta(days=2, hours=1), hours=3, cis=[other], title="Elsewhere")
    (flag,) = flags_of(job)
    assert flag.kind == "change" and flag.item == f"{change.reference} Firmware" and flag.count == 1
    assert flag.first == NOW + dt.timedelta(days=1, hours=2)


def test_a_draft_change_does_not_flag():
    ci = CIFactory()
    job = JobFactory(schedule="0 2 * * *", targets=[ci])
    scheduled_change(start=NOW + dt.timedelta(days=1), hours=5, cis=[ci], status="draft")
    assert flags_of(job) == []


def test_inactive_jobs_are_not_judged():
    ci = CIFactory()
    job = JobFactory(schedule="0 2 * * *", targets=[ci], active=False)
    scheduled_change(start=NOW + dt.timedelta(days=1), hours=5, cis=[ci])
    assert flags_of(job) == []


def test_many_jobs_are_judged_in_the_same_number_of_queries(django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from operations.jobs_selectors import job_list

    mail = ServiceFactory()
    office_sla(mail)
    freeze(start=NOW, end=NOW + dt.timedelta(days=2), services=[mail])
    manager = ManagerFactory(username="reader")
    JobFactory(schedule="0 10 * * *", targets=[CIFactory(services=[mail])])
    job_flags(list(job_list(user=manager)), now=NOW)  # warm the calendar cache
    with CaptureQueriesContext(connection) as one:
        job_flags(list(job_list(user=manager)), now=NOW)
    for _ in range(10):
        JobFactory(schedule="0 10 * * *", targets=[CIFactory(services=[mail])])
    with CaptureQueriesContext(connection) as eleven:
        found = job_flags(list(job_list(user=manager)), now=NOW)
    assert all(found.values())
    assert len(eleven) == len(one)
