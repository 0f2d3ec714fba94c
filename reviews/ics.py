"""An iCalendar (RFC 5545) invitation for a review meeting: CRLF line ends, folded
lines, escaped text, times in UTC, the chair as ORGANIZER and every attendee."""
from __future__ import annotations

import datetime as dt

from django.utils import timezone

PRODID = "-//MOF Portal//Review meetings//EN"


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def escape(text: str) -> str:
    return (
        str(text).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _param(text: str) -> str:
    text = str(text).replace('"', "'")
    return f'"{text}"' if any(c in text for c in ":;,") else text


def fold(line: str) -> str:
    """Lines longer than 75 octets are folded (CRLF + space), never inside a UTF-8 character."""
    raw = line.encode("utf-8")
    if len(raw) <= 75:
        return line
    parts, current, size = [], "", 0
    for char in line:
        n = len(char.encode("utf-8"))
        if size + n > (75 if not parts else 74):
            parts.append(current)
            current, size = "", 0
        current += char
        size += n
    parts.append(current)
    return "\r\n ".join(parts)


def _person(prop: str, user, extra: str = "") -> str:
    return f"{prop};CN={_param(str(user))}{extra}:mailto:{user.email or user.username + '@invalid'}"


def meeting_invitation(meeting, *, host: str, url: str = "", agenda=()) -> str:
    cancelled = meeting.state == "cancelled"
    description = [f"{meeting.name} ({meeting.reference}), chaired by {meeting.chair}."]
    if agenda:
        description.append("Agenda:")
        description += [f"{i.position}. {i.subject or i.subject_repr}" for i in agenda]
    if url:
        description.append(url)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        f"METHOD:{'CANCEL' if cancelled else 'REQUEST'}",
        "BEGIN:VEVENT",
        f"UID:review-meeting-{meeting.pk}@{host}",
        f"DTSTAMP:{_utc(timezone.now())}",
        f"DTSTART:{_utc(meeting.scheduled_at)}",
        f"DTEND:{_utc(meeting.ends_at)}",
        "SEQUENCE:0",
        f"SUMMARY:{escape(meeting.name)}",
        f"DESCRIPTION:{escape(chr(10).join(description))}",
        *([f"LOCATION:{escape(meeting.location)}"] if meeting.location else []),
        *([f"URL:{url}"] if url else []),
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        _person("ORGANIZER", meeting.chair),
    ]
    for user in meeting.attendees.order_by("username"):
        lines.append(_person("ATTENDEE", user, ";CUTYPE=INDIVIDUAL;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE"))
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
