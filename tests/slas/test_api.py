import pytest

from incidents import services as desk
from mof import review_gate
from mof.choices import ReviewKind
from slas.models import BusinessCalendar, ServiceLevelAgreement
from tests.conftest import api_as
from tests.factories import ManagerFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def boss(db):
    return ManagerFactory(username="sla-boss")


def test_calendar_and_sla_through_the_api_with_the_review_gate(boss):
    client = api_as(boss)
    bad = client.post(
        "/api/v1/calendars/",
        {
            "name": "Office",
            "time_zone": "Europe/London",
            "intervals": [
                {"weekday": 0, "start": "09:00", "end": "12:00"},
                {"weekday": 0, "start": "11:00", "end": "13:00"},
            ],
        },
        format="json",
    )
    assert bad.status_code == 400 and "intervals" in bad.json()
    assert not BusinessCalendar.objects.filter(name="Office").exists()
    assert (
        client.post("/api/v1/calendars/", {"name": "X", "time_zone": "Nowhere/City"}, format="json").status_code == 400
    )
    assert client.post("/api/v1/calendars/", {"name": "Y", "country": "ZZ"}, format="json").status_code == 400
    cal = client.post(
        "/api/v1/calendars/",
        {
            "name": "Office",
            "time_zone": "Europe/London",
            "country": "GB",
            "subdivision": "ENG",
            "intervals": [{"weekday": d, "start": "09:00", "end": "17:30"} for d in range(5)],
            "holidays": [{"date": "2026-12-31", "name": "Company day"}],
        },
        format="json",
    )
    assert cal.status_code == 201, cal.json()
    assert (
        client.post(
            "/api/v1/slas/", {"name": "Bad", "calendar": cal.json()["id"], "resolution_seconds": 0}, format="json"
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/api/v1/slas/",
            {"name": "Bad", "calendar": cal.json()["id"], "resolution_seconds": 3600, "warning_thresholds": [150]},
            format="json",
        ).status_code
        == 400
    )
    sla = client.post(
        "/api/v1/slas/",
        {"name": "P1 mail", "calendar": cal.json()["id"], "priorities": [1], "resolution_seconds": 4 * 3600},
        format="json",
    )
    assert sla.status_code == 201, sla.json()
    sid = sla.json()["id"]
    assert client.post(f"/api/v1/slas/{sid}/transitions/submit/", {}, format="json").json()["status"] == "in_review"
    assert (
        client.post(f"/api/v1/slas/{sid}/transitions/activate/", {"reason": "x"}, format="json").status_code == 400
    )  # only the SLA Review activates
    other = ManagerFactory(username="chair")
    review_gate.record_decision(
        kind=ReviewKind.SLA,
        subject=ServiceLevelAgreement.objects.get(pk=sid),
        decision="activate",
        actor=other,
        fire="activate",
    )
    assert client.get(f"/api/v1/slas/{sid}/").json()["status"] == "active"
    version = client.post(f"/api/v1/slas/{sid}/versions/", {"resolution_seconds": 2 * 3600}, format="json")
    assert version.status_code == 201 and version.json()["number"] == 2 and version.json()["priorities"] == [1]
    ola = client.post(
        "/api/v1/olas/",
        {"name": "Network OLA", "calendar": cal.json()["id"], "resolution_seconds": 3600},
        format="json",
    )
    assert ola.status_code == 201 and ola.json()["kind"] == "ola"
    assert [x["name"] for x in client.get("/api/v1/olas/").json()["results"]] == ["Network OLA"]


def test_incident_clocks_endpoint_shows_timelines_only_to_who_may_see_the_incident(boss):
    cal = BusinessCalendar.objects.create(name="24x7")
    import datetime as dt

    from slas.models import WorkingInterval

    for d in range(7):
        WorkingInterval.objects.create(calendar=cal, weekday=d, start=dt.time(0), end=dt.time(0))
    from slas import services

    sla = services.sla_create(actor=boss, name="All", resolution_seconds=3600, calendar=cal)
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status="active")
    caller = UserFactory(username="caller")
    stranger = UserFactory(username="stranger")
    incident = desk.incident_create(actor=caller, title="x")
    body = api_as(caller).get(f"/api/v1/incidents/{incident.pk}/clocks/").json()
    assert (
        [c["metric"] for c in body] == ["resolution"]
        and body[0]["state"] == "running"
        and isinstance(body[0]["timeline"], list)
    )
    assert api_as(stranger).get(f"/api/v1/incidents/{incident.pk}/clocks/").status_code == 404
    assert (
        api_as(UserFactory(username="eng", roles=["support"]))
        .post("/api/v1/slas/", {"name": "x"}, format="json")
        .status_code
        == 403
    )


def test_an_sla_for_an_unknown_ticket_type_is_refused_with_the_allowed_values(boss):
    client = api_as(boss)
    calendar = BusinessCalendar.objects.create(name="Always", time_zone="UTC")
    for bogus in ("bogus", "incident"):
        response = client.post(
            "/api/v1/slas/",
            {"name": f"For {bogus}", "calendar": calendar.pk, "resolution_seconds": 3600, "ticket_type": bogus},
            format="json",
        )
        assert response.status_code == 400, response.json()
        assert bogus in response.json()["ticket_type"][0] and "incidents.incident" in response.json()["ticket_type"][0]
    assert not ServiceLevelAgreement.objects.exists()
    made = client.post(
        "/api/v1/slas/",
        {"name": "Incidents", "calendar": calendar.pk, "resolution_seconds": 3600, "ticket_type": "incidents.incident"},
        format="json",
    )
    assert made.status_code == 201 and made.json()["versions"][0]["ticket_type"] == "incidents.incident"
    sla = made.json()["id"]
    assert (
        client.post(
            f"/api/v1/slas/{sla}/versions/", {"resolution_seconds": 7200, "ticket_type": "bogus"}, format="json"
        ).status_code
        == 400
    )


def test_the_schema_lists_the_ticket_types_an_sla_applies_to(boss):
    schema = api_as(boss).get("/api/v1/schema/", {"format": "json"}).json()["components"]["schemas"]
    assert schema["SLATicketTypeEnum"]["enum"] == ["incidents.incident"]
    assert schema["SLACreateRequest"]["properties"]["ticket_type"] == {
        "$ref": "#/components/schemas/SLATicketTypeEnum",
        "description": "The tickets it applies to.",
    } or "SLATicketTypeEnum" in str(schema["SLACreateRequest"]["properties"]["ticket_type"])


def test_versions_saved_with_another_ticket_type_are_mapped_to_incidents(boss):
    import importlib

    from django.apps import apps

    from slas.models import SLAVersion

    migration = importlib.import_module("slas.migrations.0013_sla_ticket_type_choices")
    calendar = BusinessCalendar.objects.create(name="Always", time_zone="UTC")
    sla = ServiceLevelAgreement.objects.create(name="Old", owner=boss)
    SLAVersion.objects.create(
        sla=sla, number=1, ticket_type="incident", calendar=calendar, resolution_seconds=60, created_by=boss
    )
    SLAVersion.objects.create(
        sla=sla, number=2, ticket_type="bogus", calendar=calendar, resolution_seconds=60, created_by=boss
    )
    migration.map_ticket_types(apps, None)
    assert set(SLAVersion.objects.values_list("ticket_type", flat=True)) == {"incidents.incident"}
