"""The SLA clock engine. A clock is a pure function of the ticket's event log, its SLA
version and the calendar: the timeline a person reads, a repair and a recomputation are
one computation (`replay`).

Clock conditions, evaluated on each event in this order:
1. cancel  - the ticket is cancelled: the clock is cancelled.
2. stop    - response: the ticket left "new" (someone took it); resolution: resolved or closed.
3. resume  - a stopped resolution clock whose ticket is reopened counts again (reset is not used:
             a reopened incident keeps what it already spent).
4. pause   - on hold for a reason in the version's pause_on.
5. start   - the version applies (type, service, priority, group): the clock starts at the
             ticket's opening (retroactive start), carrying the pauses already accrued if the
             version says so.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

from django.utils import timezone

from slas.businesstime import BusinessTime, CalendarSpec

UTC = dt.timezone.utc

STOP_STATES = {"response": {"assigned", "in_progress", "on_hold", "resolved", "closed"}, "resolution": {"resolved", "closed"}}
CANCEL_STATES = {"cancelled"}
HOLD_STATE = "on_hold"


# --- calendars -------------------------------------------------------------------


def calendar_spec(calendar) -> CalendarSpec:
    import holidays as holidays_pkg

    weekly: dict[int, list] = {}
    for interval in calendar.intervals.all():
        weekly.setdefault(interval.weekday, []).append((interval.start, interval.end))
    days: dict[dt.date, str] = {}
    if calendar.country:
        years = range(timezone.now().year - 3, timezone.now().year + 4)
        for day, name in holidays_pkg.country_holidays(calendar.country, subdiv=calendar.subdivision or None, years=years).items():
            days[day] = name
    for own in calendar.own_holidays.all():
        days[own.date] = own.name
    return CalendarSpec(calendar.time_zone, {d: tuple(sorted(v)) for d, v in weekly.items()}, days)


@lru_cache(maxsize=256)
def _engine(calendar_id: int, version: int, updated_at) -> BusinessTime:
    from slas.models import BusinessCalendar

    calendar = BusinessCalendar.objects.prefetch_related("intervals", "own_holidays").get(pk=calendar_id)
    return BusinessTime(calendar_spec(calendar))


def engine_for(calendar) -> BusinessTime:
    """The calendar's business time, cached per process until the calendar changes."""
    return _engine(calendar.pk, calendar.version, calendar.updated_at)


# --- replay ------------------------------------------------------------------------


@dataclass
class Segment:
    start: dt.datetime
    end: dt.datetime | None  # None: still going
    phase: str  # counting, paused, stopped, cancelled, not_started
    reason: str


@dataclass
class ClockFigures:
    state: str
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    elapsed_seconds: int  # counted up to `as_of`
    counting_since: dt.datetime | None
    due_at: dt.datetime | None
    breached_at: dt.datetime | None
    crossings: dict[int, dt.datetime] = field(default_factory=dict)  # threshold % -> instant (past or, if counting, future)
    segments: list[Segment] = field(default_factory=list)


def _phase(metric, version, event, stopped_before):
    if event.state in CANCEL_STATES:
        return "cancelled", "cancelled"
    if event.state in STOP_STATES[metric]:
        return "stopped", ("responded" if metric == "response" else event.state)
    if metric == "response" and stopped_before:
        return "stopped", "responded"
    if event.state == HOLD_STATE and event.hold_reason in (version.pause_on or []):
        return "paused", f"on hold, {event.hold_reason.replace('_', ' ')}"
    return "counting", event.state.replace("_", " ")


def replay(events, version, metric: str, engine: BusinessTime, *, now=None, clock_started=None) -> ClockFigures:
    """Recompute a clock from the ticket's events (oldest first). `clock_started`: when the
    clock itself began (a retroactive start); pauses before it are carried only if the
    version says so."""
    now = now or timezone.now()
    target = version.target(metric)
    segments: list[Segment] = []
    stopped_before = False
    for i, event in enumerate(events):
        end = events[i + 1].at if i + 1 < len(events) else None
        phase, reason = _phase(metric, version, event, stopped_before)
        if phase == "paused" and not version.carry_pauses and clock_started and event.at < clock_started:
            phase, reason = "counting", f"{reason} (pause not carried)"
        stopped_before = stopped_before or phase == "stopped"
        if segments and segments[-1].phase == phase and segments[-1].reason == reason:
            segments[-1].end = end
        else:
            segments.append(Segment(event.at, end, phase, reason))

    elapsed = 0
    crossings: dict[int, dt.datetime] = {}
    counting_since = None
    for seg in segments:
        if seg.phase != "counting":
            continue
        before = elapsed
        elapsed += engine.elapsed(seg.start, seg.end or now)
        for pct in version.thresholds:
            need = target if pct == 100 else target * pct // 100
            if pct not in crossings and (before < need <= elapsed or (seg.end is None and need > before)):
                crossings[pct] = engine.add(seg.start, need - before)
        if seg.end is None:
            counting_since = seg.start

    last = segments[-1]
    reached = crossings.get(100)
    if last.phase == "cancelled":
        state = "cancelled"
    elif last.phase == "stopped":
        state = "breached" if elapsed > target else "met"
    elif reached is not None and reached <= now:
        state = "breached"
    else:
        state = "paused" if last.phase == "paused" else "running"
    return ClockFigures(
        state=state,
        started_at=events[0].at,
        stopped_at=last.start if last.phase in ("stopped", "cancelled") else None,
        elapsed_seconds=elapsed,
        counting_since=counting_since,
        due_at=reached,
        breached_at=reached if state == "breached" else None,
        crossings=crossings,
        segments=segments,
    )


def _gaps(engine: BusinessTime, start: int, end: int) -> list[dict]:
    """A stretch with no working time, split where its reason changes (evening, holiday, weekend)."""
    rows = []
    cursor = start
    while cursor < end:
        at = dt.datetime.fromtimestamp(cursor, UTC)
        reason = engine.why_not_working(at) or "outside business hours"
        local = at.astimezone(engine.tz)
        next_midnight = int(dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), tzinfo=engine.tz).timestamp())
        stop = min(end, next_midnight)
        if rows and rows[-1]["reason"] == f"not counting: {reason}":
            rows[-1]["end"] = dt.datetime.fromtimestamp(stop, UTC)
        else:
            rows.append({"start": at, "end": dt.datetime.fromtimestamp(stop, UTC), "kind": "not_counting", "reason": f"not counting: {reason}"})
        cursor = stop
    return rows


def timeline(figures: ClockFigures, engine: BusinessTime, *, now=None) -> list[dict]:
    """Segments a person can read: counting, paused (why), not counting (evening, weekend, holiday)."""
    now = now or timezone.now()
    labels = {"paused": "paused: {}", "stopped": "stopped: {}", "cancelled": "cancelled"}
    rows = []
    for seg in figures.segments:
        end = seg.end or now
        if seg.phase != "counting":
            rows.append({"start": seg.start, "end": seg.end, "kind": seg.phase, "reason": labels.get(seg.phase, "{}").format(seg.reason)})
            continue
        cursor = int(seg.start.timestamp())
        end_s = int(end.timestamp())
        for s, e in engine.working_runs(seg.start, end):
            rows.extend(_gaps(engine, cursor, s))
            rows.append({"start": dt.datetime.fromtimestamp(s, UTC), "end": dt.datetime.fromtimestamp(e, UTC), "kind": "counting", "reason": f"counting: {seg.reason}"})
            cursor = e
        rows.extend(_gaps(engine, cursor, end_s))
        if seg.end is None and rows:
            rows[-1]["end"] = None  # still going
    return rows
