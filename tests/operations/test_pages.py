"""Pages of the forward schedule: calendar, forms for freezes and maintenance windows."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from operations.models import FreezeWindow, MaintenanceWindow
from tests.factories import CIFactory, ServiceFactory, UserFactory
from tests.operations.factories import freeze, maintenance, scheduled_change

pytestmark = pytest.mark.django_db


def login(user):
    client = Client()
    client.force_login(user)
    return client


def month_start():
    today = timezone.localdate()
    return dt.datetime.combine(today.replace(day=10), dt.time(9), tzinfo=timezone.get_current_timezone())


def populate(n, offset=0):
    ci = CIFactory()
    base = month_start()
    for i in range(n):
        scheduled_change(
            start=base + dt.timedelta(hours=3 * (i + offset)), cis=[ci], impacted=[ci.pk], implementer=None
        )


@pytest.mark.parametrize("view", ["month", "week", "list"])
def test_calendar_views_show_items_and_conflicts(manager, view):
    ci = CIFactory(name="vm-01")
    base = month_start()
    a = scheduled_change(start=base, cis=[ci], impacted=[ci.pk], title="Patch the VM")
    b = scheduled_change(start=base + dt.timedelta(hours=1), cis=[ci], impacted=[ci.pk], title="Resize the VM")
    calm = scheduled_change(start=base + dt.timedelta(days=1), cis=[CIFactory()], title="Unrelated")
    maintenance(weekdays=[1, 2, 3, 4, 5, 6, 7], start_time=dt.time(22), minutes=60, ci=ci, name="Nightly")
    freeze(start=base + dt.timedelta(days=2), end=base + dt.timedelta(days=3), name="Month end")
    r = login(manager).get("/operating/calendar/", {"view": view, "date": base.date().isoformat()})
    assert r.status_code == 200
    html = r.content.decode()
    for change in (a, b, calm):
        assert f'href="/changing/changes/{change.pk}/"' in html
    assert "Maintenance: Nightly" in html and "Change freeze: Month end" in html
    assert "2 conflicting changes" in html
    assert html.count("has-conflict") >= 2


def test_calendar_query_count_is_constant(manager):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            r = login(manager).get("/operating/calendar/", {"view": "month", "date": month_start().date().isoformat()})
        assert r.status_code == 200
        return len(ctx.captured_queries)

    populate(3)
    few = count()
    populate(30, offset=3)
    freeze(start=month_start(), end=month_start() + dt.timedelta(days=1))
    maintenance(weekdays=[1, 2, 3], start_time=dt.time(22), minutes=60, ci=CIFactory())
    assert count() == few + 2  # the freeze (and its services) once any exists: not per item


def test_calendar_filters_and_bad_input(manager):
    mail = ServiceFactory(name="Exchange mail")
    ci = CIFactory(name="mbx-01", services=[mail])
    base = month_start()
    scheduled_change(start=base, cis=[ci], title="Mailbox patch")
    scheduled_change(start=base, cis=[CIFactory()], title="Other patch")
    client = login(manager)
    html = client.get(
        "/operating/calendar/", {"view": "list", "date": base.date().isoformat(), "service": mail.pk}
    ).content.decode()
    assert "Mailbox patch" in html and "Other patch" not in html
    html = client.get(
        "/operating/calendar/", {"view": "list", "date": base.date().isoformat(), "ci": ci.pk}
    ).content.decode()
    assert "Mailbox patch" in html and "Other patch" not in html
    assert client.get("/operating/calendar/", {"date": "2027-02-30"}).status_code == 400
    assert client.get("/operating/calendar/", {"view": "year"}).status_code == 400
    assert client.get("/operating/calendar/", {"ci": "999999"}).status_code == 400


def test_a_busy_day_shows_a_few_items_and_links_to_the_rest_never_hiding_a_conflict(manager):
    base = month_start()
    for i in range(9):  # nine quiet changes on the day, each on its own CI
        scheduled_change(
            start=base + dt.timedelta(minutes=10 * i), cis=[CIFactory()], title=f"Quiet {i}", implementer=None
        )
    ci = CIFactory()
    late = base + dt.timedelta(hours=5)  # the latest of the day: sorted by time alone, it would be cut
    scheduled_change(start=late, cis=[ci], impacted=[ci.pk], title="Clash A", implementer=None)
    scheduled_change(start=late, cis=[ci], impacted=[ci.pk], title="Clash B", implementer=None)
    html = (
        login(manager).get("/operating/calendar/", {"view": "month", "date": base.date().isoformat()}).content.decode()
    )
    assert "Clash A" in html and "Clash B" in html
    shown = sum(f"Quiet {i}</a>" in html for i in range(9))
    assert shown == 4  # 6 per cell, the two conflicts first
    assert "+ 5 more" in html
    assert f"view=list&amp;date={base.date().isoformat()}" in html
    week = (
        login(manager).get("/operating/calendar/", {"view": "week", "date": base.date().isoformat()}).content.decode()
    )
    assert all(f"Quiet {i}</a>" in week for i in range(9)) and "more</a>" not in week


def test_the_list_view_is_paginated(manager, monkeypatch):
    from operations import views

    monkeypatch.setattr(views, "LIST_PAGE_SIZE", 3)
    base = month_start()
    for i in range(7):
        scheduled_change(start=base + dt.timedelta(hours=i), cis=[CIFactory()], title=f"Item {i}", implementer=None)
    client = login(manager)
    params = {"view": "list", "date": base.date().isoformat()}
    first = client.get("/operating/calendar/", params).content.decode()
    assert "Item 0</a>" in first and "Item 3</a>" not in first and "1–3 of 7" in first and 'rel="next"' in first
    last = client.get("/operating/calendar/", {**params, "page": "3"}).content.decode()
    assert "Item 6</a>" in last and "Item 5</a>" not in last and "7–7 of 7" in last
    assert client.get("/operating/calendar/", {**params, "page": "99"}).status_code == 200  # clamped to the last page
    assert "Item 6</a>" in client.get("/operating/calendar/", {**params, "page": "99"}).content.decode()


def test_calendar_shows_employees_only_their_changes(employee):
    base = month_start()
    scheduled_change(start=base, requester=employee, title="My change")
    scheduled_change(start=base, title="Their change")
    freeze(start=base, end=base + dt.timedelta(days=1), name="Month end")
    html = (
        login(employee).get("/operating/calendar/", {"view": "list", "date": base.date().isoformat()}).content.decode()
    )
    assert "My change" in html and "Their change" not in html and "Month end" not in html


def test_operating_landing_links_the_calendar(manager):
    html = login(manager).get("/operating/").content.decode()
    assert 'href="/operating/calendar/"' in html


def test_manager_proposes_a_freeze_on_the_page(manager):
    client = login(manager)
    assert client.get("/operating/freezes/new/").status_code == 200
    r = client.post("/operating/freezes/new/", {"name": "Q4", "start": "2027-03-02T10:00", "end": "2027-03-01T10:00"})
    assert r.status_code == 400 and "The end must be after the start." in r.content.decode()
    r = client.post(
        "/operating/freezes/new/",
        {"name": "Q4", "start": "2027-03-01T10:00", "end": "2027-03-05T10:00", "reason": "close"},
    )
    freeze_ = FreezeWindow.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/operating/freezes/{freeze_.pk}/"
    assert freeze_.status == "proposed" and freeze_.proposed_by == manager


def test_maintenance_window_pages(manager):
    mail = ServiceFactory(name="Exchange mail")
    client = login(manager)
    assert client.get("/operating/windows/maintenance/new/").status_code == 200
    bad = {
        "name": "w",
        "service": mail.pk,
        "weekdays": ["6"],
        "start_time": "22:00",
        "duration_minutes": "0",
        "time_zone": "Mars/Base",
    }
    r = client.post("/operating/windows/maintenance/new/", bad)
    html = r.content.decode()
    assert r.status_code == 400 and "Unknown time zone" in html and "greater than or equal to 1" in html
    r = client.post(
        "/operating/windows/maintenance/new/",
        {**bad, "service": "", "duration_minutes": "60", "time_zone": "Europe/London"},
    )
    assert r.status_code == 400 and "Name the IT service or the configuration item" in r.content.decode()
    r = client.post(
        "/operating/windows/maintenance/new/", {**bad, "duration_minutes": "60", "time_zone": "Europe/London"}
    )
    window = MaintenanceWindow.objects.get()
    assert r.status_code == 302 and window.weekdays == [6] and window.time_zone == "Europe/London"
    assert client.get(f"/operating/windows/maintenance/{window.pk}/edit/").status_code == 200
    r = client.post(
        f"/operating/windows/maintenance/{window.pk}/edit/",
        {**bad, "duration_minutes": "90", "time_zone": "UTC", "weekdays": ["1", "7"]},
    )
    window.refresh_from_db()
    assert r.status_code == 302 and (window.duration_minutes, window.weekdays) == (90, [1, 7])
    assert client.post(f"/operating/windows/maintenance/{window.pk}/delete/").status_code == 302
    assert not MaintenanceWindow.objects.exists()


def test_staff_who_are_not_managers_cannot_edit_windows(infra_user):
    client = login(infra_user)
    assert client.get("/operating/freezes/new/").status_code == 403
    assert client.get("/operating/windows/maintenance/new/").status_code == 403
    w = maintenance(weekdays=[6], start_time=dt.time(22), minutes=60, service=ServiceFactory())
    assert client.post(f"/operating/windows/maintenance/{w.pk}/delete/").status_code == 403
    assert client.get(f"/operating/windows/maintenance/{w.pk}/edit/").status_code == 403
    assert MaintenanceWindow.objects.exists()
    assert (
        login(UserFactory(username="nobody")).post(f"/operating/windows/maintenance/{w.pk}/delete/").status_code == 404
    )


def test_conflicts_partial_renders(manager):
    from django.template.loader import render_to_string

    from changes.conflicts import conflicts_for, next_free_slots

    ci = CIFactory(name="vm-01")
    base = month_start()
    other = scheduled_change(start=base, cis=[ci])
    change = scheduled_change(start=base, cis=[ci], status="approved")
    html = render_to_string(
        "changes/_conflicts.html",
        {"conflicts": conflicts_for(change), "free_slots": next_free_slots(change, after=base)},
    )
    assert other.reference in html and "Next free slots" in html and "Conflict" in html
    html = render_to_string("changes/_conflicts.html", {"conflicts": [], "free_slots": []})
    assert "No conflicts" in html
