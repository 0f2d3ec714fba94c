"""The slow, obviously right business time: walk day by day and add up the overlaps."""

import datetime as dt
from zoneinfo import ZoneInfo

from slas.businesstime import CalendarSpec, day_intervals


def reference_elapsed(spec: CalendarSpec, a: dt.datetime, b: dt.datetime) -> int:
    if b <= a:
        return 0
    tz = ZoneInfo(spec.time_zone)
    a_s, b_s = int(a.timestamp()), int(b.timestamp())
    total = 0
    day = a.astimezone(tz).date() - dt.timedelta(days=1)
    while day <= b.astimezone(tz).date() + dt.timedelta(days=1):
        for s, e in day_intervals(spec, day, tz):
            total += max(0, min(e, b_s) - max(s, a_s))
        day += dt.timedelta(days=1)
    return total


def reference_add(spec: CalendarSpec, a: dt.datetime, seconds: int) -> dt.datetime:
    if seconds <= 0:
        return a
    tz = ZoneInfo(spec.time_zone)
    a_s = int(a.timestamp())
    left = seconds
    day = a.astimezone(tz).date() - dt.timedelta(days=1)
    for _ in range(5000):
        for s, e in day_intervals(spec, day, tz):
            s = max(s, a_s)
            if e <= s:
                continue
            if e - s >= left:
                return dt.datetime.fromtimestamp(s + left, dt.timezone.utc)
            left -= e - s
        day += dt.timedelta(days=1)
    raise AssertionError("no working time within reach")
