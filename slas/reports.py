"""Compliance reports: read from the clocks, aggregated by the database.

A clock's state (met, breached) was decided by the engine on exact seconds; the reports
only count states. Every report is one grouped query (COUNT per version, metric and state;
COUNT ... FILTER per TruncWeek / TruncMonth), whatever the number of tickets, plus one small
query for the SLAs' names. On PostgreSQL the trend wants extended statistics on its
date_trunc expressions, or the planner expects a group per row and will not go parallel.

The period is that of the clocks' start (when the ticket was opened). `service` keeps the
clocks of SLAs written for that service and, for SLAs that cover every service, those of
tickets of that service (a semi-join on the ticket table, still one query).
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth, TruncWeek
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from mof.csv_io import SafeWriter
from slas.forms import format_duration
from slas.models import ClockState, SLAClock, SLAVersion
from slas.whatif import meets, percentage

COUNTS = {
    "met": Count("pk", filter=Q(state=ClockState.MET)),
    "breached": Count("pk", filter=Q(state=ClockState.BREACHED)),
    "open": Count("pk", filter=Q(state__in=[ClockState.RUNNING, ClockState.PAUSED])),
    "cancelled": Count("pk", filter=Q(state=ClockState.CANCELLED)),
}
STATE_COLUMN = {
    ClockState.MET: "met",
    ClockState.BREACHED: "breached",
    ClockState.RUNNING: "open",
    ClockState.PAUSED: "open",
    ClockState.CANCELLED: "cancelled",
}
METRIC_LABELS = {"response": "Time to respond", "resolution": "Time to resolve"}


def _ticket_service_ids(ticket_type: str, service) -> object | None:
    """A subquery of the ids of the tickets of `service`, for ticket types that have one."""
    if ticket_type == "incidents.incident":
        from incidents.models import Incident

        return Incident.objects.filter(service=service).values("pk")
    return None


def clocks_in(*, start: dt.datetime, end: dt.datetime, sla=None, service=None):
    qs = SLAClock.objects.filter(started_at__gte=start, started_at__lt=end)
    if sla is not None:
        qs = qs.filter(version__sla=sla)
    if service is not None:
        by_ticket = _ticket_service_ids("incidents.incident", service)
        covered = Q(version__service=service)
        if by_ticket is not None:
            covered |= Q(version__service__isnull=True, ticket_type="incidents.incident", ticket_id__in=by_ticket)
        qs = qs.filter(covered)
    return qs


def _finish(row: dict, target: Decimal) -> dict:
    decided = row["met"] + row["breached"]
    row["decided"] = decided
    row["target_percentage"] = target
    row["compliance"] = percentage(row["met"], decided)
    row["meets_target"] = meets(row["met"], decided, target)
    return row


def compliance(*, start: dt.datetime, end: dt.datetime, sla=None, service=None) -> list[dict]:
    """Per SLA (or OLA) and metric: met, breached, open, cancelled clocks and the compliance
    against the SLA's target percentage (that of its latest version counted)."""
    by_state = (
        clocks_in(start=start, end=end, sla=sla, service=service)
        .order_by()
        .values_list("version_id", "metric", "state")
        .annotate(n=Count("*"))
    )
    pivot: dict[tuple, dict] = {}
    for version_id, metric, state, n in by_state:  # a few rows per version: pivot here, not per clock
        row = pivot.setdefault(
            (version_id, metric), {"version_id": version_id, "metric": metric, **dict.fromkeys(COUNTS, 0)}
        )
        row[STATE_COLUMN.get(state, "open")] += n
    grouped = list(pivot.values())
    versions = {
        v["pk"]: v
        for v in SLAVersion.objects.filter(pk__in={g["version_id"] for g in grouped}).values(
            "pk", "number", "sla_id", "sla__name", "sla__kind", "service__name", "target_percentage"
        )
    }
    merged: dict[tuple, dict] = {}
    for g in grouped:
        v = versions[g["version_id"]]
        key = (v["sla_id"], g["metric"])
        row = merged.setdefault(
            key,
            {
                "sla_id": v["sla_id"],
                "sla": v["sla__name"],
                "kind": v["sla__kind"],
                "service": v["service__name"] or "every service",
                "metric": g["metric"],
                "metric_label": METRIC_LABELS.get(g["metric"], g["metric"]),
                "met": 0,
                "breached": 0,
                "open": 0,
                "cancelled": 0,
                "_version": (-1, None),
            },
        )
        for name in COUNTS:
            row[name] += g[name]
        if v["number"] > row["_version"][0]:
            row["_version"] = (v["number"], v["target_percentage"])
            row["service"] = v["service__name"] or "every service"
    rows = []
    for row in sorted(merged.values(), key=lambda r: (r["sla"].lower(), r["metric"] != "response")):
        _, target = row.pop("_version")
        rows.append(_finish(row, Decimal(target)))
    return rows


def totals(rows: list[dict]) -> dict:
    out = {name: sum(r[name] for r in rows) for name in ("met", "breached", "open", "cancelled")}
    out["decided"] = out["met"] + out["breached"]
    out["compliance"] = percentage(out["met"], out["decided"])
    return out


def trend(*, start: dt.datetime, end: dt.datetime, by: str = "week", sla=None, service=None) -> list[dict]:
    """Met and breached clocks per week or month of their start; one grouped query."""
    trunc = TruncMonth("started_at") if by == "month" else TruncWeek("started_at")
    grouped = (
        clocks_in(start=start, end=end, sla=sla, service=service)
        .annotate(bucket=trunc)
        .order_by("bucket")
        .values("bucket")
        .annotate(met=COUNTS["met"], breached=COUNTS["breached"], open=COUNTS["open"])
    )
    target = None
    if sla is not None:
        target = (
            SLAVersion.objects.filter(sla=sla).order_by("-number").values_list("target_percentage", flat=True).first()
        )
    counted = {(g["bucket"].date() if isinstance(g["bucket"], dt.datetime) else g["bucket"]): g for g in grouped}
    rows = []
    for bucket in _buckets(start, end, by, counted):
        g = counted.get(bucket, {"met": 0, "breached": 0, "open": 0})
        decided = g["met"] + g["breached"]
        rows.append(
            {
                "period": bucket,
                "label": _bucket_label(bucket, by),
                "met": g["met"],
                "breached": g["breached"],
                "open": g["open"],
                "decided": decided,
                "compliance": percentage(g["met"], decided),
                "target_percentage": target,
            }
        )
    return rows


def _buckets(start: dt.datetime, end: dt.datetime, by: str, counted) -> list[dt.date]:
    """Every week (Monday) or month of the period, so that empty ones show as gaps."""
    first = timezone.localtime(start).date()
    last = timezone.localtime(end - dt.timedelta(microseconds=1)).date()
    day = first.replace(day=1) if by == "month" else first - dt.timedelta(days=first.weekday())
    out = []
    while day <= last and len(out) < 600:
        out.append(day)
        day = (
            (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) if by == "month" else day + dt.timedelta(days=7)
        )
    return sorted(set(out) | set(counted))


def _bucket_label(day: dt.date, by: str) -> str:
    return day.strftime("%b %Y") if by == "month" else f"w/c {day:%d %b %Y}"


def breaches(*, start: dt.datetime, end: dt.datetime, sla=None, service=None):
    """Breached clocks of the period, the latest breach first (a queryset: paginate it)."""
    return (
        clocks_in(start=start, end=end, sla=sla, service=service)
        .filter(state=ClockState.BREACHED)
        .select_related("version__sla")
        .order_by("-breached_at", "-pk")
    )


def ticket_numbers(clocks) -> dict[tuple[str, int], str]:
    """What people call the tickets of these clocks (INC-1042), in one query per ticket type."""
    out = {}
    incident_ids = {c.ticket_id for c in clocks if c.ticket_type == "incidents.incident"}
    if incident_ids:
        from incidents.models import Incident

        for pk, number in Incident.objects.filter(pk__in=incident_ids).values_list("pk", "number"):
            out[("incidents.incident", pk)] = f"{Incident.number_prefix}-{number}"
    return out


def breach_rows(clocks) -> list[dict]:
    clocks = list(clocks)
    names = ticket_numbers(clocks)
    rows = []
    for clock in clocks:
        over = clock.elapsed_seconds - clock.target_seconds
        rows.append(
            {
                "clock": clock,
                "ticket": names.get((clock.ticket_type, clock.ticket_id), f"{clock.ticket_type}:{clock.ticket_id}"),
                "ticket_url": ticket_url(clock.ticket_type, clock.ticket_id),
                "sla": clock.version.sla.name,
                "version": clock.version.number,
                "metric": METRIC_LABELS.get(clock.metric, clock.metric),
                "started_at": clock.started_at,
                "breached_at": clock.breached_at,
                "stopped_at": clock.stopped_at,
                "target": format_duration(clock.target_seconds),
                "elapsed": format_duration(clock.elapsed_seconds),
                "over": format_duration(max(over, 0)),
                "over_seconds": over,
            }
        )
    return rows


def ticket_url(ticket_type: str, ticket_id: int) -> str | None:
    if ticket_type != "incidents.incident":
        return None
    try:
        return reverse("incident_detail", args=[ticket_id])
    except NoReverseMatch:
        return None


# --- the trend chart (server-rendered SVG) --------------------------------------------


def trend_chart(rows: list[dict], *, width: int = 720, height: int = 240) -> dict:
    """Geometry of a bar chart of compliance % per period (with the target line): the
    template draws it as SVG, no JavaScript."""
    left, right, top, bottom = 44, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(rows), 1)
    slot = plot_w / n
    bar_w = max(min(slot * 0.7, 48), 2)

    def y(pct) -> float:
        return round(top + plot_h * (1 - float(pct) / 100), 1)

    bars = []
    for i, row in enumerate(rows):
        x = round(left + slot * i + (slot - bar_w) / 2, 1)
        pct = row["compliance"]
        bars.append(
            {
                **row,
                "x": x,
                "w": round(bar_w, 1),
                "y": min(y(pct or 0), top + plot_h - 2) if row["decided"] else y(0),
                "h": max(round(top + plot_h - y(pct or 0), 1), 2) if row["decided"] else 0,
                "cx": round(x + bar_w / 2, 1),
                "show_label": n <= 16 or i % max(n // 12, 1) == 0,
                "below": pct is not None
                and (
                    not row["met"]
                    or row.get("target_percentage") is not None
                    and not meets(row["met"], row["decided"], row["target_percentage"])
                ),
            }
        )
    targets = {r["target_percentage"] for r in rows if r.get("target_percentage") is not None}
    target = targets.pop() if len(targets) == 1 else None
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "base": top + plot_h,
        "label_y": top + plot_h + 16,
        "bars": bars,
        "grid": [{"pct": p, "y": y(p)} for p in (0, 25, 50, 75, 100)],
        "target": target,
        "target_y": y(target) if target is not None else None,
    }


# --- CSV --------------------------------------------------------------------------------


def to_csv(header: list[str], rows) -> str:
    out = io.StringIO()
    # Text cells (an SLA's name...) are never formulas; numbers stay numbers (mof.csv_io).
    writer = SafeWriter(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def compliance_csv(rows: list[dict]) -> str:
    return to_csv(
        [
            "sla",
            "kind",
            "service",
            "metric",
            "met",
            "breached",
            "open",
            "cancelled",
            "compliance_percent",
            "target_percent",
            "meets_target",
        ],
        (
            [
                r["sla"],
                r["kind"],
                r["service"],
                r["metric"],
                r["met"],
                r["breached"],
                r["open"],
                r["cancelled"],
                r["compliance"],
                r["target_percentage"],
                r["meets_target"],
            ]
            for r in rows
        ),
    )


def trend_csv(rows: list[dict]) -> str:
    return to_csv(
        ["period_start", "met", "breached", "open", "compliance_percent"],
        ([r["period"].isoformat(), r["met"], r["breached"], r["open"], r["compliance"]] for r in rows),
    )


def breaches_csv(queryset, *, chunk: int = 2000) -> str:
    """Every breach of the period; ticket numbers looked up per chunk of rows, not per row."""

    def lines():
        ordered, last = queryset.order_by("-pk"), None
        while True:
            page = ordered if last is None else ordered.filter(pk__lt=last)
            clocks = list(page[:chunk])
            if not clocks:
                return
            for r in breach_rows(clocks):
                c = r["clock"]
                yield [
                    r["ticket"],
                    r["sla"],
                    r["version"],
                    c.metric,
                    c.started_at.isoformat(),
                    c.breached_at.isoformat() if c.breached_at else None,
                    c.stopped_at.isoformat() if c.stopped_at else None,
                    c.target_seconds,
                    c.elapsed_seconds,
                    r["over_seconds"],
                ]
            if len(clocks) < chunk:
                return
            last = clocks[-1].pk

    return to_csv(
        [
            "ticket",
            "sla",
            "version",
            "metric",
            "started_at",
            "breached_at",
            "stopped_at",
            "target_seconds",
            "elapsed_seconds",
            "over_seconds",
        ],
        lines(),
    )
