"""The iCalendar feed: RFC 5545 content, per-user visibility, rotation and revocation."""

import datetime as dt
import re

import pytest
from django.test import Client
from django.utils import timezone

from operations import ical
from operations.models import CalendarFeedToken
from tests.factories import CIFactory, UserFactory
from tests.operations.factories import freeze, scheduled_change

pytestmark = pytest.mark.django_db


def login(user):
    client = Client()
    client.force_login(user)
    return client


def create_feed(user) -> str:
    r = login(user).post("/operating/calendar/feed/", {"action": "create"})
    assert r.status_code == 200
    return re.search(r'value="http://testserver([^"]+\.ics)"', r.content.decode()).group(1)


def unfold(body: str) -> list[str]:
    return body.replace("\r\n ", "").split("\r\n")


def test_feed_is_valid_icalendar(manager):
    start = (timezone.now() + dt.timedelta(days=2)).replace(microsecond=0)
    change = scheduled_change(start=start, cis=[CIFactory()], title="Router; firmware, 15.2\nthen reboot \\ check")
    freeze(start=start - dt.timedelta(days=1), end=start + dt.timedelta(days=1), name="Quarter end, Q4")
    url = create_feed(manager)
    r = Client().get(url)
    assert r.status_code == 200 and r["Content-Type"] == "text/calendar; charset=utf-8"
    body = r.content.decode()
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:") and body.endswith("END:VCALENDAR\r\n")
    assert "\n" not in body.replace("\r\n", "")  # every line ends in CRLF
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    lines = unfold(body)
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == 2
    assert f"SUMMARY:{change.reference} Router\\; firmware\\, 15.2\\nthen reboot \\\\ check" in lines
    assert "SUMMARY:Change freeze: Quarter end\\, Q4" in lines
    assert f"UID:change-{change.pk}@mof-portal" in lines
    assert f"DTSTART:{start.astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}" in lines
    assert f"DTEND:{(start + dt.timedelta(hours=2)).astimezone(dt.timezone.utc):%Y%m%dT%H%M%SZ}" in lines
    assert sum(1 for line in lines if re.fullmatch(r"DTSTAMP:\d{8}T\d{6}Z", line)) == 2
    assert any(line.startswith("URL:http://testserver/changing/changes/") for line in lines)


def test_folding_never_splits_a_character():
    start = timezone.now()
    item = type(
        "Item",
        (),
        {
            "uid": "x@mof-portal",
            "start": start,
            "end": start + dt.timedelta(hours=1),
            "title": "é" * 100,
            "description": "",
            "conflicts": [],
            "kind": "change",
            "status": "scheduled",
            "url": "",
        },
    )()
    body = ical.calendar([item], name="test")
    assert all(len(part.encode()) <= 75 for part in body.split("\r\n"))  # each part decodes: no character split
    assert "SUMMARY:" + "é" * 100 in unfold(body)


def test_feed_shows_only_what_its_owner_may_see(employee, manager):
    start = timezone.now() + dt.timedelta(days=2)
    mine = scheduled_change(start=start, requester=employee, title="Mine")
    scheduled_change(start=start, title="Somebody else's")
    freeze(start=start, end=start + dt.timedelta(days=1))
    body = Client().get(create_feed(employee)).content.decode()
    assert mine.reference in body and "Somebody else" not in body and "freeze" not in body.lower()


def test_revoked_and_rotated_addresses_are_404(manager):
    first = create_feed(manager)
    assert Client().get(first).status_code == 200
    second = login(manager).post("/operating/calendar/feed/", {"action": "rotate"})
    second = re.search(r'value="http://testserver([^"]+\.ics)"', second.content.decode()).group(1)
    assert second != first
    assert Client().get(first).status_code == 404
    assert Client().get(second).status_code == 200
    r = login(manager).post("/operating/calendar/feed/", {"action": "revoke"})
    assert r.status_code == 302
    assert Client().get(second).status_code == 404
    assert Client().get("/operating/calendar/feed/not-a-token.ics").status_code == 404
    assert CalendarFeedToken.objects.filter(user=manager, revoked_at__isnull=True).count() == 0


def test_the_secret_is_not_stored_nor_audited(manager):
    url = create_feed(manager)
    secret = url.rsplit("/", 1)[1].removesuffix(".ics")
    token = CalendarFeedToken.objects.get(user=manager)
    assert token.key != secret and len(token.key) == 64
    from mof.models import AuditEntry

    entry = AuditEntry.objects.get(model_label="operations.calendarfeedtoken")
    assert "key" not in entry.changes and secret not in str(entry.changes)


def test_a_deactivated_users_feed_is_404(manager):
    url = create_feed(manager)
    manager.is_active = False
    manager.save()
    assert Client().get(url).status_code == 404


def test_feed_page_needs_login():
    r = Client().get("/operating/calendar/feed/")
    assert r.status_code == 302 and "/login/" in r["Location"]
    user = UserFactory(username="someone")
    assert login(user).get("/operating/calendar/feed/").status_code == 200
