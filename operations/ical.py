"""The forward schedule of change as an iCalendar feed: calendar items
(operations.calendar.CalendarItem) mapped onto the portal's one writer, mof.ical."""

from __future__ import annotations

import datetime as dt

from mof import ical

BUSY = ("change", "release", "freeze")


def _status(item) -> str:
    if item.status in ("cancelled", "withdrawn"):
        return "CANCELLED"
    if item.kind in BUSY and item.status in ("proposed", "submitted", "assessed"):
        return "TENTATIVE"
    return "CONFIRMED"


def calendar(items, *, name: str, base_url: str = "", stamp: dt.datetime | None = None) -> str:
    """A VCALENDAR (METHOD:PUBLISH) of calendar items."""
    events = []
    for item in items:
        description = item.description
        if item.conflicts:
            description += "\nConflicts: " + ", ".join(k.replace("_", " ") for k in item.conflicts)
        events.append(
            ical.FeedEvent(
                uid=item.uid,
                start=item.start,
                end=item.end,
                summary=item.title,
                description=description,
                categories=item.kind.upper(),
                transparent=item.kind not in BUSY,
                status=_status(item),
                url=f"{base_url.rstrip('/')}{item.url}" if item.url and base_url else "",
            )
        )
    return ical.feed(events, name=name, stamp=stamp)
