"""API of the forward schedule: freeze and maintenance windows, conflicts, schedule."""

import datetime as dt

import pytest
from django.utils import timezone

from mof.models import AuditEntry
from operations.models import FreezeWindow, MaintenanceWindow
from tests.conftest import api_as
from tests.factories import CIFactory, ManagerFactory, RelationshipFactory, ServiceFactory
from tests.operations.factories import freeze, maintenance, scheduled_change

pytestmark = pytest.mark.django_db


def soon(days=2, hour=10):
    return (timezone.now() + dt.timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


# --- freeze windows ---------------------------------------------------------------------


def test_manager_proposes_and_another_approves_a_freeze(manager):
    mail = ServiceFactory(name="Exchange mail")
    body = {
        "name": "Quarter end",
        "start": soon(5).isoformat(),
        "end": soon(9).isoformat(),
        "services": [mail.pk],
        "reason": "Books close",
    }
    r = api_as(manager).post("/api/v1/freeze-windows/", body, format="json")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["status"] == "proposed" and data["in_force"] is False and data["services"] == [mail.pk]
    other = ManagerFactory(username="manager2")
    options = api_as(other).get(f"/api/v1/freeze-windows/{data['id']}/transitions/").json()
    assert {o["name"] for o in options} >= {"approve", "withdraw"}
    r = api_as(other).post(f"/api/v1/freeze-windows/{data['id']}/transitions/approve/", {}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["status"] == "approved" and r.json()["in_force"] is True and r.json()["approved_by"] == other.pk
    # Not yet started: it cannot be activated by hand before its start.
    r = api_as(other).post(f"/api/v1/freeze-windows/{data['id']}/transitions/activate/", {}, format="json")
    assert r.status_code == 400 and "not started" in " ".join(r.json()["reasons"])
    # Decided: no longer editable.
    r = api_as(manager).patch(f"/api/v1/freeze-windows/{data['id']}/", {"name": "Renamed"}, format="json")
    assert r.status_code == 400


@pytest.mark.parametrize(
    "body,field",
    [
        ({"name": "x", "start": "2027-03-02T10:00:00Z", "end": "2027-03-01T10:00:00Z"}, "end"),
        ({"name": "x", "start": "not a date", "end": "2027-03-01T10:00:00Z"}, "start"),
        (
            {"name": "x", "start": "2027-03-01T10:00:00Z", "end": "2027-03-02T10:00:00Z", "services": [999999]},
            "services",
        ),
        ({"start": "2027-03-01T10:00:00Z", "end": "2027-03-02T10:00:00Z"}, "name"),
    ],
)
def test_bad_freeze_input_is_400_and_writes_nothing(manager, body, field):
    r = api_as(manager).post("/api/v1/freeze-windows/", body, format="json")
    assert r.status_code == 400 and field in r.json()
    assert not FreezeWindow.objects.exists()


def test_only_managers_propose_freezes_and_staff_only_see_them(infra_user, partner_user, employee):
    body = {"name": "x", "start": "2027-03-01T10:00:00Z", "end": "2027-03-02T10:00:00Z"}
    assert api_as(infra_user).post("/api/v1/freeze-windows/", body, format="json").status_code == 403
    f = freeze(start=soon(3), end=soon(4))
    assert api_as(infra_user).get(f"/api/v1/freeze-windows/{f.pk}/").status_code == 200
    assert api_as(partner_user).get(f"/api/v1/freeze-windows/{f.pk}/").status_code == 404
    assert api_as(employee).get("/api/v1/freeze-windows/").json()["results"] == []


# --- maintenance windows ------------------------------------------------------------------


def test_maintenance_window_crud(manager):
    mail = ServiceFactory(name="Exchange mail")
    body = {
        "name": "Sat night",
        "service": mail.pk,
        "weekdays": [6, 7],
        "start_time": "22:00",
        "duration_minutes": 240,
        "time_zone": "Europe/London",
    }
    r = api_as(manager).post("/api/v1/maintenance-windows/", body, format="json")
    assert r.status_code == 201, r.json()
    pk = r.json()["id"]
    r = api_as(manager).patch(f"/api/v1/maintenance-windows/{pk}/", {"duration_minutes": 180}, format="json")
    assert r.status_code == 200 and r.json()["duration_minutes"] == 180
    assert AuditEntry.objects.filter(model_label="operations.maintenancewindow", object_id=str(pk)).count() == 2
    assert api_as(manager).delete(f"/api/v1/maintenance-windows/{pk}/").status_code == 204
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.parametrize(
    "change,field",
    [
        ({"weekdays": [0, 8]}, "weekdays"),
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": [1, 1]}, "weekdays"),
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"service": None}, "service"),
        ({"ci": 99999999, "service": None}, "ci"),
        ({"start_time": "25:00"}, "start_time"),
    ],
)
def test_bad_maintenance_window_is_400_with_the_field(manager, change, field):
    mail = ServiceFactory(name="Exchange mail")
    body = {
        "name": "w",
        "service": mail.pk,
        "weekdays": [6],
        "start_time": "22:00",
        "duration_minutes": 60,
        "time_zone": "UTC",
        **change,
    }
    r = api_as(manager).post("/api/v1/maintenance-windows/", body, format="json")
    assert r.status_code == 400 and field in r.json(), r.json()
    assert not MaintenanceWindow.objects.exists()


def test_only_managers_edit_maintenance_windows(infra_user):
    mail = ServiceFactory(name="Exchange mail")
    body = {
        "name": "w",
        "service": mail.pk,
        "weekdays": [6],
        "start_time": "22:00",
        "duration_minutes": 60,
        "time_zone": "UTC",
    }
    assert api_as(infra_user).post("/api/v1/maintenance-windows/", body, format="json").status_code == 403
    w = maintenance(weekdays=[6], start_time=dt.time(22), minutes=60, service=mail)
    assert api_as(infra_user).delete(f"/api/v1/maintenance-windows/{w.pk}/").status_code == 403
    assert api_as(infra_user).get(f"/api/v1/maintenance-windows/{w.pk}/").status_code == 200


# --- conflicts --------------------------------------------------------------------------------


@pytest.fixture
def colliding(manager):
    san, vm, app = CIFactory(name="san-01"), CIFactory(name="vm-01"), CIFactory(name="app-01")
    RelationshipFactory(source=vm, target=san)
    RelationshipFactory(source=app, target=vm)
    other = scheduled_change(start=soon(2), cis=[app], impacted=[app.pk])
    change = scheduled_change(start=soon(2, 11), cis=[san], status="approved", impacted=[san.pk, vm.pk, app.pk])
    return change, other


def test_conflicts_endpoint(manager, colliding):
    change, other = colliding
    r = api_as(manager).get(f"/api/v1/changes/{change.pk}/conflicts/")
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["change"]["reference"] == change.reference
    assert [(c["kind"], c["other_reference"]) for c in body["conflicts"]] == [("impact", other.reference)]
    assert len(body["free_slots"]) == 3
    for slot in body["free_slots"]:
        start = dt.datetime.fromisoformat(slot["start"])
        assert start >= other.planned_end or start + dt.timedelta(hours=2) <= other.planned_start
    assert api_as(manager).get(f"/api/v1/changes/{change.pk}/conflicts/?slots=0").json()["free_slots"] == []
    assert api_as(manager).get(f"/api/v1/changes/{change.pk}/conflicts/?slots=x").status_code == 400


def test_conflicts_of_an_invisible_or_unknown_change_are_404(employee, partner_user, colliding):
    change, _ = colliding
    assert api_as(employee).get(f"/api/v1/changes/{change.pk}/conflicts/").status_code == 404
    assert api_as(partner_user).get(f"/api/v1/changes/{change.pk}/conflicts/").status_code == 404
    assert api_as(ManagerFactory()).get("/api/v1/changes/99999999/conflicts/").status_code == 404
    assert api_as(None).get(f"/api/v1/changes/{change.pk}/conflicts/").status_code == 401


def test_a_party_to_the_change_sees_its_conflicts(employee, colliding):
    change, _ = colliding
    from changes.models import RequestForChange

    RequestForChange.objects.filter(pk=change.pk).update(implementer=employee)
    assert api_as(employee).get(f"/api/v1/changes/{change.pk}/conflicts/").status_code == 200


# --- schedule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query,fields",
    [
        ("", {"start", "end"}),
        ("?start=2027-03-01", {"end"}),
        ("?start=yesterday&end=2027-03-01", {"start"}),
        ("?start=2027-03-01&end=2027-02-30", {"end"}),
        ("?start=2027-03-02&end=2027-03-01", {"end"}),
        ("?start=2027-03-01T10:00&end=2027-03-01T10:00", {"end"}),
        ("?start=2027-01-01&end=2028-01-03", {"end"}),
        ("?start=2027-01-01&end=2027-02-01&service=abc", {"service"}),
        ("?start=2027-01-01&end=2027-02-01&ci=99999999", {"ci"}),
    ],
)
def test_schedule_bad_input_is_400_with_field_messages(manager, query, fields):
    r = api_as(manager).get("/api/v1/schedule/" + query)
    assert r.status_code == 400
    assert set(r.json()) == fields and all(isinstance(v, list) and v for v in r.json().values())


def test_schedule_lists_everything_in_the_period(manager, colliding):
    change, other = colliding
    mail = ServiceFactory(name="Exchange mail")
    maintenance(weekdays=[1, 2, 3, 4, 5, 6, 7], start_time=dt.time(22), minutes=60, service=mail)
    f = freeze(start=soon(1), end=soon(6))
    start, end = soon(0, 0), soon(7, 0)
    r = api_as(manager).get("/api/v1/schedule/", {"start": start.isoformat(), "end": end.isoformat()})
    assert r.status_code == 200, r.json()
    body = r.json()
    assert {c["reference"] for c in body["changes"]} == {change.reference, other.reference}
    assert all(c["conflicts"] == ["freeze", "impact"] for c in body["changes"])
    assert [x["id"] for x in body["freezes"]] == [f.pk]
    assert 6 <= len(body["maintenance"]) <= 8
    # Filtered by a CI reached through the CMDB: the array's change reaches the app only through its impact set.
    app = other.affected_cis.get()
    r = api_as(manager).get("/api/v1/schedule/", {"start": start.isoformat(), "end": end.isoformat(), "ci": app.pk})
    assert {c["reference"] for c in r.json()["changes"]} == {change.reference, other.reference}
    assert r.json()["maintenance"] == []
    printer = CIFactory(name="printer")
    r = api_as(manager).get("/api/v1/schedule/", {"start": start.isoformat(), "end": end.isoformat(), "ci": printer.pk})
    assert r.json()["changes"] == [] and [x["id"] for x in r.json()["freezes"]] == [f.pk]
    r = api_as(manager).get(
        "/api/v1/schedule/", {"start": start.isoformat(), "end": end.isoformat(), "service": mail.pk}
    )
    assert r.json()["changes"] == [] and len(r.json()["maintenance"]) >= 6


def test_schedule_shows_only_what_the_reader_may_see(employee, partner_user, colliding):
    change, other = colliding
    freeze(start=soon(1), end=soon(6))
    from changes.models import RequestForChange

    RequestForChange.objects.filter(pk=other.pk).update(requester=employee)
    query = {"start": soon(0, 0).date().isoformat(), "end": soon(7, 0).date().isoformat()}
    body = api_as(employee).get("/api/v1/schedule/", query).json()
    assert [c["reference"] for c in body["changes"]] == [other.reference]
    assert body["freezes"] == [] and body["maintenance"] == []
    body = api_as(partner_user).get("/api/v1/schedule/", query).json()
    assert body["changes"] == [] and body["freezes"] == []
    assert api_as(None).get("/api/v1/schedule/", query).status_code == 401


def test_conflicts_are_redacted_for_a_party_outside_it(employee, colliding):
    change, other = colliding
    from changes.models import RequestForChange

    freeze(start=soon(1), end=soon(6), name="Secret quarter end")
    RequestForChange.objects.filter(pk=change.pk).update(requester=employee)
    body = api_as(employee).get(f"/api/v1/changes/{change.pk}/conflicts/").json()
    kinds = sorted((c["kind"], c["other_reference"]) for c in body["conflicts"])
    assert kinds == [("freeze", ""), ("impact", "")]
    text = str(body["conflicts"])
    assert other.reference not in text and "Secret" not in text and "app-01" not in text
    # Once they may see the other change, it is named, but not the CMDB behind it.
    RequestForChange.objects.filter(pk=other.pk).update(requester=employee)
    body = api_as(employee).get(f"/api/v1/changes/{change.pk}/conflicts/").json()
    [impact] = [c for c in body["conflicts"] if c["kind"] == "impact"]
    assert impact["other_reference"] == other.reference and "app-01" not in str(impact)
