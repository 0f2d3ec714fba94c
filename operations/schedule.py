"""Maintenance-window recurrences as concrete intervals, and interval arithmetic.

A maintenance window recurs weekly on its ISO weekdays at `start_time` local time in
its `time_zone` (zoneinfo, so daylight saving is followed: 22:00 Europe/London is 21:00
UTC in summer and 22:00 UTC in winter). `duration_minutes` is elapsed time, so a window
that spans a clock change still lasts that many real minutes. A start time that does
not exist on a spring-forward day (02:30 in a 02:00-03:00 gap) moves forward by the
gap; an ambiguous one on a fall-back day is its first occurrence (fold=0).

Every interval here is half-open [start, end) with aware datetimes.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from bisect import bisect_right
from dataclasses import dataclass

UTC = dt.timezone.utc


@dataclass(frozen=True)
class Occurrence:
    window_id: int
    name: str
    start: dt.datetime
    end: dt.datetime
    service_id: int | None = None
    ci_id: int | None = None


def occurrences(window, start: dt.datetime, end: dt.datetime) -> list[Occurrence]:
    """The occurrences of `window` overlapping [start, end), in UTC, in order."""
    if start >= end or not window.weekdays:
        return []
    tz = zoneinfo.ZoneInfo(window.time_zone)
    length = dt.timedelta(minutes=window.duration_minutes)
    weekdays = set(window.weekdays)
    # A window starting on a day before `start` may still be running at `start`.
    day = (start - length).astimezone(tz).date() - dt.timedelta(days=1)
    last = end.astimezone(tz).date() + dt.timedelta(days=1)
    found = []
    while day <= last:
        if day.isoweekday() in weekdays:
            local = dt.datetime.combine(day, window.start_time, tzinfo=tz)
            begins = local.astimezone(UTC)  # a non-existent local time resolves forward
            ends = begins + length
            if begins < end and ends > start:
                found.append(Occurrence(window.pk, window.name, begins, ends, window.service_id, window.ci_id))
        day += dt.timedelta(days=1)
    return found


def merge(intervals) -> list[tuple[dt.datetime, dt.datetime]]:
    """Sorted union of [start, end) intervals; touching intervals join."""
    merged: list[list] = []
    for start, end in sorted((s, e) for s, e in intervals if s < e):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1][1] = end
        else:
            merged.append([start, end])
    return [(s, e) for s, e in merged]


def intersect(a, b) -> list[tuple[dt.datetime, dt.datetime]]:
    """Intersection of two merged (sorted, disjoint) interval lists."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def contains(merged, start, end) -> bool:
    """Is [start, end) inside one interval of a merged list?"""
    i = bisect_right(merged, (start, dt.datetime.max.replace(tzinfo=UTC))) - 1
    return i >= 0 and merged[i][0] <= start and end <= merged[i][1]


def overlaps(merged, start, end) -> bool:
    """Does [start, end) overlap any interval of a merged list?"""
    i = bisect_right(merged, (end, dt.datetime.min.replace(tzinfo=UTC))) - 1
    # merged[i] is the last interval starting before `end`; earlier ones end before it starts.
    while i >= 0:
        s, e = merged[i]
        if s < end and e > start:
            return True
        if e <= start:
            return False
        i -= 1
    return False


def describe(window) -> str:
    days = ", ".join(WEEKDAYS.get(d, str(d)) for d in window.weekdays or [])
    hours, minutes = divmod(window.duration_minutes, 60)
    length = f"{hours} h" + (f" {minutes} min" if minutes else "") if hours else f"{minutes} min"
    return f"{days} {window.start_time:%H:%M} for {length} ({window.time_zone})"


WEEKDAYS = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}
