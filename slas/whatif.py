"""What-if: how a candidate SLA version would have scored on the tickets of a past period.

Each ticket opened in the period is replayed from its recorded events (the same
`engine.replay` that derives real clocks) against the candidate version, which is never
saved. Met and breached are the engine's exact-second decisions; percentages are only
for reading. The events of the whole period come in one query, ordered by ticket, and
are grouped while they stream in.
"""

from __future__ import annotations

import datetime as dt
from collections import namedtuple
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from slas import engine
from slas.models import BusinessCalendar, SLAVersion, TicketEvent

METRICS = ("response", "resolution")
Event = namedtuple("Event", "ticket_id at kind state priority hold_reason service_id group_id")
EVENT_COLUMNS = list(Event._fields)
MAX_LISTED = 50


def candidate(version_or_fields) -> SLAVersion:
    """An SLAVersion to replay against: a saved one, or an unsaved one built from fields
    (as the version form or the API takes them; `calendar` an instance or an id)."""
    if isinstance(version_or_fields, SLAVersion):
        return version_or_fields
    fields = dict(version_or_fields)
    fields.pop("retarget_running", None)
    calendar = fields.pop("calendar", None)
    if calendar is not None and not isinstance(calendar, BusinessCalendar):
        calendar = BusinessCalendar.objects.get(pk=calendar)
    service, group = fields.pop("service", None), fields.pop("assignment_group", None)
    version = SLAVersion(**{k: v for k, v in fields.items() if v is not None})
    version.calendar = calendar
    version.service_id = getattr(service, "pk", service)
    version.assignment_group_id = getattr(group, "pk", group)
    if not version.warning_thresholds:
        version.warning_thresholds = [50, 75]
    return version


def applies(version: SLAVersion, event) -> bool:
    """The version's conditions, read on the ticket's last recorded state (as sync_clocks does)."""
    return (
        (version.service_id is None or version.service_id == event.service_id)
        and (version.assignment_group_id is None or version.assignment_group_id == event.group_id)
        and (not version.priorities or event.priority in version.priorities)
    )


def percentage(met: int, decided: int) -> Decimal | None:
    if not decided:
        return None
    return (Decimal(met) * 100 / decided).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def meets(met: int, decided: int, target: Decimal) -> bool | None:
    """Exact: met / decided >= target %, compared as met * 100 >= target * decided."""
    if not decided:
        return None
    return Decimal(met) * 100 >= Decimal(target) * decided


def _ticket_events(ticket_type: str, start: dt.datetime, end: dt.datetime):
    """Every event of every ticket opened in [start, end), in one query, grouped per ticket."""
    opened = TicketEvent.objects.filter(ticket_type=ticket_type, kind="opened", at__gte=start, at__lt=end).values(
        "ticket_id"
    )
    rows = (
        TicketEvent.objects.filter(ticket_type=ticket_type, ticket_id__in=opened)
        .order_by("ticket_id", "at", "id")
        .values_list(*EVENT_COLUMNS)
        .iterator(chunk_size=5000)
    )
    current, events = None, []
    for row in rows:
        event = Event(*row)
        if event.ticket_id != current and events:
            yield current, events
            events = []
        current = event.ticket_id
        events.append(event)
    if events:
        yield current, events


def what_if(
    version_or_fields, start: dt.datetime | dt.date, end: dt.datetime | dt.date, *, now: dt.datetime | None = None
) -> dict:
    """How the candidate would have scored on the tickets opened in [start, end).

    Dates are whole days in the current time zone (`end` included). Returns per metric
    met / breached / open / cancelled counts, the compliance percentage against the
    target percentage and the largest breaches, plus ticket-level totals (a ticket meets
    the SLA when every one of its clocks met)."""
    now = now or timezone.now()
    start, end = _bounds(start, end)
    version = candidate(version_or_fields)
    business = engine.engine_for(version.calendar)
    target_pct = Decimal(version.target_percentage if version.target_percentage is not None else 95)
    metrics = {
        m: {"metric": m, "target_seconds": version.target(m), "met": 0, "breached": 0, "open": 0, "cancelled": 0}
        for m in METRICS
        if version.target(m)
    }
    totals = {"tickets": 0, "applicable": 0, "not_applicable": 0, "met": 0, "breached": 0, "open": 0, "cancelled": 0}
    breaches = []
    for ticket_id, events in _ticket_events(version.ticket_type or "incidents.incident", start, end):
        totals["tickets"] += 1
        if not applies(version, events[-1]):
            totals["not_applicable"] += 1
            continue
        totals["applicable"] += 1
        states = []
        for metric, row in metrics.items():
            figures = engine.replay(events, version, metric, business, now=now)
            state = {"running": "open", "paused": "open"}.get(figures.state, figures.state)
            row[state] += 1
            states.append(state)
            if state == "breached":
                breaches.append(
                    {
                        "ticket_id": ticket_id,
                        "metric": metric,
                        "opened_at": events[0].at,
                        "breached_at": figures.breached_at,
                        "elapsed_seconds": figures.elapsed_seconds,
                        "target_seconds": row["target_seconds"],
                        "over_seconds": figures.elapsed_seconds - row["target_seconds"],
                    }
                )
        if "breached" in states:
            totals["breached"] += 1
        elif "open" in states:
            totals["open"] += 1
        elif "met" in states:
            totals["met"] += 1
        else:
            totals["cancelled"] += 1
    from slas.forms import format_duration

    for row in metrics.values():
        row["target"] = format_duration(row["target_seconds"])
        decided = row["met"] + row["breached"]
        row["compliance"] = percentage(row["met"], decided)
        row["meets_target"] = meets(row["met"], decided, target_pct)
    decided = totals["met"] + totals["breached"]
    breaches.sort(key=lambda b: -b["over_seconds"])
    return {
        "start": start,
        "end": end,
        "as_of": now,
        "target_percentage": target_pct,
        **totals,
        "compliance": percentage(totals["met"], decided),
        "meets_target": meets(totals["met"], decided, target_pct),
        "metrics": list(metrics.values()),
        "breaches": breaches[:MAX_LISTED],
        "breaches_total": len(breaches),
    }


def _bounds(start, end) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_current_timezone()
    if not isinstance(start, dt.datetime):
        start = dt.datetime.combine(start, dt.time(0), tzinfo=tz)
    if not isinstance(end, dt.datetime):
        end = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
    return start, end
