"""Business time from precomputed cumulative working seconds.

A calendar's working intervals (weekly hours in its time zone, less holidays) are laid
out once as UTC epoch seconds with the working seconds accumulated before each one.
Then elapsed business time between two instants is the difference of two look-ups, and
the instant a target is reached is one inverse look-up: both binary searches, whatever
the span. Daylight-saving changes are handled by laying out each local day with zoneinfo.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
# How far the layout reaches around the instants asked about; it grows on demand.
MARGIN_DAYS = 400


@dataclass(frozen=True)
class CalendarSpec:
    """What a business calendar is: weekly hours in a zone, and its non-working dates."""

    time_zone: str
    weekly: dict[
        int, tuple[tuple[dt.time, dt.time], ...]
    ]  # weekday 0=Monday -> ((start, end), ...); end 00:00 = midnight
    holidays: dict[dt.date, str] = field(default_factory=dict)


def day_intervals(spec: CalendarSpec, day: dt.date, tz: ZoneInfo) -> list[tuple[int, int]]:
    """The working intervals of one local day, as UTC epoch seconds."""
    if day in spec.holidays:
        return []
    out = []
    for start, end in spec.weekly.get(day.weekday(), ()):
        a = dt.datetime.combine(day, start, tzinfo=tz)
        b = (
            dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
            if end == dt.time(0)
            else dt.datetime.combine(day, end, tzinfo=tz)
        )
        a_s, b_s = int(a.timestamp()), int(b.timestamp())
        if b_s > a_s:
            out.append((a_s, b_s))
    return out


def _epoch(t: dt.datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("business time needs aware datetimes")
    return int(t.timestamp())


class BusinessTime:
    def __init__(self, spec: CalendarSpec, around: dt.date | None = None):
        self.spec = spec
        self.tz = ZoneInfo(spec.time_zone)
        centre = around or dt.date.today()
        self._build(centre - dt.timedelta(days=MARGIN_DAYS), centre + dt.timedelta(days=MARGIN_DAYS))

    def _build(self, first: dt.date, last: dt.date):
        starts, ends, cum = [], [], []
        total = 0
        day = first
        while day <= last:
            for a, b in day_intervals(self.spec, day, self.tz):
                if ends and a < ends[-1]:  # intervals must not overlap (validated on save); be safe
                    a = ends[-1]
                    if b <= a:
                        continue
                starts.append(a)
                ends.append(b)
                cum.append(total)
                total += b - a
            day += dt.timedelta(days=1)
        self.first, self.last = first, last
        self.starts, self.ends, self.cum = starts, ends, cum
        self.cum_end = [c + (e - s) for c, s, e in zip(cum, starts, ends)]
        self.lo = int(dt.datetime.combine(first, dt.time(0), tzinfo=self.tz).timestamp())
        self.hi = int(dt.datetime.combine(last, dt.time(0), tzinfo=self.tz).timestamp())

    def _cover(self, *seconds: int):
        lo, hi = min(seconds), max(seconds)
        if lo < self.lo + 86400 or hi > self.hi - 86400:
            first = min(self.first, dt.datetime.fromtimestamp(lo, UTC).date() - dt.timedelta(days=MARGIN_DAYS))
            last = max(self.last, dt.datetime.fromtimestamp(hi, UTC).date() + dt.timedelta(days=MARGIN_DAYS))
            self._build(first, last)

    def cumulative(self, t: int) -> int:
        """Working seconds from the start of the layout up to epoch second t."""
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        return self.cum[i] + min(t, self.ends[i]) - self.starts[i]

    def elapsed(self, a: dt.datetime, b: dt.datetime) -> int:
        """Working seconds between a and b (0 if b is before a)."""
        return self.elapsed_s(_epoch(a), _epoch(b))

    def elapsed_s(self, a_s: int, b_s: int) -> int:
        """elapsed() on epoch seconds (the replay's hot path: no datetimes)."""
        if b_s <= a_s:
            return 0
        self.cover_s(a_s, b_s)
        return self.cumulative(b_s) - self.cumulative(a_s)

    def cover_s(self, a_s: int, b_s: int) -> None:
        """Make sure the layout reaches a_s and b_s (it may be rebuilt: take cumulatives after)."""
        if a_s < self.lo + 86400 or b_s > self.hi - 86400:
            self._cover(a_s, b_s)

    def at_cumulative(self, target: int) -> int:
        """The epoch second at which the cumulative working seconds reach `target` (the inverse
        look-up; the layout grows forward if needed, which leaves earlier cumulatives as they are)."""
        while not self.cum_end or target > self.cum_end[-1]:
            if not self.starts and self.last - self.first > dt.timedelta(days=3660):
                raise ValueError("this calendar has no working time")
            self._build(self.first, self.last + dt.timedelta(days=MARGIN_DAYS))
        i = bisect_left(self.cum_end, target)
        return self.starts[i] + (target - self.cum[i])

    def add(self, a: dt.datetime, seconds: int) -> dt.datetime:
        """The instant at which `seconds` of working time have passed since a."""
        if seconds <= 0:
            self._cover(_epoch(a))
            return a
        return dt.datetime.fromtimestamp(self.add_s(_epoch(a), seconds), UTC)

    def add_s(self, a_s: int, seconds: int) -> int:
        """add() on epoch seconds, for seconds > 0: the epoch second the target is reached."""
        self.cover_s(a_s, a_s)
        return self.at_cumulative(self.cumulative(a_s) + seconds)

    def why_not_working(self, t: dt.datetime) -> str | None:
        """None while working; otherwise the reason ('public holiday: Christmas Day', 'outside business hours')."""
        t_s = _epoch(t)
        self._cover(t_s)
        i = bisect_right(self.starts, t_s) - 1
        if i >= 0 and t_s < self.ends[i]:
            return None
        local = t.astimezone(self.tz)
        name = self.spec.holidays.get(local.date())
        if name:
            return f"public holiday: {name}"
        if not self.spec.weekly.get(local.weekday()):
            return "non-working day"
        return "outside business hours"

    def working_runs(self, a: dt.datetime, b: dt.datetime) -> list[tuple[int, int]]:
        """The working intervals clipped to [a, b), as epoch seconds (for timelines)."""
        a_s, b_s = _epoch(a), _epoch(b)
        self._cover(a_s, b_s)
        i = max(0, bisect_right(self.starts, a_s) - 1)
        out = []
        while i < len(self.starts) and self.starts[i] < b_s:
            s, e = max(self.starts[i], a_s), min(self.ends[i], b_s)
            if e > s:
                out.append((s, e))
            i += 1
        return out
