"""Compliance reports: numbers from clock states, CSV exports, the API, and a number of
queries that does not grow with the number of tickets."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from incidents.models import Incident
from slas import reports, services
from slas.models import SLAClock
from tests.conftest import api_as
from tests.factories import ManagerFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db
T = dt.time
HOUR = 3600
UTC = dt.timezone.utc
JUNE = (dt.datetime(2026, 6, 1, tzinfo=UTC), dt.datetime(2026, 7, 1, tzinfo=UTC))


@pytest.fixture
def world(db):
    boss = ManagerFactory(username="sla-boss")
    always = services.calendar_save(
        actor=boss, name="24x7", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    mail, web = ServiceFactory(name="Mail"), ServiceFactory(name="Web")
    mail_sla = services.sla_create(
        actor=boss,
        name="Mail P1",
        service=mail,
        resolution_seconds=4 * HOUR,
        calendar=always,
        target_percentage=Decimal("90"),
    )
    desk_ola = services.sla_create(
        actor=boss, name="Desk OLA", kind="ola", response_seconds=HOUR, calendar=always, target_percentage=Decimal("75")
    )
    return {"boss": boss, "calendar": always, "mail": mail, "web": web, "mail_sla": mail_sla, "desk_ola": desk_ola}


_ids = iter(range(1, 10**6))


def clocks(version, metric, states, *, start, ticket_ids=None):
    """Clocks in the given states (met, breached, running, cancelled), one per ticket, an hour apart."""
    rows = []
    for i, state in enumerate(states):
        at = start + dt.timedelta(hours=i)
        target = version.target(metric)
        elapsed = target + 60 if state == "breached" else target // 2
        rows.append(
            SLAClock(
                ticket_type="incidents.incident",
                ticket_id=ticket_ids[i] if ticket_ids else next(_ids),
                version=version,
                metric=metric,
                state=state,
                started_at=at,
                target_seconds=target,
                elapsed_seconds=elapsed,
                stopped_at=at + dt.timedelta(seconds=elapsed) if state in ("met", "breached") else None,
                breached_at=at + dt.timedelta(seconds=target) if state == "breached" else None,
                due_at=at + dt.timedelta(seconds=target),
            )
        )
    return SLAClock.objects.bulk_create(rows)


def fill(world):
    mail_v = world["mail_sla"].current_version
    ola_v = world["desk_ola"].current_version
    # Mail P1 in June: 9 met, 1 breached (90 %: meets its 90 % target exactly), 2 open, 1 cancelled.
    clocks(
        mail_v,
        "resolution",
        ["met"] * 9 + ["breached"] + ["running", "paused", "cancelled"],
        start=dt.datetime(2026, 6, 2, 9, tzinfo=UTC),
    )
    # Desk OLA: week of 1 June 3 met 1 breached; week of 8 June 1 met 2 breached -> 4 of 7 = 57.14 %, below 75 %.
    clocks(ola_v, "response", ["met", "met", "met", "breached"], start=dt.datetime(2026, 6, 3, 9, tzinfo=UTC))
    clocks(ola_v, "response", ["met", "breached", "breached"], start=dt.datetime(2026, 6, 10, 9, tzinfo=UTC))
    # Outside the period.
    clocks(mail_v, "resolution", ["breached"] * 5, start=dt.datetime(2026, 5, 20, tzinfo=UTC))
    clocks(mail_v, "resolution", ["breached"] * 5, start=dt.datetime(2026, 7, 1, tzinfo=UTC))


def test_compliance_counts_clock_states_per_sla_and_compares_with_the_target(world):
    fill(world)
    rows = {r["sla"]: r for r in reports.compliance(start=JUNE[0], end=JUNE[1])}
    mail = rows["Mail P1"]
    assert (mail["met"], mail["breached"], mail["open"], mail["cancelled"]) == (9, 1, 2, 1)
    assert mail["compliance"] == Decimal("90.00") and mail["meets_target"] is True and mail["service"] == "Mail"
    ola = rows["Desk OLA"]
    assert (ola["met"], ola["breached"], ola["kind"], ola["service"], ola["metric"]) == (
        4,
        3,
        "ola",
        "every service",
        "response",
    )
    assert (
        ola["compliance"] == Decimal("57.14")
        and ola["meets_target"] is False
        and ola["target_percentage"] == Decimal("75")
    )
    assert reports.totals(list(rows.values()))["decided"] == 17
    # The numbers are those of the clocks' states: the same count the database gives.
    assert (
        mail["breached"]
        == SLAClock.objects.filter(
            version__sla=world["mail_sla"], state="breached", started_at__gte=JUNE[0], started_at__lt=JUNE[1]
        ).count()
    )


def test_filters_by_sla_and_by_service(world):
    fill(world)
    only = reports.compliance(start=JUNE[0], end=JUNE[1], sla=world["desk_ola"])
    assert [r["sla"] for r in only] == ["Desk OLA"]
    # By service: SLAs written for the service, and for SLAs of every service the tickets of that service.
    caller = UserFactory(username="caller")
    on_web = Incident.objects.create(title="web down", caller=caller, service=world["web"], number=501)
    on_mail = Incident.objects.create(title="mail slow", caller=caller, service=world["mail"], number=502)
    ola_v = world["desk_ola"].current_version
    clocks(
        ola_v,
        "response",
        ["breached", "met"],
        start=dt.datetime(2026, 6, 20, tzinfo=UTC),
        ticket_ids=[on_web.pk, on_mail.pk],
    )
    web_rows = reports.compliance(start=JUNE[0], end=JUNE[1], service=world["web"])
    assert [(r["sla"], r["met"], r["breached"]) for r in web_rows] == [("Desk OLA", 0, 1)]
    mail_rows = {r["sla"]: r for r in reports.compliance(start=JUNE[0], end=JUNE[1], service=world["mail"])}
    assert (mail_rows["Mail P1"]["met"], mail_rows["Desk OLA"]["met"], mail_rows["Desk OLA"]["breached"]) == (9, 1, 0)


def test_trend_per_week_and_month(world):
    fill(world)
    weeks = reports.trend(start=JUNE[0], end=JUNE[1], by="week", sla=world["desk_ola"])
    assert [(w["period"], w["met"], w["breached"]) for w in weeks] == [
        (dt.date(2026, 6, 1), 3, 1),
        (dt.date(2026, 6, 8), 1, 2),
        (dt.date(2026, 6, 15), 0, 0),
        (dt.date(2026, 6, 22), 0, 0),
        (dt.date(2026, 6, 29), 0, 0),
    ]
    assert weeks[2]["compliance"] is None  # an empty week is a gap, not 0 %
    assert weeks[0]["compliance"] == Decimal("75.00") and weeks[0]["target_percentage"] == Decimal("75")
    months = reports.trend(
        start=dt.datetime(2026, 5, 1, tzinfo=UTC), end=dt.datetime(2026, 8, 1, tzinfo=UTC), by="month"
    )
    assert [(m["period"], m["met"], m["breached"]) for m in months] == [
        (dt.date(2026, 5, 1), 0, 5),
        (dt.date(2026, 6, 1), 13, 4),
        (dt.date(2026, 7, 1), 0, 5),
    ]
    chart = reports.trend_chart(weeks)
    assert (
        len(chart["bars"]) == 5
        and chart["bars"][2]["h"] == 0
        and chart["target"] == Decimal("75")
        and not chart["bars"][0]["below"]
        and chart["bars"][1]["below"]
    )


def test_breaches_list_the_latest_first_with_ticket_numbers(world):
    fill(world)
    caller = UserFactory(username="caller")
    incident = Incident.objects.create(title="x", caller=caller, number=4242)
    clocks(
        world["mail_sla"].current_version,
        "resolution",
        ["breached"],
        start=dt.datetime(2026, 6, 29, tzinfo=UTC),
        ticket_ids=[incident.pk],
    )
    rows = reports.breach_rows(reports.breaches(start=JUNE[0], end=JUNE[1]))
    assert len(rows) == 5 and rows[0]["ticket"] == "INC-4242" and rows[0]["over"] == "1m"
    assert rows[0]["ticket_url"] == reverse("incident_detail", args=[incident.pk])


def read_csv(response):
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_report_page_chart_and_csv_exports(client, world):
    fill(world)
    client.force_login(world["boss"])
    query = {"start": "2026-06-01", "end": "2026-06-30"}
    page = client.get(reverse("sla_reports"), query)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and "57.14 %" in html and "below target" in html and "Mail P1" in html
    compliance = read_csv(client.get(reverse("sla_report_csv", args=["compliance"]), query))
    assert {(r["sla"], r["met"], r["breached"], r["compliance_percent"], r["meets_target"]) for r in compliance} == {
        ("Mail P1", "9", "1", "90.00", "True"),
        ("Desk OLA", "4", "3", "57.14", "False"),
    }
    assert read_csv(client.get(reverse("sla_reports"), {**query, "format": "csv"})) == compliance
    breaches = read_csv(client.get(reverse("sla_report_csv", args=["breaches"]), query))
    assert len(breaches) == 4 and all(int(r["over_seconds"]) == 60 for r in breaches)
    trend = client.get(reverse("sla_report_csv", args=["trend"]), {**query, "by": "month"})
    assert trend["Content-Type"].startswith("text/csv") and read_csv(trend) == [
        {"period_start": "2026-06-01", "met": "13", "breached": "4", "open": "2", "compliance_percent": "76.47"}
    ]
    assert client.get(reverse("sla_reports"), {"start": "2026-07-01", "end": "2026-06-01"}).status_code == 400
    assert client.get(reverse("sla_report_csv", args=["compliance"]), {"start": "June"}).status_code == 400
    assert client.get(reverse("sla_report_csv", args=["nonsense"]), query).status_code == 404


def test_breaches_csv_pages_through_every_row(world):
    clocks(world["mail_sla"].current_version, "resolution", ["breached"] * 7, start=dt.datetime(2026, 6, 2, tzinfo=UTC))
    body = reports.breaches_csv(reports.breaches(start=JUNE[0], end=JUNE[1]), chunk=3)
    assert len(list(csv.DictReader(io.StringIO(body)))) == 7


def test_compliance_api(world):
    fill(world)
    client = api_as(world["boss"])
    body = client.get("/api/v1/reports/compliance/", {"start": "2026-06-01", "end": "2026-06-30"}).json()
    rows = {r["sla"]: r for r in body["rows"]}
    assert (
        rows["Mail P1"]["met"],
        rows["Mail P1"]["breached"],
        rows["Mail P1"]["compliance"],
        rows["Mail P1"]["meets_target"],
    ) == (9, 1, "90.00", True)
    assert body["totals"]["decided"] == 17
    only = client.get(
        "/api/v1/reports/compliance/", {"start": "2026-06-01", "end": "2026-06-30", "sla": world["desk_ola"].pk}
    ).json()
    assert [r["sla"] for r in only["rows"]] == ["Desk OLA"]
    csv_response = client.get(
        "/api/v1/reports/compliance/", {"start": "2026-06-01", "end": "2026-06-30", "format": "csv"}
    )
    assert csv_response.status_code == 200 and csv_response["Content-Type"].startswith("text/csv")
    assert {r["sla"] for r in read_csv(csv_response)} == {"Mail P1", "Desk OLA"}
    for bad in (
        {"start": "2026-13-01"},
        {"end": "yesterday"},
        {"start": "2026-07-01", "end": "2026-06-01"},
        {"sla": 9999},
    ):
        response = client.get("/api/v1/reports/compliance/", bad)
        assert response.status_code == 400, bad
    assert (
        api_as(UserFactory(username="partner", roles=["partner"])).get("/api/v1/reports/compliance/").status_code == 403
    )


def test_report_queries_do_not_grow_with_the_number_of_tickets(client, world, django_assert_num_queries):
    client.force_login(world["boss"])
    query = {"start": "2026-06-01", "end": "2026-06-30"}

    def count_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("sla_reports"), query).status_code == 200
            reports.compliance(start=JUNE[0], end=JUNE[1])
            reports.trend(start=JUNE[0], end=JUNE[1])
            assert client.get("/api/v1/reports/compliance/", query).status_code == 200
        return len(ctx.captured_queries)

    def add(days):
        for day in days:
            clocks(
                world["mail_sla"].current_version,
                "resolution",
                ["met"] * 30 + ["breached"] * 5,
                start=dt.datetime(2026, 6, day, tzinfo=UTC),
            )
            clocks(
                world["desk_ola"].current_version,
                "response",
                ["met"] * 10 + ["breached"] * 10,
                start=dt.datetime(2026, 6, day, tzinfo=UTC),
            )

    fill(world)
    add(range(2, 6))  # more breaches than a page: the page counts them (a bounded count)
    count_queries()  # warm the caches (content types, memberships)
    few = count_queries()
    add(range(6, 28))
    assert SLAClock.objects.count() > 1400
    assert count_queries() == few
    with django_assert_num_queries(2):  # one grouped count, one look-up of the SLAs' names
        reports.compliance(start=JUNE[0], end=JUNE[1])
    with django_assert_num_queries(1):
        reports.trend(start=JUNE[0], end=JUNE[1], by="month")
