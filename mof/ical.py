"""The portal's one iCalendar (RFC 5545) writer, on the `icalendar` library: invitations
(METHOD:REQUEST / METHOD:CANCEL, as Outlook and Exchange expect them: a stable UID per
meeting or change window, ORGANIZER, ATTENDEEs, DTSTAMP and a SEQUENCE raised on every
update) and the published forward schedule feed (METHOD:PUBLISH). The library escapes
TEXT values, folds lines at 75 octets and ends them with CRLF; times are written in UTC."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from urllib.parse import urlparse

import icalendar
from django.conf import settings
from django.utils import timezone

PRODID = "-//MOF Portal//MOF Portal//EN"
REQUEST, CANCEL = "REQUEST", "CANCEL"


def host() -> str:
    """The domain UIDs end in: MOF_BASE_URL's host (stable for the life of the portal)."""
    return urlparse(getattr(settings, "MOF_BASE_URL", "") or "").hostname or "mof-portal"


def uid(kind: str, pk, domain: str | None = None) -> str:
    """A stable UID for one meeting or change window: `review-meeting-5@portal.example.com`."""
    return f"{kind}-{pk}@{domain or host()}"


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.timezone.utc)


def _calendar(method: str, name: str = "") -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("version", "2.0")
    cal.add("prodid", PRODID)
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
        cal.add("x-wr-timezone", "UTC")
    return cal


def _address(user) -> str:
    return f"mailto:{user.email or user.username + '@invalid'}"


def _person(user, **params) -> icalendar.vCalAddress:
    address = icalendar.vCalAddress(_address(user))
    address.params["CN"] = (
        icalendar.vText(user.get_full_name() or user.username)
        if hasattr(user, "get_full_name")
        else icalendar.vText(str(user))
    )
    for key, value in params.items():
        address.params[key.replace("_", "-").upper()] = icalendar.vText(value)
    return address


@dataclass
class Invitation:
    """One event to invite people to: a review meeting or a change window."""

    uid: str
    sequence: int
    start: dt.datetime
    end: dt.datetime
    summary: str
    organizer: object  # a user
    attendees: list = field(default_factory=list)  # users
    description: str = ""
    location: str = ""
    url: str = ""
    cancelled: bool = False

    @property
    def method(self) -> str:
        return CANCEL if self.cancelled else REQUEST


def invitation(inv: Invitation, *, stamp: dt.datetime | None = None) -> str:
    """A VCALENDAR with METHOD:REQUEST (or CANCEL) and one VEVENT, as text with CRLF ends."""
    cal = _calendar(inv.method)
    event = icalendar.Event()
    event.add("uid", inv.uid)
    event.add("dtstamp", _utc(stamp or timezone.now()))
    event.add("dtstart", _utc(inv.start))
    event.add("dtend", _utc(inv.end))
    event.add("sequence", inv.sequence)
    event.add("summary", inv.summary)
    if inv.description:
        event.add("description", inv.description)
    if inv.location:
        event.add("location", inv.location)
    if inv.url:
        event.add("url", inv.url)
    event.add("status", "CANCELLED" if inv.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", _person(inv.organizer))
    seen = set()
    for user in inv.attendees:
        address = _address(user).lower()
        if address in seen:
            continue
        seen.add(address)
        event.add(
            "attendee", _person(user, cutype="INDIVIDUAL", role="REQ-PARTICIPANT", partstat="NEEDS-ACTION", rsvp="TRUE")
        )
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")


@dataclass
class FeedEvent:
    uid: str
    start: dt.datetime
    end: dt.datetime
    summary: str
    description: str = ""
    categories: str = ""
    transparent: bool = False
    status: str = "CONFIRMED"  # TENTATIVE, CONFIRMED, CANCELLED
    url: str = ""


def feed(events, *, name: str, stamp: dt.datetime | None = None) -> str:
    """A published calendar (METHOD:PUBLISH) of many events: the forward schedule feed."""
    cal = _calendar("PUBLISH", name)
    stamp = _utc(stamp or timezone.now())
    for item in events:
        event = icalendar.Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", _utc(item.start))
        event.add("dtend", _utc(item.end))
        event.add("summary", item.summary)
        event.add("description", item.description)
        if item.categories:
            event.add("categories", [item.categories])
        event.add("transp", "TRANSPARENT" if item.transparent else "OPAQUE")
        event.add("status", item.status)
        if item.url:
            event.add("url", item.url)
        cal.add_component(event)
    return cal.to_ical().decode("utf-8")


def parse(text: str) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(text)
