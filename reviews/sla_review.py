"""The SLA Review: the Optimizing quadrant's management review of service levels.

An SLA Review meeting's agenda (reviews.services.agenda_refresh) fills with

- the period's service level report, modelled as an `SLAReviewPeriod(meeting, start, end)`
  that is the subject of one agenda item: compliance per SLA and service (met, breached,
  the percentage against the target percentage) with the previous period of the same
  length beside it, the weekly (or monthly) trend over both, the breached tickets,
  availability per service against its target (MTBF, MTRS), and the open capacity
  warnings. The period runs from the end of the last closed SLA Review's period (or its
  close) up to when the agenda is filled, the last 30 days if there was none;
- every SLA awaiting activation (in review), each with its what-if (how its current
  version would have scored on the tickets opened in the same period) beside the decision.

The report is decided like any item (quorum, one decision, the item row locked): "accept",
or "require improvement" with a reason, which opens a problem or a draft RFC as the decider
chooses (reviews.decisions: improve_problem / improve_rfc). The draft RFC then goes the way
of every change, to the Release Approved Review. SLAs keep activate / send back.

Figures are never stored: they are read from the clocks, outages and warnings when shown,
with the existing aggregate functions (slas.reports, slas.availability, slas.capacity),
once per page whatever the number of SLAs and services (`attach` hands every item of an
agenda the same lazily computed `Review`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cached_property

from django.utils import timezone

from mof.choices import ReviewKind
from reviews import review_periods
from reviews.decisions import SLA_LABEL, SLA_PERIOD_LABEL
from reviews.models import Meeting, SLAReviewPeriod

PERIOD_MODEL = SLAReviewPeriod
DEFAULT_PERIOD = review_periods.DEFAULT_PERIOD
MAX_BREACHES = 50
MAX_WARNINGS = 50


# --- the period ---------------------------------------------------------------------------


def period_bounds(meeting: Meeting, *, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the report a meeting takes up: since the last closed SLA Review
    (the end of the period it reviewed, or when it closed), else the last 30 days."""
    return review_periods.period_bounds(meeting, SLAReviewPeriod, now=now, default=DEFAULT_PERIOD)


def something_to_report(start: dt.datetime, end: dt.datetime) -> bool:
    """Whether the period has anything for the meeting to judge: an SLA clock started in
    it, an outage in it, or an open capacity warning. An empty report is not put to a vote."""
    from django.db.models import Q

    from incidents.models import Incident
    from slas.models import CapacityWarning, OutageRecord, WarningStatus
    from slas.reports import clocks_in

    return (
        clocks_in(start=start, end=end).exists()
        or OutageRecord.objects.filter(start__lt=end, end__gt=start).exists()
        or Incident.objects.filter(is_major=True, outage_start__isnull=False, outage_start__lt=end)
        .filter(Q(outage_end__isnull=True) | Q(outage_end__gt=start))
        .exists()
        or CapacityWarning.objects.filter(status=WarningStatus.OPEN).exists()
    )


def period_ensure(meeting: Meeting, *, now: dt.datetime | None = None) -> SLAReviewPeriod | None:
    """The meeting's period, created at the first agenda fill that finds something to
    report (None until then); see reviews.review_periods.period_ensure."""
    return review_periods.period_ensure(meeting, SLAReviewPeriod, something_to_report=something_to_report, now=now)


# --- the report ---------------------------------------------------------------------------


def _delta(now_pct, before_pct):
    if now_pct is None or before_pct is None:
        return None
    return now_pct - before_pct


def _direction(delta) -> str:
    if delta is None:
        return ""
    return "up" if delta > 0 else "down" if delta < 0 else "same"


def build_report(period: SLAReviewPeriod, user, *, now: dt.datetime | None = None) -> dict:
    """The service level report of [period.start, period.end), with the previous period of
    the same length beside it. A fixed number of queries, whatever the number of SLAs,
    services and tickets."""
    from slas import reports
    from slas.availability import availability_report
    from slas.capacity import visible_warnings
    from slas.models import WarningStatus
    from slas.whatif import percentage

    now = now or timezone.now()
    start, end = period.start, period.end
    length = end - start
    prev_start, prev_end = start - length, start

    rows = reports.compliance(start=start, end=end)
    before = {(r["sla_id"], r["metric"]): r for r in reports.compliance(start=prev_start, end=prev_end)}
    for row in rows:
        prev = before.get((row["sla_id"], row["metric"]))
        row["previous_compliance"] = prev["compliance"] if prev else None
        row["delta"] = _delta(row["compliance"], row["previous_compliance"])
        row["direction"] = _direction(row["delta"])
    totals = reports.totals(rows)
    previous_totals = reports.totals(list(before.values()))
    totals["delta"] = _delta(totals["compliance"], previous_totals["compliance"])
    totals["direction"] = _direction(totals["delta"])

    by_service: dict[str, dict] = {}
    for row in rows:
        s = by_service.setdefault(row["service"], {"service": row["service"], "met": 0, "breached": 0, "missed": 0})
        s["met"] += row["met"]
        s["breached"] += row["breached"]
        s["missed"] += 1 if row["meets_target"] is False else 0
    services = sorted(by_service.values(), key=lambda s: s["service"].lower())
    for s in services:
        s["decided"] = s["met"] + s["breached"]
        s["compliance"] = percentage(s["met"], s["decided"])

    breached = reports.breaches(start=start, end=end)
    breaches_total = breached.count()
    breach_rows = reports.breach_rows(breached[:MAX_BREACHES])

    trend = reports.trend(start=prev_start, end=end, by="week" if length <= dt.timedelta(days=120) else "month")

    availability = availability_report(user, start, end, now=now)
    previous_availability = {
        a.service.pk: a.percentage for a in availability_report(user, prev_start, prev_end, now=now)
    }
    availability_rows = []
    for a in availability:
        prev = previous_availability.get(a.service.pk)
        delta = _delta(a.percentage, prev)
        availability_rows.append(
            {
                "service": a.service,
                "percentage": a.percentage,
                "target": a.target,
                "met": a.met,
                "downtime_seconds": a.downtime_seconds,
                "agreed_seconds": a.agreed_seconds,
                "failures": a.failures,
                "mtbf": _duration(a.mtbf_seconds),
                "mtrs": _duration(a.mtrs_seconds),
                "previous_percentage": prev,
                "delta": delta,
                "direction": _direction(delta),
            }
        )

    warnings_qs = visible_warnings(user).filter(status=WarningStatus.OPEN).order_by("forecast_at", "pk")
    warnings = list(warnings_qs[:MAX_WARNINGS])

    return {
        "start": start,
        "end": end,
        "previous_start": prev_start,
        "previous_end": prev_end,
        "as_of": now,
        "compliance": rows,
        "totals": totals,
        "previous_totals": previous_totals,
        "services": services,
        "missed": [r for r in rows if r["meets_target"] is False],
        "breaches": breach_rows,
        "breaches_total": breaches_total,
        "trend": trend,
        "availability": availability_rows,
        "availability_missed": [r for r in availability_rows if r["met"] is False],
        "warnings": warnings,
        "warnings_more": len(warnings) == MAX_WARNINGS,
    }


def _duration(seconds) -> str:
    from slas.forms import format_duration

    return format_duration(int(seconds)) if seconds is not None else ""


# --- what-if for the SLAs awaiting activation ----------------------------------------------


def current_versions(sla_ids) -> dict[int, object]:
    """The latest version of each SLA, with its calendar: one query."""
    from slas.models import SLAVersion

    found: dict[int, object] = {}
    for version in (
        SLAVersion.objects.filter(sla_id__in=set(sla_ids)).select_related("calendar").order_by("sla_id", "-number")
    ):
        found.setdefault(version.sla_id, version)
    return found


def what_ifs(versions, start: dt.datetime, end: dt.datetime, *, now: dt.datetime | None = None) -> dict[int, dict]:
    """slas.whatif.what_if for several candidate versions at once: the events of the
    period are read once per ticket type (not once per SLA), then replayed per version
    with the engine's own replay, counted as what_if counts them."""
    from slas import engine
    from slas.forms import format_duration
    from slas.whatif import METRICS, _ticket_events, applies, meets, percentage

    now = now or timezone.now()
    events_by_type: dict[str, list] = {}
    out: dict[int, dict] = {}
    for version in versions:
        ticket_type = version.ticket_type or "incidents.incident"
        if ticket_type not in events_by_type:
            events_by_type[ticket_type] = list(_ticket_events(ticket_type, start, end))
        business = engine.engine_for(version.calendar)
        target_pct = Decimal(version.target_percentage if version.target_percentage is not None else 95)
        metrics = {
            m: {"metric": m, "target_seconds": version.target(m), "met": 0, "breached": 0, "open": 0, "cancelled": 0}
            for m in METRICS
            if version.target(m)
        }
        totals = {
            "tickets": 0,
            "applicable": 0,
            "not_applicable": 0,
            "met": 0,
            "breached": 0,
            "open": 0,
            "cancelled": 0,
        }
        for _ticket_id, events in events_by_type[ticket_type]:
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
            key = (
                "breached"
                if "breached" in states
                else "open"
                if "open" in states
                else "met"
                if "met" in states
                else "cancelled"
            )
            totals[key] += 1
        for row in metrics.values():
            row["target"] = format_duration(row["target_seconds"])
            decided = row["met"] + row["breached"]
            row["compliance"] = percentage(row["met"], decided)
            row["meets_target"] = meets(row["met"], decided, target_pct)
        decided = totals["met"] + totals["breached"]
        out[version.sla_id] = {
            "version": version,
            "start": start,
            "end": end,
            "as_of": now,
            "target_percentage": target_pct,
            **totals,
            "compliance": percentage(totals["met"], decided),
            "meets_target": meets(totals["met"], decided, target_pct),
            "metrics": list(metrics.values()),
        }
    return out


# --- what the meeting page and meeting mode show -------------------------------------------


class Review(review_periods.PeriodReview):
    """One agenda's SLA Review figures, computed on first use and shared by its items."""

    period_label = SLA_PERIOD_LABEL

    def build_report(self, period: SLAReviewPeriod) -> dict:
        return build_report(period, self.user)

    @cached_property
    def sla_items(self) -> list:
        return [i for i in self.items if i.model_label == SLA_LABEL and i.get_subject() is not None]

    @cached_property
    def what_ifs(self) -> dict[int, dict]:
        if not self.sla_items:
            return {}
        if self.period is not None:
            start, end = self.period.start, self.period.end
        else:
            start, end = period_bounds(self.meeting)
        versions = current_versions(i.get_subject().pk for i in self.sla_items)
        return what_ifs(versions.values(), start, end)

    @cached_property
    def awaiting(self) -> list[dict]:
        """The SLAs awaiting activation, each with its what-if."""
        return [
            {"item": i, "sla": i.get_subject(), "what_if": self.what_ifs.get(i.get_subject().pk)}
            for i in self.sla_items
        ]


class ItemView(review_periods.ItemOptions):
    """What one agenda item shows of the SLA Review (templates/reviews/_sla_review_item.html)."""

    def __init__(self, review: Review, item):
        super().__init__(review.meeting, item)
        self.review = review
        self.is_period = item.model_label == SLA_PERIOD_LABEL
        self.is_sla = item.model_label == SLA_LABEL

    @property
    def report(self):
        return self.review.report if self.is_period else None

    @property
    def period(self):
        return self.review.period if self.is_period else None

    @property
    def what_if(self):
        subject = self.item.get_subject()
        return self.review.what_ifs.get(subject.pk) if self.is_sla and subject is not None else None


def attach(meeting: Meeting, items, *, user=None) -> Review:
    """Give every item of an SLA Review agenda its `sla_review` view (nothing is computed
    until a template reads it)."""
    review = Review(meeting, items, user if user is not None else meeting.chair)
    for item in items:
        item.sla_review = ItemView(review, item)
    return review


# --- "require improvement" ----------------------------------------------------------------


def _summary(period: SLAReviewPeriod, report: dict, reason: str) -> str:
    lines = [
        f"The {ReviewKind.SLA.label} REV-{period.meeting_id} required improvement of the service levels "
        f"of {period.start:%Y-%m-%d %H:%M} – {period.end:%Y-%m-%d %H:%M}.",
        "",
        f"Reason: {reason}",
        "",
    ]
    totals = report["totals"]
    lines.append(
        f"Overall: {totals['met']} met, {totals['breached']} breached"
        + (f", {totals['compliance']} %" if totals["compliance"] is not None else "")
        + "."
    )
    if report["missed"]:
        lines.append("Below target:")
        lines += [
            f"- {r['sla']} ({r['service']}), {r['metric_label']}: {r['compliance']} % against {r['target_percentage']} %"
            for r in report["missed"]
        ]
    if report["availability_missed"]:
        lines.append("Availability below target:")
        lines += [
            f"- {a['service'].name}: {a['percentage']} % against {a['target']} %" for a in report["availability_missed"]
        ]
    if report["breaches_total"]:
        lines.append(f"Breached tickets: {report['breaches_total']}.")
    return "\n".join(lines)


def follow_up_open(*, period: SLAReviewPeriod, kind: str, actor, reason: str):
    """Open the improvement the meeting required: a problem ("problem") or a draft RFC
    ("rfc"), named on the period."""
    report = build_report(period, actor)
    return review_periods.follow_up_open(
        period=period,
        kind=kind,
        actor=actor,
        reason=reason,
        title=f"Service levels below target {period.start:%Y-%m-%d} – {period.end:%Y-%m-%d} (REV-{period.meeting_id})",
        description=_summary(period, report, reason),
        services=[a["service"] for a in report["availability_missed"]],
    )


def decided(*, period: SLAReviewPeriod, option, actor, reason: str):
    """Called by reviews.services.decide within its transaction: "require improvement"
    opens its problem or draft RFC. The figures stay live (they are read when shown)."""
    if option.follow_up:
        return follow_up_open(period=period, kind=option.follow_up, actor=actor, reason=reason)
    return None
