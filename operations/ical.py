"""iCalendar (RFC 5545) output, written by hand: CRLF line ends, lines folded at 75
octets, TEXT values escaped, every event with UID and DTSTAMP, times in UTC."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone

PRODID = "-//MOF Portal//Forward schedule of change//EN"


def escape(text: str) -> str:
    """RFC 5545 3.3.11 TEXT: backslash, semicolon, comma and newlines escaped."""
    return (
        str(text).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        .replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")
    )


def utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def fold(line: str) -> str:
    """Split a content line into chunks of at most 75 octets, never inside a UTF-8 character."""
    data = line.encode("utf-8")
    if len(data) <= 75:
        return line
    parts, start, limit = [], 0, 75
    while start < len(data):
        end = min(start + limit, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte: back off
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        start, limit = end, 74  # continuation lines begin with one space
    return "\r\n ".join(parts)


def calendar(items, *, name: str, base_url: str = "", stamp: dt.datetime | None = None) -> str:
    """A VCALENDAR of calendar items (operations.calendar.CalendarItem)."""
    stamp = utc(stamp or timezone.now())
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape(name)}",
        "X-WR-TIMEZONE:UTC",
    ]
    for item in items:
        description = item.description
        if item.conflicts:
            description += "\nConflicts: " + ", ".join(k.replace("_", " ") for k in item.conflicts)
        lines += [
            "BEGIN:VEVENT",
            f"UID:{escape(item.uid)}",
            f"DTSTAMP:{stamp}",
            f"DTSTART:{utc(item.start)}",
            f"DTEND:{utc(item.end)}",
            f"SUMMARY:{escape(item.title)}",
            f"DESCRIPTION:{escape(description)}",
            f"CATEGORIES:{escape(item.kind.upper())}",
            "TRANSP:OPAQUE" if item.kind in ("change", "release", "freeze") else "TRANSP:TRANSPARENT",
        ]
        if item.status in ("cancelled", "withdrawn"):
            lines.append("STATUS:CANCELLED")
        elif item.kind in ("change", "release", "freeze") and item.status in ("proposed", "submitted", "assessed"):
            lines.append("STATUS:TENTATIVE")
        else:
            lines.append("STATUS:CONFIRMED")
        if item.url and base_url:
            lines.append(f"URL:{base_url.rstrip('/')}{item.url}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)
