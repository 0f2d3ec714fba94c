"""Conflict detection and free slots (changes.conflicts) on SQLite and PostgreSQL."""

import datetime as dt

import pytest

from changes.conflicts import conflicts_for, next_free_slots
from tests.factories import CIFactory, RelationshipFactory, ServiceFactory, UserFactory
from tests.operations.factories import at, freeze, maintenance, scheduled_change

pytestmark = pytest.mark.django_db

MONDAY = at(2027, 3, 1, 10)  # a Monday, 10:00 UTC


@pytest.fixture
def stack():
    """san <- vm <- app (app two hops above the storage array); printer unrelated."""
    san = CIFactory(name="san-01")
    vm = CIFactory(name="vm-01")
    app = CIFactory(name="app-01")
    printer = CIFactory(name="printer-01")
    RelationshipFactory(source=vm, target=san, type="depends_on")
    RelationshipFactory(source=app, target=vm, type="runs_on")
    return {"san": san, "vm": vm, "app": app, "printer": printer}


def kinds(conflicts):
    return sorted((c.kind, c.other_reference) for c in conflicts)


def test_overlapping_change_two_hops_downstream_conflicts_without_snapshots(stack):
    other = scheduled_change(start=MONDAY, cis=[stack["app"]])
    change = scheduled_change(start=MONDAY + dt.timedelta(hours=1), cis=[stack["san"]], status="approved")
    [conflict] = conflicts_for(change)
    assert (conflict.kind, conflict.severity, conflict.other_reference) == ("impact", "conflict", other.reference)
    assert "app-01" in conflict.message and conflict.detail["direction"] == "theirs_depend_on_ours"
    assert conflict.other_url == f"/changing/changes/{other.pk}/" or conflict.other_url.endswith(f"/{other.pk}/")
    # And seen from the other side: the app change's CI depends on the storage array.
    [reverse] = conflicts_for(other)
    assert reverse.kind == "impact" and reverse.detail["direction"] == "ours_depend_on_theirs"


def test_impact_snapshot_is_used_when_present(stack):
    # The snapshot says san's change reaches the printer (the CMDB has changed since): it is believed.
    other = scheduled_change(start=MONDAY, cis=[stack["printer"]])
    change = scheduled_change(start=MONDAY, cis=[stack["san"]], impacted=[stack["san"].pk, stack["printer"].pk])
    assert kinds(conflicts_for(change)) == [("impact", other.reference)]


def test_same_ci_and_no_conflict_when_apart_in_time_or_unrelated(stack):
    same = scheduled_change(start=MONDAY, cis=[stack["vm"]])
    scheduled_change(start=MONDAY + dt.timedelta(hours=2), cis=[stack["vm"]])  # starts when ours ends: no overlap
    scheduled_change(start=MONDAY, cis=[stack["printer"]])  # unrelated CI
    scheduled_change(start=MONDAY, cis=[stack["vm"]], status="implemented")  # no longer scheduled
    scheduled_change(start=MONDAY, cis=[stack["vm"]], status="submitted")  # not yet scheduled
    change = scheduled_change(start=MONDAY, cis=[stack["vm"]], status="assessed")
    assert kinds(conflicts_for(change)) == [("same_ci", same.reference)]


def test_shared_dependents_are_a_warning(stack):
    db = CIFactory(name="db-01")
    RelationshipFactory(source=stack["app"], target=db)
    other = scheduled_change(start=MONDAY, cis=[db])
    change = scheduled_change(start=MONDAY, cis=[stack["san"]])
    [conflict] = conflicts_for(change)
    assert (conflict.kind, conflict.severity, conflict.other_reference) == ("shared_impact", "warning", other.reference)
    assert "app-01" in conflict.message


def test_implementer_booked_twice(stack):
    alice = UserFactory(username="alice-implementer")
    other = scheduled_change(start=MONDAY, cis=[stack["printer"]], implementer=alice)
    change = scheduled_change(start=MONDAY + dt.timedelta(minutes=30), cis=[stack["san"]], implementer=alice)
    [conflict] = conflicts_for(change)
    assert (conflict.kind, conflict.other_reference) == ("implementer", other.reference)
    change_later = scheduled_change(start=MONDAY + dt.timedelta(hours=3), cis=[stack["san"]], implementer=alice)
    assert conflicts_for(change_later) == []


def test_freeze_blocks_normal_and_warns_emergency(stack):
    freeze(start=MONDAY - dt.timedelta(days=1), end=MONDAY + dt.timedelta(days=1))
    normal = scheduled_change(start=MONDAY, cis=[stack["vm"]], status="approved")
    emergency = scheduled_change(start=MONDAY, cis=[stack["printer"]], status="approved", type="emergency")
    [blocking] = conflicts_for(normal)
    assert (blocking.kind, blocking.severity, blocking.other_reference) == ("freeze", "blocking", "Quarter end")
    [warning] = conflicts_for(emergency)
    assert (warning.kind, warning.severity) == ("freeze", "warning")


def test_only_freezes_in_force_and_in_scope_count(stack):
    mail = ServiceFactory(name="Exchange mail")
    web = ServiceFactory(name="Intranet")
    stack["vm"].services.set([mail])
    freeze(start=MONDAY, end=MONDAY + dt.timedelta(days=1), status="proposed", name="not yet decided")
    freeze(start=MONDAY, end=MONDAY + dt.timedelta(days=1), status="withdrawn", name="withdrawn")
    freeze(start=MONDAY, end=MONDAY + dt.timedelta(days=1), status="ended", name="ended early")
    freeze(start=MONDAY, end=MONDAY + dt.timedelta(days=1), services=[web], name="intranet only")
    freeze(start=MONDAY, end=MONDAY + dt.timedelta(days=1), services=[mail], name="mail freeze", status="active")
    change = scheduled_change(start=MONDAY, cis=[stack["vm"]], status="approved")
    assert kinds(conflicts_for(change)) == [("freeze", "mail freeze")]


def test_maintenance_window_of_affected_service(stack):
    mail = ServiceFactory(name="Exchange mail")
    stack["app"].services.set([mail])  # the app, two hops above the array, supports mail
    maintenance(weekdays=[6], start_time=dt.time(22), minutes=240, tz="Europe/London", service=mail, name="Sat night")
    inside = scheduled_change(start=at(2027, 3, 6, 22, 30), hours=2, cis=[stack["san"]], status="approved")
    outside = scheduled_change(start=at(2027, 3, 8, 10), hours=2, cis=[stack["san"]], status="approved")
    overrunning = scheduled_change(start=at(2027, 3, 7, 1), hours=2, cis=[stack["san"]], status="approved")
    assert [c.kind for c in conflicts_for(inside) if c.kind == "maintenance"] == []
    [c] = [c for c in conflicts_for(outside) if c.kind == "maintenance"]
    assert c.severity == "warning" and "Exchange mail" in c.message and "Sat 22:00" in c.message
    assert [c.kind for c in conflicts_for(overrunning) if c.kind == "maintenance"] == ["maintenance"]


def test_maintenance_window_follows_daylight_saving(stack):
    """Europe/London goes to BST on Sunday 2027-03-28: Saturday 22:00 local is 22:00 UTC
    the night before, 21:00 UTC a week later."""
    maintenance(weekdays=[6], start_time=dt.time(22), minutes=120, tz="Europe/London", ci=stack["vm"])
    winter_in = scheduled_change(start=at(2027, 3, 27, 22), hours=2, cis=[stack["vm"]], status="approved")
    summer_in = scheduled_change(start=at(2027, 4, 3, 21), hours=2, cis=[stack["vm"]], status="approved")
    summer_late = scheduled_change(start=at(2027, 4, 3, 22), hours=2, cis=[stack["vm"]], status="approved")
    assert [c for c in conflicts_for(winter_in) if c.kind == "maintenance"] == []
    assert [c for c in conflicts_for(summer_in) if c.kind == "maintenance"] == []
    assert [c.kind for c in conflicts_for(summer_late) if c.kind == "maintenance"] == ["maintenance"]


def test_no_planned_period_no_conflicts(stack):
    change = scheduled_change(start=MONDAY, cis=[stack["vm"]], status="approved")
    change.planned_start = change.planned_end = None
    assert conflicts_for(change) == []


def test_free_slots_avoid_changes_freezes_and_implementer(stack):
    alice = UserFactory(username="alice-slots")
    now = at(2027, 3, 1, 8)
    scheduled_change(start=at(2027, 3, 1, 8), hours=3, cis=[stack["app"]])  # collides through the CMDB until 11:00
    freeze(start=at(2027, 3, 1, 11), end=at(2027, 3, 1, 12))  # then a freeze until 12:00
    scheduled_change(
        start=at(2027, 3, 1, 12, 30), hours=2, cis=[stack["printer"]], implementer=alice
    )  # alice busy 12:30-14:30
    scheduled_change(start=at(2027, 3, 1, 12), hours=8, cis=[stack["printer"]])  # unrelated: ignored
    change = scheduled_change(
        start=at(2027, 3, 1, 8), hours=1, cis=[stack["san"]], status="approved", implementer=alice
    )
    slots = next_free_slots(change, count=3, after=now)
    assert [(s.start, s.end) for s in slots] == [
        (at(2027, 3, 1, 14, 30), at(2027, 3, 1, 15, 30)),
        (at(2027, 3, 1, 15, 30), at(2027, 3, 1, 16, 30)),
        (at(2027, 3, 1, 16, 30), at(2027, 3, 1, 17, 30)),
    ]
    # 12:00-12:30 is free of everything but too short for an hour.
    for slot in slots:
        moved = scheduled_change(start=slot.start, hours=1, cis=[stack["san"]], status="assessed", implementer=alice)
        assert conflicts_for(moved) == []
        moved.delete()


def test_free_slots_prefer_maintenance_windows(stack):
    maintenance(weekdays=[3, 6], start_time=dt.time(22), minutes=180, tz="Europe/London", ci=stack["vm"])
    scheduled_change(start=at(2027, 3, 3, 22), hours=3, cis=[stack["app"]])  # the Wednesday window is taken
    change = scheduled_change(start=at(2027, 3, 1, 10), hours=2, cis=[stack["vm"]], status="approved")
    slots = next_free_slots(change, count=2, after=at(2027, 3, 1, 9, 7))
    assert [(s.start, s.outside_maintenance_window) for s in slots] == [
        (at(2027, 3, 6, 22), False),
        (at(2027, 3, 10, 22), False),
    ]


def test_free_slots_outside_windows_only_when_windows_are_full(stack):
    maintenance(weekdays=[6], start_time=dt.time(22), minutes=60, tz="UTC", ci=stack["vm"])  # too short for 2 h
    change = scheduled_change(start=at(2027, 3, 1, 10), hours=2, cis=[stack["vm"]], status="approved")
    slots = next_free_slots(change, count=1, after=at(2027, 3, 1, 9, 7))
    assert [(s.start, s.outside_maintenance_window) for s in slots] == [(at(2027, 3, 1, 9, 15), True)]


def test_schedule_transition_refuses_a_normal_change_in_a_freeze_and_records_an_emergency_one(stack, manager, api):
    """Through the one door (the API's transition endpoint): 400 with the reason for a
    normal change, scheduled with the warning recorded for an emergency one."""
    freeze(start=MONDAY - dt.timedelta(days=1), end=MONDAY + dt.timedelta(days=1))
    normal = scheduled_change(start=MONDAY, cis=[stack["vm"]], status="approved")
    emergency = scheduled_change(start=MONDAY, cis=[stack["vm"]], status="approved", type="emergency")
    api.force_authenticate(manager)
    body = {"planned_start": MONDAY.isoformat(), "planned_end": (MONDAY + dt.timedelta(hours=2)).isoformat()}
    r = api.post(f"/api/v1/changes/{normal.pk}/transitions/schedule/", body, format="json")
    assert r.status_code == 400 and "freeze" in " ".join(r.json()["reasons"])
    normal.refresh_from_db()
    assert normal.status == "approved"
    r = api.post(f"/api/v1/changes/{emergency.pk}/transitions/schedule/", body, format="json")
    assert r.status_code == 200, r.json()
    emergency.refresh_from_db()
    assert emergency.status == "scheduled" and "Quarter end" in emergency.freeze_warning
    # Outside the freeze the normal change is scheduled.
    later = MONDAY + dt.timedelta(days=2)
    r = api.post(
        f"/api/v1/changes/{normal.pk}/transitions/schedule/",
        {"planned_start": later.isoformat(), "planned_end": (later + dt.timedelta(hours=2)).isoformat()},
        format="json",
    )
    assert r.status_code == 200, r.json()
