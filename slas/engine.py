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
from zoneinfo import ZoneInfo

from django.utils import timezone

from slas.businesstime import BusinessTime, CalendarSpec

UTC = dt.timezone.utc

STOP_STATES = {
    "response": {"assigned", "in_progress", "on_hold", "resolved", "closed"},
    "resolution": {"resolved", "closed"},
}
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
        for day, name in holidays_pkg.country_holidays(
            calendar.country, subdiv=calendar.subdivision or None, years=years
        ).items():
            days[day] = name
    for own in calendar.own_holidays.all():
        days[own.date] = own.name
    return CalendarSpec(calendar.time_zone, {d: tuple(sorted(v)) for d, v in weekly.items()}, days)


def changed_span(old: CalendarSpec, new: CalendarSpec):
    """The stretch of time whose working time a calendar edit changed: None when no instant's
    did (a rename), (None, None) when any may have (other hours or another time zone), else
    (first, until) around the holidays added or removed."""
    if old.time_zone != new.time_zone or old.weekly != new.weekly:
        return (None, None)
    days = old.holidays.keys() ^ new.holidays.keys()
    if not days:
        return None
    tz = ZoneInfo(new.time_zone)
    return (
        dt.datetime.combine(min(days), dt.time(0), tzinfo=tz),
        dt.datetime.combine(max(days) + dt.timedelta(days=1), dt.time(0), tzinfo=tz),
    )


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
    crossings: dict[int, dt.datetime] = field(
        default_factory=dict
    )  # threshold % -> instant (past or, if counting, future)
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
        next_midnight = int(
            dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(0), tzinfo=engine.tz).timestamp()
        )
        stop = min(end, next_midnight)
        if rows and rows[-1]["reason"] == f"not counting: {reason}":
            rows[-1]["end"] = dt.datetime.fromtimestamp(stop, UTC)
        else:
            rows.append(
                {
                    "start": at,
                    "end": dt.datetime.fromtimestamp(stop, UTC),
                    "kind": "not_counting",
                    "reason": f"not counting: {reason}",
                }
            )
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
            rows.append(
                {
                    "start": seg.start,
                    "end": seg.end,
                    "kind": seg.phase,
                    "reason": labels.get(seg.phase, "{}").format(seg.reason),
                }
            )
            continue
        cursor = int(seg.start.timestamp())
        end_s = int(end.timestamp())
        for s, e in engine.working_runs(seg.start, end):
            rows.extend(_gaps(engine, cursor, s))
            rows.append(
                {
                    "start": dt.datetime.fromtimestamp(s, UTC),
                    "end": dt.datetime.fromtimestamp(e, UTC),
                    "kind": "counting",
                    "reason": f"counting: {seg.reason}",
                }
            )
            cursor = e
        rows.extend(_gaps(engine, cursor, end_s))
        if seg.end is None and rows:
            rows[-1]["end"] = None  # still going
    return rows


# --- the stored figures, fast (recomputations) ---------------------------------------


@dataclass(frozen=True)
class Rules:
    """What replay() asks of a version for one metric, looked up once per batch."""

    target: int
    needs: tuple[tuple[int, int], ...]  # (threshold %, business seconds to reach it), ascending
    pause_on: frozenset
    carry_pauses: bool
    stop_states: frozenset
    response: bool

    @classmethod
    def of(cls, version, metric: str) -> "Rules":
        target = version.target(metric) or 0
        return cls(
            target=target,
            needs=tuple((pct, target if pct == 100 else target * pct // 100) for pct in version.thresholds),
            pause_on=frozenset(version.pause_on or ()),
            carry_pauses=version.carry_pauses,
            stop_states=frozenset(STOP_STATES[metric]),
            response=metric == "response",
        )


@dataclass
class StoredFigures:
    """What a clock stores, as replay() derives it: instants are epoch seconds, except the ones
    that are an event's own time (stopped, counting since), given as the event's index."""

    state: str
    elapsed_seconds: int
    stopped_index: int | None
    counting_index: int | None
    due_s: int | None
    breached_s: int | None
    next_s: int | None


def stored_figures(
    events, rules: Rules, engine: BusinessTime, now_s: float, clock_started: int | None, notified: int
) -> StoredFigures:
    """replay() followed by services._apply(), for a recomputation: the same rules in the same
    order, without the timeline (no Segment objects, no datetimes; business time on epoch
    seconds). `now_s`: the instant as an epoch float. Events are (epoch second, epoch
    microsecond, state, hold_reason) tuples, oldest first; `clock_started`: when the clock itself
    began, in epoch microseconds (pauses before it are carried only if the version says so).
    The agreement with replay() is a property-based test."""
    # 1. Segments: (first event index, phase); consecutive events of the same phase and reason merge.
    segments = []
    stopped_before = False
    last_key = None
    for i, (_, at_us, state, hold) in enumerate(events):
        if state in CANCEL_STATES:
            key = ("cancelled", "cancelled")
        elif state in rules.stop_states:
            key = ("stopped", "responded" if rules.response else state)
        elif rules.response and stopped_before:
            key = ("stopped", "responded")
        elif state == HOLD_STATE and hold in rules.pause_on:
            if not rules.carry_pauses and clock_started and at_us < clock_started:
                key = ("counting", f"on hold, {hold} (pause not carried)")
            else:
                key = ("paused", hold)
        else:
            key = ("counting", state)
        stopped_before = stopped_before or key[0] == "stopped"
        if key != last_key:
            segments.append((i, key[0]))
            last_key = key
    # 2. Business time counted, and when each threshold is (or will be) crossed.
    now_floor = int(now_s)  # as BusinessTime does with a datetime's timestamp()
    elapsed = 0
    crossed: dict[int, int] = {}
    counting_index = None
    n_segments = len(segments)
    for k in range(n_segments):
        first, phase = segments[k]
        if phase != "counting":
            continue
        start = events[first][0]
        ongoing = k + 1 == n_segments
        end = now_floor if ongoing else events[segments[k + 1][0]][0]
        # Two look-ups give the segment's business time; each crossing is one inverse look-up.
        engine.cover_s(start, max(start, end))
        at_start = engine.cumulative(start)
        before = elapsed
        if end > start:
            elapsed += engine.cumulative(end) - at_start
        for pct, need in rules.needs:
            if pct not in crossed and (before < need <= elapsed or (ongoing and need > before)):
                crossed[pct] = engine.at_cumulative(at_start + need - before)
        if ongoing:
            counting_index = first
    # 3. The state, and what the sweep must look at next.
    last_first, last_phase = segments[-1]
    reached = crossed.get(100)
    if last_phase == "cancelled":
        state = "cancelled"
    elif last_phase == "stopped":
        state = "breached" if elapsed > rules.target else "met"
    elif reached is not None and reached <= now_s:
        state = "breached"
    else:
        state = "paused" if last_phase == "paused" else "running"
    reachable = [at for pct, at in crossed.items() if pct > notified and (at <= now_s or counting_index is not None)]
    return StoredFigures(
        state=state,
        elapsed_seconds=elapsed,
        stopped_index=last_first if last_phase in ("stopped", "cancelled") else None,
        counting_index=counting_index,
        due_s=reached,
        breached_s=reached if state == "breached" else None,
        next_s=min(reachable) if reachable else None,
    )
