import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from incidents import services as desk
from incidents.models import Incident
from mof.policy import Refused
from slas import availability as av
from slas.models import AvailabilityTarget, BusinessCalendar, OutageRecord, ServiceHours, WorkingInterval
from tests.conftest import api_as
from tests.factories import ManagerFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 6, 30, tzinfo=UTC)


def t(day, hour=0, minute=0):
    return dt.datetime(2026, 6, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def boss(db):
    return ManagerFactory(username="avail-boss")


@pytest.fixture
def office(db):
    """Mon-Fri 09:00-17:00 UTC."""
    from slas.engine import _engine

    _engine.cache_clear()  # the engine is cached per (calendar id, version): ids come back after a test's rollback
    cal = BusinessCalendar.objects.create(name="Office hours", time_zone="UTC")
    for d in range(5):
        WorkingInterval.objects.create(calendar=cal, weekday=d, start=dt.time(9), end=dt.time(17))
    yield cal
    _engine.cache_clear()  # and leave no engine behind for a later test's calendar with the same id


def outage(service, start, end, planned=False, reason="down"):
    return OutageRecord.objects.create(service=service, start=start, end=end, planned=planned, reason=reason)


def major(service, start, end, caller):
    incident = desk.incident_create(actor=caller, title="Mail down", service=service)
    Incident.objects.filter(pk=incident.pk).update(is_major=True, outage_start=start, outage_end=end)
    return incident


# --- interval arithmetic ----------------------------------------------------------------


def test_merge_intersect_subtract():
    assert av.merge([(5, 8), (1, 3), (2, 4), (8, 9)]) == [(1, 4), (5, 9)]
    assert av.intersect([(0, 10), (20, 30)], [(5, 25)]) == [(5, 10), (20, 25)]
    assert av.subtract([(0, 10), (20, 30)], [(2, 3), (5, 22), (29, 40)]) == [(0, 2), (3, 5), (22, 29)]
    assert av.subtract([(0, 10)], []) == [(0, 10)]


# --- availability arithmetic -----------------------------------------------------------


def test_24x7_by_default_with_overlapping_outages_merged(boss):
    svc = ServiceFactory(name="Mail")
    AvailabilityTarget.objects.create(service=svc, target_percentage=Decimal("99.9"))
    outage(svc, t(1, 10), t(1, 11))
    outage(svc, t(1, 10, 30), t(1, 11, 30))  # overlaps the first: counts once
    major(svc, t(1, 11), t(1, 12), boss)  # overlaps too (incident source)
    outage(svc, t(2, 8), t(2, 8, 30))
    a = av.availability(svc, t(1), t(3), now=NOW)
    assert a.scheduled_seconds == a.agreed_seconds == 2 * 86400
    assert a.downtime_seconds == 2 * 3600 + 1800
    assert a.failures == 2
    assert a.uptime_seconds == 2 * 86400 - 9000
    assert a.percentage == Decimal("94.7916")  # 163800 / 172800, rounded down
    assert a.met is False
    assert a.mtrs_seconds == 4500
    assert a.mtbf_seconds == (2 * 86400 - 9000) / 2
    assert a.mtbsi_seconds == 86400


def test_outage_outside_service_hours_does_not_count_and_multi_day_period(office, boss):
    svc = ServiceFactory(name="Payroll")
    ServiceHours.objects.create(service=svc, calendar=office)
    AvailabilityTarget.objects.create(service=svc, target_percentage=Decimal("99"))
    # 2026-06-01 is a Monday. Period Mon 00:00 .. next Mon 00:00: five 8-hour days.
    outage(svc, t(1, 20), t(2, 8))  # overnight: outside hours entirely
    outage(svc, t(6, 10), t(6, 12))  # Saturday: outside hours
    outage(svc, t(3, 16), t(4, 10))  # Wed 16:00 - Thu 10:00: 1 h + 1 h inside hours
    a = av.availability(svc, t(1), t(8), now=NOW)
    assert a.agreed_seconds == 5 * 8 * 3600
    assert a.downtime_seconds == 2 * 3600
    assert a.failures == 1  # the overnight and weekend outages never touched agreed time
    assert a.mtrs_seconds == 7200
    assert a.met is False  # 38/40 = 95 %
    assert a.percentage == Decimal("95.0000")
    b = av.availability(svc, t(1), t(3), now=NOW)  # Mon+Tue only
    assert (b.agreed_seconds, b.downtime_seconds, b.failures, b.met) == (16 * 3600, 0, 0, True)
    assert b.mtbf_seconds is None and b.mtrs_seconds is None


def test_planned_outage_leaves_agreed_time_and_ongoing_outage_counts_until_now(boss):
    svc = ServiceFactory(name="Web")
    outage(svc, t(1, 0), t(1, 2), planned=True)
    outage(svc, t(1, 1), t(1, 3))  # half inside the planned window
    major(svc, t(29, 23), None, boss)  # still going at NOW (June 30 00:00)
    a = av.availability(svc, t(1), t(30, 12), now=NOW)
    assert a.end == NOW  # the future is not measured
    assert a.scheduled_seconds == 29 * 86400
    assert a.planned_seconds == 7200
    assert a.agreed_seconds == 29 * 86400 - 7200
    assert a.downtime_seconds == 3600 + 3600
    assert a.failures == 2


def test_exact_comparison_against_the_target():
    svc = ServiceFactory(name="Exact")
    AvailabilityTarget.objects.create(service=svc, target_percentage=Decimal("99.9"))
    # 1000 s agreed-time granularity: 1 s down in 1000 s is exactly 99.9 %.
    outage(svc, t(1, 0, 0), t(1, 0, 0) + dt.timedelta(seconds=1))
    a = av.availability(svc, t(1), t(1) + dt.timedelta(seconds=1000), now=NOW)
    assert a.met is True and a.percentage == Decimal("99.9000")
    outage(svc, t(1, 0, 1), t(1, 0, 1) + dt.timedelta(seconds=1))
    assert av.availability(svc, t(1), t(1) + dt.timedelta(seconds=1000), now=NOW).met is False


def test_services_write_and_refuse(boss, office):
    svc = ServiceFactory(name="CRM")
    staff = UserFactory(username="eng", roles=["support"])
    with pytest.raises(Refused):
        av.availability_target_set(actor=staff, service=svc, target_percentage="99.5")
    for bad in ("0", "100.5", "abc", "-3"):
        with pytest.raises(ValidationError):
            av.availability_target_set(actor=boss, service=svc, target_percentage=bad)
    av.availability_target_set(actor=boss, service=svc, target_percentage="99.5")
    assert AvailabilityTarget.objects.get(service=svc).target_percentage == Decimal("99.5")
    av.service_hours_set(actor=boss, service=svc, calendar=office)
    assert ServiceHours.objects.get(service=svc).calendar == office
    av.service_hours_set(actor=boss, service=svc, calendar=None)
    assert not ServiceHours.objects.filter(service=svc).exists()
    with pytest.raises(ValidationError):
        av.outage_record_create(actor=boss, service=svc, start=t(2), end=t(1), reason="backwards")
    with pytest.raises(Refused):
        av.outage_record_create(actor=staff, service=svc, start=t(1), end=t(2), reason="x")
    rec = av.outage_record_create(actor=boss, service=svc, start=t(1), end=t(2), reason="SAN failure")
    assert rec.recorded_by == boss
    assert OutageRecord.objects.count() == 1


# --- API ---------------------------------------------------------------------------------


def test_availability_report_api(boss):
    svc = ServiceFactory(name="Mail")
    other = ServiceFactory(name="Zeta")
    AvailabilityTarget.objects.create(service=svc, target_percentage=Decimal("95"))
    outage(svc, t(1, 0), t(1, 1))  # 23/24 = 95.83 %
    client = api_as(boss)
    body = client.get(f"/api/v1/reports/availability/?start=2026-06-01&end=2026-06-01&service={svc.pk}").json()
    (row,) = body["results"]
    assert row["service_name"] == "Mail" and row["agreed_seconds"] == 86400 and row["downtime_seconds"] == 3600
    assert row["met"] is True and row["failures"] == 1 and row["mtrs_seconds"] == 3600
    both = client.get("/api/v1/reports/availability/?start=2026-06-01T00:00:00Z&end=2026-06-02T00:00:00Z").json()[
        "results"
    ]
    assert [r["service_name"] for r in both] == ["Mail", "Zeta"] and both[1]["target_percentage"] is None and other
    for bad in (
        "start=2026-13-01",
        "start=yesterday",
        "start=2026-06-05&end=2026-06-01",
        "service=abc",
        "service=999999",
    ):
        response = client.get(f"/api/v1/reports/availability/?{bad}")
        assert response.status_code == 400, bad
    assert api_as(UserFactory(username="nobody")).get("/api/v1/reports/availability/").status_code == 403
    assert (
        api_as(UserFactory(username="eng2", roles=["support"])).get("/api/v1/reports/availability/").status_code == 200
    )


# --- pages ---------------------------------------------------------------------------------


def test_availability_pages_chart_csv_and_manager_forms(client, boss, office):
    svc = ServiceFactory(name="Mail")
    AvailabilityTarget.objects.create(service=svc, target_percentage=Decimal("99.9"))
    outage(svc, t(1, 10), t(1, 11))
    client.force_login(boss)
    page = client.get("/optimizing/availability/?start=2026-06-01&end=2026-06-07")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "Mail" in html and "missed" in html and "1 h" in html
    csv_text = client.get("/optimizing/availability.csv?start=2026-06-01&end=2026-06-07").content.decode()
    header, row = csv_text.splitlines()[:2]
    assert header.startswith("service,start,end") and row.startswith("Mail,") and ",3600," in row
    assert client.get("/optimizing/availability.csv?start=bad").status_code == 400
    detail = client.get(f"/optimizing/availability/services/{svc.pk}/?start=2026-06-01&end=2026-06-07")
    assert detail.status_code == 200 and "down" in detail.content.decode()
    url = f"/optimizing/availability/services/{svc.pk}/"
    assert client.post(url, {"form": "hours", "hours-calendar": office.pk}).status_code == 302
    assert ServiceHours.objects.get(service=svc).calendar == office
    assert client.post(url, {"form": "target", "target-target_percentage": "150"}).status_code == 400
    assert client.post(url, {"form": "target", "target-target_percentage": "99.5"}).status_code == 302
    assert AvailabilityTarget.objects.get(service=svc).target_percentage == Decimal("99.5")
    bad = client.post(
        url,
        {"form": "outage", "outage-start": "2026-06-03T10:00", "outage-end": "2026-06-03T09:00", "outage-reason": "x"},
    )
    assert bad.status_code == 400 and OutageRecord.objects.count() == 1
    assert (
        client.post(
            url,
            {
                "form": "outage",
                "outage-start": "2026-06-03T10:00",
                "outage-end": "2026-06-03T12:00",
                "outage-reason": "SAN",
                "outage-planned": "on",
            },
        ).status_code
        == 302
    )
    record = OutageRecord.objects.get(reason="SAN")
    assert record.planned
    assert client.post(f"/optimizing/availability/outages/{record.pk}/delete/").status_code == 302
    assert not OutageRecord.objects.filter(pk=record.pk).exists()


def test_availability_pages_permissions(client):
    svc = ServiceFactory(name="Mail")
    staff = UserFactory(username="eng", roles=["support"])
    client.force_login(staff)
    assert client.get("/optimizing/availability/").status_code == 200
    page = client.get(f"/optimizing/availability/services/{svc.pk}/")
    assert page.status_code == 200 and "Record an outage" not in page.content.decode()
    assert (
        client.post(
            f"/optimizing/availability/services/{svc.pk}/", {"form": "target", "target-target_percentage": "99"}
        ).status_code
        == 403
    )
    assert not AvailabilityTarget.objects.exists()
    client.force_login(UserFactory(username="walk-in"))
    assert client.get("/optimizing/availability/").status_code == 403


def test_the_report_costs_the_same_queries_for_more_services(boss, office):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def run():
        with CaptureQueriesContext(connection) as ctx:
            rows = av.availability_report(boss, t(1), t(8), now=NOW)
        return len(ctx.captured_queries), rows

    for i in range(2):
        svc = ServiceFactory(name=f"S{i}")
        ServiceHours.objects.create(service=svc, calendar=office)
        outage(svc, t(2, 10), t(2, 11))
        major(svc, t(3, 10), t(3, 12), boss)
    run()  # builds the office calendar's business-time layout once
    few, _ = run()
    for i in range(2, 12):
        svc = ServiceFactory(name=f"S{i}")
        outage(svc, t(2, 10), t(2, 11))
        major(svc, t(3, 10), t(3, 12), boss)
    many, rows = run()
    assert many == few and len(rows) == 12
    assert {r.downtime_seconds for r in rows} == {3 * 3600}


def test_outages_and_service_settings_api(boss, office):
    svc = ServiceFactory(name="Mail")
    staff = UserFactory(username="eng3", roles=["support"])
    client = api_as(boss)
    bad = client.post(
        "/api/v1/outages/",
        {"service": svc.pk, "start": "2026-06-02T10:00:00Z", "end": "2026-06-02T09:00:00Z", "reason": "x"},
        format="json",
    )
    assert bad.status_code == 400 and "end" in bad.json()
    assert (
        api_as(staff)
        .post(
            "/api/v1/outages/",
            {"service": svc.pk, "start": "2026-06-02T10:00:00Z", "end": "2026-06-02T11:00:00Z", "reason": "x"},
            format="json",
        )
        .status_code
        == 403
    )
    made = client.post(
        "/api/v1/outages/",
        {
            "service": svc.pk,
            "start": "2026-06-02T10:00:00Z",
            "end": "2026-06-02T11:00:00Z",
            "reason": "SAN",
            "planned": False,
        },
        format="json",
    )
    assert made.status_code == 201 and made.json()["recorded_by"] == boss.pk
    assert [o["reason"] for o in api_as(staff).get(f"/api/v1/outages/?service={svc.pk}").json()["results"]] == ["SAN"]
    url = f"/api/v1/services/{svc.pk}/availability/"
    assert client.get(url).json() == {"service": svc.pk, "target_percentage": None, "calendar": None}
    assert client.put(url, {"target_percentage": "101"}, format="json").status_code == 400
    assert api_as(staff).put(url, {"target_percentage": "99"}, format="json").status_code == 403
    assert client.put(url, {"target_percentage": "99.95", "calendar": office.pk}, format="json").json() == {
        "service": svc.pk,
        "target_percentage": "99.9500",
        "calendar": office.pk,
    }
    assert client.patch(url, {"calendar": None}, format="json").json()["calendar"] is None
    assert client.get("/api/v1/services/999999/availability/").status_code == 404
    assert client.delete(f"/api/v1/outages/{made.json()['id']}/").status_code == 204
    assert not OutageRecord.objects.exists()
