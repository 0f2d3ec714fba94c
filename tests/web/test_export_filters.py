"""Every list page's CSV export holds what the page's filters select, every page of it: the
job list's flagged filter (judged over all the jobs, not page by page), backup coverage,
and a refused filter shown on the page, never exported as no filter at all."""

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from mof.choices import RoleCluster
from tests.factories import CIFactory, ManagerFactory, ServiceFactory, UserFactory
from tests.operations.jobs_factories import JobFactory, backup_job, run
from tests.operations.test_jobs_flags import office_sla

pytestmark = pytest.mark.django_db


def rows_of(response):
    assert isinstance(response, StreamingHttpResponse), response.status_code
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def names(response):
    return [row[0] for row in rows_of(response)[1:]]


@pytest.fixture
def ops(client):
    client.force_login(UserFactory(username="ops", roles=[RoleCluster.OPERATIONS]))
    return client


@pytest.fixture
def day_and_night_jobs(db):
    """Two jobs running in the business hours of the service they reach, two at night."""
    mail = ServiceFactory(name="Exchange mail")
    office_sla(mail, tz="UTC")
    ci = CIFactory(name="mbx-01", services=[mail])
    for name, schedule in (
        ("a-night", "30 2 * * *"),
        ("b-day", "0 10 * * *"),
        ("c-night", "0 3 * * *"),
        ("d-day", "0 11 * * *"),
    ):
        JobFactory(name=name, schedule=schedule, targets=[ci])


def test_the_flagged_jobs_are_every_flagged_job_on_every_page_and_in_the_export(ops, day_and_night_jobs):
    first = ops.get(reverse("job_list"), {"flagged": "1", "page_size": "1"})
    second = ops.get(reverse("job_list"), {"flagged": "1", "page_size": "1", "page": "2"})
    assert [r["job"].name for r in first.context["rows"]] == ["b-day"]  # was none: page 1 held a-night, then dropped
    assert [r["job"].name for r in second.context["rows"]] == ["d-day"]
    assert first.context["page"].num_pages == 2
    assert all(r["flags"] for r in first.context["rows"] + second.context["rows"])
    assert names(ops.get(reverse("job_list"), {"export": "csv", "flagged": "1"})) == ["b-day", "d-day"]
    assert names(ops.get(reverse("job_list"), {"export": "csv"})) == ["a-night", "b-day", "c-night", "d-day"]
    assert b'name="flagged"' in ops.get(reverse("job_list")).content  # the page offers the filter


def test_the_flagged_filter_keeps_the_other_filters(ops, day_and_night_jobs):
    assert names(ops.get(reverse("job_list"), {"export": "csv", "flagged": "1", "q": "d-"})) == ["d-day"]
    assert names(ops.get(reverse("job_list"), {"export": "csv", "flagged": "1", "active": "0"})) == []


@pytest.mark.parametrize("params", [{"kind": "nightly"}, {"flagged": "yes"}])
def test_a_refused_job_filter_is_shown_and_not_exported(ops, day_and_night_jobs, params):
    response = ops.get(reverse("job_list"), {"export": "csv", **params})
    assert response.status_code == 400 and not isinstance(response, StreamingHttpResponse)
    assert response.context["errors"]


def test_backup_coverage_exports_what_the_page_lists(ops):
    from django.utils import timezone

    covered, late = CIFactory(name="db-01"), CIFactory(name="=db-02")
    job = backup_job(name="nightly backup", targets=[covered, late])
    run(job, start=timezone.now() - timezone.timedelta(hours=2), cis=[covered])
    page = ops.get(reverse("backup_coverage"))
    assert b"Export CSV" in page.content
    rows = rows_of(ops.get(reverse("backup_coverage"), {"export": "csv"}))
    assert rows[0] == ["CI", "Policy (hours)", "Last good backup", "State", "Backup jobs"]
    assert rows[1:] == [["'=db-02", "24", "", "at risk", "nightly backup"]]  # at risk only, as the page; no formula
    everything = rows_of(ops.get(reverse("backup_coverage"), {"export": "csv", "all": "1"}))
    assert sorted(r[0] for r in everything[1:]) == ["'=db-02", "db-01"]


def test_a_refused_events_filter_is_shown_and_not_exported(ops):
    from operations import events

    ci = CIFactory(name="db-01")
    events.ingest(
        actor=UserFactory(roles=[RoleCluster.OPERATIONS]),
        payload=[{"source": "nagios", "ci": "db-01", "severity": "warning", "key": "db-01/disk"}],
    )
    assert len(rows_of(ops.get(reverse("events_ci", args=[ci.pk]), {"export": "csv", "period": "24h"}))) == 2
    response = ops.get(reverse("events_ci", args=[ci.pk]), {"export": "csv", "period": "forever"})
    assert response.status_code == 400 and not isinstance(response, StreamingHttpResponse)


def test_a_refused_ci_filter_is_not_exported_as_every_ci(client):
    client.force_login(ManagerFactory(username="boss"))
    CIFactory(name="app-01")
    assert names(client.get(reverse("ci_list"), {"export": "csv", "q": "app"})) == ["app-01"]
    response = client.get(reverse("ci_list"), {"export": "csv", "environment": "moon"})
    assert not isinstance(response, StreamingHttpResponse)


def test_a_refused_queue_filter_is_not_exported_as_the_whole_queue(client):
    from tests.incidents.factories import IncidentFactory

    boss = ManagerFactory(username="boss", roles=[RoleCluster.SUPPORT])
    client.force_login(boss)
    IncidentFactory(title="Mail is down")
    assert (
        len(
            rows_of(
                client.get(reverse("incident_queue"), {"export": "csv", "queue": "open", "created_after": "2000-01-01"})
            )
        )
        == 2
    )
    response = client.get(reverse("incident_queue"), {"export": "csv", "queue": "open", "created_after": "last week"})
    assert not isinstance(response, StreamingHttpResponse)


def test_the_sla_report_csv_never_holds_a_formula(client):
    import datetime as dt
    from decimal import Decimal

    from slas import services
    from tests.slas.test_reports import clocks

    boss = ManagerFactory(username="sla-boss")
    always = services.calendar_save(
        actor=boss, name="24x7", time_zone="UTC", intervals=[(d, dt.time(0), dt.time(0)) for d in range(7)]
    )
    sla = services.sla_create(
        actor=boss,
        name='=HYPERLINK("http://evil")',
        resolution_seconds=3600,
        calendar=always,
        target_percentage=Decimal("90"),
    )
    clocks(sla.current_version, "resolution", ["met"], start=dt.datetime(2026, 6, 2, 9, tzinfo=dt.timezone.utc))
    client.force_login(boss)
    body = client.get(
        reverse("sla_report_csv", args=["compliance"]), {"start": "2026-06-01", "end": "2026-06-30"}
    ).content.decode()
    (row,) = list(csv.DictReader(io.StringIO(body)))
    assert row["sla"] == '\'=HYPERLINK("http://evil")'
