"""The Operations Review: the Operating quadrant's review of how the services ran.

Besides the post-implementation reviews of implemented (or backed-out) changes and
deployed releases, an Operations Review's agenda (reviews.services.agenda_refresh) carries
the period's operational health report, modelled as an `OperationsReviewPeriod(meeting,
start, end)` that is the subject of one agenda item:

- the job schedule: runs, succeeded, failed and missed, the success rate, per job
  (operations.jobs_selectors.job_health);
- per service: monitoring events and alerts, incidents opened from events
  (operations.events_selectors.event_counts_by_service), incidents opened, major incidents
  and incidents that breached an SLA (incidents.selectors);
- changes implemented in the period and how many failed and were backed out
  (changes.selectors: a backed-out change's outcome is "failed");
- capacity warnings open and raised in the period (slas.capacity), major incidents, and
  SLA clocks breached (slas.reports).

The period runs from the end of the last closed Operations Review's period (or its close)
up to when the agenda is filled, the last 30 days if there was none; the chair may state
it instead (`period_state`). The report goes on the agenda when the period has something
in it. Until decided it is live (read from the other apps when shown); the decision
freezes it (`OperationsReviewPeriod.snapshot`), so the minutes keep what the meeting saw.
It is accepted, or followed up, with a reason, through a problem or a draft RFC
(reviews.decisions: follow_up_problem / follow_up_rfc).

The report costs a fixed number of queries, whatever the number of services, jobs and
changes; `attach` hands every item of an agenda the same lazily built report.
"""

from __future__ import annotations

import datetime as dt
import json

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mof import audit, policy
from mof.choices import ReviewKind
from reviews import review_periods
from reviews.choices import OPEN_STATES
from reviews.decisions import OPS_PERIOD_LABEL
from reviews.models import Meeting, OperationsReviewPeriod

PERIOD_MODEL = OperationsReviewPeriod
MAX_ROWS = 50  # failed changes, major incidents, capacity warnings, jobs listed
MAX_DAYS = 366  # days drawn in the incidents-per-day sparkline
DATETIME_KEYS = {"start", "end", "as_of", "actual_end", "created_at", "forecast_at"}


# --- the period ---------------------------------------------------------------------------


def period_bounds(meeting: Meeting, *, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    return review_periods.period_bounds(meeting, OperationsReviewPeriod, now=now)


def something_to_report(start: dt.datetime, end: dt.datetime, *, user) -> bool:
    """Whether the period has anything to judge (as `user` sees it): a job run, an event,
    an incident opened, a change implemented, or an open capacity warning. An empty report
    is not put to a vote."""
    from changes.selectors import visible_changes
    from incidents.selectors import visible_incidents
    from operations.events_selectors import event_counts_by_service
    from operations.jobs_selectors import job_health
    from slas.capacity import visible_warnings
    from slas.models import WarningStatus

    return (
        visible_changes(user).filter(actual_end__gte=start, actual_end__lt=end).exists()
        or visible_incidents(user).filter(created_at__gte=start, created_at__lt=end).exists()
        or visible_warnings(user).filter(status=WarningStatus.OPEN).exists()
        or bool(job_health(start, end)["runs"])
        or any(row["events"] for row in event_counts_by_service(start, end))
    )


def period_ensure(meeting: Meeting, *, now: dt.datetime | None = None) -> OperationsReviewPeriod | None:
    """The meeting's period, created at the first agenda fill that finds something to
    report, as its chair sees it; see reviews.review_periods.period_ensure."""
    return review_periods.period_ensure(
        meeting,
        OperationsReviewPeriod,
        now=now,
        something_to_report=lambda start, end: something_to_report(start, end, user=meeting.chair),
    )


def period_state(*, actor, meeting: Meeting, start: dt.datetime, end: dt.datetime) -> OperationsReviewPeriod:
    """The chair states the period the health report covers (instead of "since the last
    Operations Review"), allowed while the report is undecided and unvoted; the agenda is
    filled with it (reviews.services.agenda_refresh) in the same transaction."""
    from reviews import services

    policy.require(actor, "review.agenda", meeting)
    errors = {}
    if meeting.kind != ReviewKind.OPERATIONS:
        errors["meeting"] = "Only an Operations Review has an operational health report."
    if start is None:
        errors["start"] = "Give the start of the period."
    if end is None:
        errors["end"] = "Give the end of the period."
    elif start is not None and end <= start:
        errors["end"] = "The period ends after it starts."
    elif end > timezone.now() + dt.timedelta(minutes=1):
        errors["end"] = "The report covers what happened: the period cannot end in the future."
    if errors:
        raise ValidationError(errors)
    with audit.acting_as(actor), transaction.atomic():
        locked = Meeting.objects.select_for_update().get(pk=meeting.pk)
        if locked.state not in OPEN_STATES:
            raise ValidationError({"meeting": "The agenda of a closed meeting is fixed."})
        period = OperationsReviewPeriod.objects.filter(meeting=locked).first()
        if period is None:
            period = OperationsReviewPeriod(meeting=locked, start=start, end=end, stated=True)
        else:
            if period.snapshot is not None or not review_periods.untouched(period):
                raise ValidationError(
                    {"start": "The report has been voted on or decided: its period no longer changes."}
                )
            period.start, period.end, period.stated = start, end, True
        period.save()
        services.agenda_refresh(actor=actor, meeting=locked)
    return period


# --- the report ---------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def _jobs(start, end) -> dict:
    from operations.jobs_selectors import job_health

    health = job_health(start, end)
    jobs = []
    for job in health["jobs"]:
        row = {k: job[k] for k in ("job_id", "name", "runs", "succeeded", "failed", "missed")}
        row["success_rate"] = _rate(row["succeeded"], row["runs"])
        jobs.append(row)
    # The jobs that went worst first: most failed and missed runs, then the lowest rate.
    jobs.sort(
        key=lambda j: (
            -(j["failed"] + j["missed"]),
            j["success_rate"] if j["success_rate"] is not None else 101,
            j["name"].lower(),
        )
    )
    return {
        "runs": health["runs"],
        "succeeded": health["succeeded"],
        "failed": health["failed"],
        "missed": health["missed"],
        "success_rate": _rate(health["succeeded"], health["runs"]),  # a percentage, as everywhere in the report
        "jobs": jobs[:MAX_ROWS],
        "jobs_total": len(jobs),
    }


def _services(user, start, end) -> list[dict]:
    """Events, alerts and incidents per service: two grouped queries, merged here."""
    from incidents.selectors import visible_incidents
    from operations.events_selectors import event_counts_by_service

    rows: dict = {}

    def row_for(service_id, name):
        return rows.setdefault(
            service_id,
            {
                "service_id": service_id,
                "service_name": name or "no service",
                "events": 0,
                "alerts": 0,
                "incidents_from_events": 0,
                "incidents": 0,
                "major_incidents": 0,
                "sla_breached": 0,
            },
        )

    for e in event_counts_by_service(start, end):
        row = row_for(e["service_id"], e["service_name"])
        row["events"] += e["events"]
        row["alerts"] += e["alerts"]
        row["incidents_from_events"] += e["incidents_opened"]
    grouped = (
        visible_incidents(user)
        .filter(created_at__gte=start, created_at__lt=end)
        .order_by()
        .values("service_id", "service__name")
        .annotate(
            n=Count("pk"), major=Count("pk", filter=Q(is_major=True)), breached=Count("pk", filter=Q(sla_breached=True))
        )
    )
    for g in grouped:
        row = row_for(g["service_id"], g["service__name"])
        row["incidents"] += g["n"]
        row["major_incidents"] += g["major"]
        row["sla_breached"] += g["breached"]
    return sorted(rows.values(), key=lambda r: (-r["incidents"], -r["alerts"], -r["events"], r["service_name"].lower()))


def _incidents_per_day(user, start, end) -> list[dict]:
    """Incidents opened per day of the period (the portal's time zone): one grouped query."""
    from django.db.models.functions import TruncDate

    from incidents.selectors import visible_incidents

    counted = {
        row["day"]: row["n"]
        for row in visible_incidents(user)
        .filter(created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at"))
        .order_by()
        .values("day")
        .annotate(n=Count("pk"))
    }
    first = timezone.localtime(start).date()
    last = timezone.localtime(end - dt.timedelta(microseconds=1)).date()
    days = [first + dt.timedelta(days=n) for n in range(min((last - first).days + 1, MAX_DAYS))]
    return [{"day": day.isoformat(), "incidents": counted.get(day, 0)} for day in days]


def _changes(user, start, end) -> dict:
    """Changes whose implementation ended in the period, by outcome. Backing out records
    the outcome "failed" (changes.workflow.back_out); those not yet reviewed are still
    "backed out"."""
    from changes.choices import ChangeStatus, Outcome
    from changes.selectors import visible_changes

    done = visible_changes(user).filter(actual_end__gte=start, actual_end__lt=end)
    counts = done.aggregate(
        implemented=Count("pk"),
        successful=Count("pk", filter=Q(outcome=Outcome.SUCCESSFUL)),
        with_issues=Count("pk", filter=Q(outcome=Outcome.SUCCESSFUL_WITH_ISSUES)),
        failed=Count("pk", filter=Q(outcome=Outcome.FAILED)),
        backed_out=Count("pk", filter=Q(status=ChangeStatus.BACKED_OUT)),
    )
    failed = [
        {
            "id": c.pk,
            "reference": c.reference,
            "title": c.title,
            "status": c.get_status_display(),
            "outcome": c.get_outcome_display(),
            "actual_end": c.actual_end,
            "url": c.get_absolute_url(),
        }
        for c in done.filter(outcome__in=[Outcome.FAILED, Outcome.SUCCESSFUL_WITH_ISSUES]).order_by(
            "-actual_end", "-pk"
        )[:MAX_ROWS]
    ]
    return {**counts, "failure_rate": _rate(counts["failed"], counts["implemented"]), "failed_changes": failed}


def _major_incidents(user, start, end) -> list[dict]:
    from incidents.selectors import visible_incidents

    qs = (
        visible_incidents(user)
        .filter(is_major=True)
        .filter(
            Q(created_at__gte=start, created_at__lt=end)
            | Q(outage_start__lt=end) & (Q(outage_end__isnull=True) | Q(outage_end__gt=start))
        )
        .select_related("service")
        .order_by("-created_at", "-pk")
    )
    return [
        {
            "id": i.pk,
            "reference": i.reference,
            "title": i.title,
            "service": i.service.name if i.service_id else "",
            "status": i.get_status_display(),
            "created_at": i.created_at,
            "url": i.get_absolute_url(),
        }
        for i in qs[:MAX_ROWS]
    ]


def _capacity(user, start, end) -> dict:
    from slas.capacity import visible_warnings
    from slas.models import WarningStatus

    warnings = visible_warnings(user)
    counts = warnings.aggregate(
        open=Count("pk", filter=Q(status=WarningStatus.OPEN)),
        raised=Count("pk", filter=Q(created_at__gte=start, created_at__lt=end)),
    )
    rows = [
        {
            "id": w.pk,
            "ci": w.ci.name,
            "metric": w.metric,
            "summary": w.summary,
            "current_value": w.current_value,
            "threshold_value": w.threshold_value,
            "forecast_at": w.forecast_at,
        }
        for w in warnings.filter(status=WarningStatus.OPEN).order_by("forecast_at", "pk")[:MAX_ROWS]
    ]
    return {**counts, "warnings": rows}


def build_report(period: OperationsReviewPeriod, user, *, now: dt.datetime | None = None) -> dict:
    """The operational health report of [period.start, period.end), live. JSON-ready
    (but for its datetimes), so that a decision can freeze it as it was shown."""
    from slas import reports

    start, end = period.start, period.end
    services = _services(user, start, end)
    return {
        "start": start,
        "end": end,
        "as_of": now or timezone.now(),
        "frozen": False,
        "jobs": _jobs(start, end),
        "services": services,
        "totals": {
            "events": sum(s["events"] for s in services),
            "alerts": sum(s["alerts"] for s in services),
            "incidents_from_events": sum(s["incidents_from_events"] for s in services),
            "incidents": sum(s["incidents"] for s in services),
            "major_incidents": sum(s["major_incidents"] for s in services),
            "sla_breached": sum(s["sla_breached"] for s in services),
            "sla_breached_clocks": reports.breaches(start=start, end=end).count(),
        },
        "incidents_per_day": _incidents_per_day(user, start, end),
        "changes": _changes(user, start, end),
        "major_incidents": _major_incidents(user, start, end),
        "capacity": _capacity(user, start, end),
    }


def _revive(value):
    """A frozen report read back: its datetimes are datetimes again."""
    if isinstance(value, dict):
        return {
            k: (parse_datetime(v) if k in DATETIME_KEYS and isinstance(v, str) else _revive(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_revive(v) for v in value]
    return value


def report_for(period: OperationsReviewPeriod, user) -> dict:
    """As decided (frozen) once the meeting has decided it; live until then."""
    if period.snapshot is not None:
        return {**_revive(period.snapshot), "frozen": True, "frozen_at": period.frozen_at}
    return build_report(period, user)


def meeting_report(meeting: Meeting, user) -> tuple[OperationsReviewPeriod, dict] | None:
    period = OperationsReviewPeriod.objects.filter(meeting=meeting).first()
    return (period, report_for(period, user)) if period is not None else None


# --- charts (server-drawn SVG, no JavaScript) ------------------------------------------------

BAR_WIDTH = 160
COLOURS = {"ok": "#2e7d32", "warn": "#ef8f00", "bad": "#c62828", "info": "#1565c0", "muted": "#90a4ae"}


def bar(parts: list[tuple[str, int | float]], scale: float, *, width: int = BAR_WIDTH) -> dict:
    """A horizontal stacked bar: each (colour, value) part as a segment, `scale` the value
    that fills the width (the largest of the chart, or the row's total for shares)."""
    x = 0.0
    segments = []
    for colour, value in parts:
        w = round(width * value / scale, 1) if scale and value else 0
        if w:
            segments.append({"x": round(x, 1), "w": max(w, 1), "fill": COLOURS[colour], "value": value})
            x += w
    return {"width": width, "segments": segments}


def sparkline(values: list[int], *, width: int = 320, height: int = 36) -> dict:
    """A line through the values, the largest at the top, as SVG polyline points."""
    top = max(values or [0]) or 1
    step = width / max(len(values) - 1, 1)
    points = [(round(i * step, 1), round(height - 2 - (height - 4) * v / top, 1)) for i, v in enumerate(values)]
    peak = max(range(len(values)), key=lambda i: values[i]) if values else None
    return {
        "width": width,
        "height": height,
        "points": " ".join(f"{x},{y}" for x, y in points),
        "peak": {"x": points[peak][0], "y": points[peak][1], "value": values[peak]}
        if peak is not None and values[peak]
        else None,
    }


def charts(report: dict) -> dict:
    """Bars beside the rows of the report: per service (events, incidents), per job (its
    runs by result), and the changes by outcome."""
    services = report["services"]
    most_events = max([s["events"] for s in services] or [0])
    most_incidents = max([s["incidents"] for s in services] or [0])
    ch = report["changes"]
    return {
        "services": {
            s["service_id"]: {
                "events": bar([("bad", s["alerts"]), ("muted", s["events"] - s["alerts"])], most_events),
                "incidents": bar(
                    [("bad", s["major_incidents"]), ("warn", s["incidents"] - s["major_incidents"])], most_incidents
                ),
            }
            for s in services
        },
        "jobs": {
            j["job_id"]: bar([("ok", j["succeeded"]), ("bad", j["failed"]), ("warn", j["missed"])], j["runs"])
            for j in report["jobs"]["jobs"]
        },
        "all_jobs": bar(
            [
                ("ok", report["jobs"]["succeeded"]),
                ("bad", report["jobs"]["failed"]),
                ("warn", report["jobs"]["missed"]),
            ],
            report["jobs"]["runs"],
            width=320,
        ),
        "changes": bar(
            [("ok", ch["successful"]), ("warn", ch["with_issues"]), ("bad", ch["failed"])], ch["implemented"], width=320
        ),
        "incidents_per_day": sparkline([d["incidents"] for d in report.get("incidents_per_day", [])]),
    }


def with_charts(report: dict) -> dict:
    """The report with each row's bar beside it, for the templates."""
    drawn = charts(report)
    for s in report["services"]:
        s["chart"] = drawn["services"][s["service_id"]]
    for j in report["jobs"]["jobs"]:
        j["chart"] = drawn["jobs"][j["job_id"]]
    return {**report, "charts": drawn}


# --- what the meeting page, meeting mode and the minutes show ----------------------------------


class Review(review_periods.PeriodReview):
    """One agenda's health report, built on first use and shared by its items."""

    period_label = OPS_PERIOD_LABEL

    def build_report(self, period: OperationsReviewPeriod) -> dict:
        return with_charts(report_for(period, self.user))


class ItemView(review_periods.ItemOptions):
    """What one agenda item shows of the Operations Review (templates/reviews/_operations_review_item.html)."""

    def __init__(self, review: Review, item):
        super().__init__(review.meeting, item)
        self.review = review
        self.is_period = item.model_label == OPS_PERIOD_LABEL

    @property
    def report(self):
        return self.review.report if self.is_period else None

    @property
    def period(self):
        return self.review.period if self.is_period else None


def attach(meeting: Meeting, items, *, user=None) -> Review:
    """Give every item of an Operations Review agenda its `operations_review` view
    (nothing is computed until a template reads it)."""
    review = Review(meeting, items, user if user is not None else meeting.chair)
    for item in items:
        item.operations_review = ItemView(review, item)
    return review


# --- the decision ---------------------------------------------------------------------------


def _summary(period: OperationsReviewPeriod, report: dict, reason: str) -> str:
    jobs, ch, totals = report["jobs"], report["changes"], report["totals"]
    lines = [
        f"The {ReviewKind.OPERATIONS.label} REV-{period.meeting_id} asked for follow-up on the operational health "
        f"of {period.start:%Y-%m-%d %H:%M} – {period.end:%Y-%m-%d %H:%M}.",
        "",
        f"Reason: {reason}",
        "",
    ]
    rate = f", {jobs['success_rate']} % succeeded" if jobs["success_rate"] is not None else ""
    lines.append(f"Jobs: {jobs['runs']} runs, {jobs['failed']} failed, {jobs['missed']} missed{rate}.")
    lines += [
        f"- {j['name']}: {j['failed']} failed, {j['missed']} missed of {j['runs']}"
        for j in jobs["jobs"]
        if j["failed"] or j["missed"]
    ][:10]
    lines.append(
        f"Events: {totals['events']} ({totals['alerts']} alerts); incidents opened: {totals['incidents']}, "
        f"{totals['major_incidents']} major, {totals['sla_breached']} breached an SLA."
    )
    lines += [
        f"- {s['service_name']}: {s['incidents']} incidents, {s['alerts']} alerts"
        for s in report["services"]
        if s["incidents"] or s["alerts"]
    ][:10]
    lines.append(
        f"Changes implemented: {ch['implemented']}, {ch['failed']} failed and backed out, {ch['with_issues']} with issues."
    )
    lines += [f"- {c['reference']} {c['title']} ({c['outcome']})" for c in ch["failed_changes"]][:10]
    if report["capacity"]["open"]:
        lines.append(f"Open capacity warnings: {report['capacity']['open']}.")
    return "\n".join(lines)


class _Encoder(DjangoJSONEncoder):
    def default(self, o):
        if isinstance(o, dt.datetime):
            return o.isoformat()  # to the microsecond (DjangoJSONEncoder cuts to milliseconds)
        return super().default(o)


def freeze(period: OperationsReviewPeriod, report: dict) -> None:
    """Store the report as the meeting decided on it: the minutes stay true."""
    period.snapshot = json.loads(json.dumps({k: v for k, v in report.items() if k != "frozen"}, cls=_Encoder))
    period.frozen_at = timezone.now()
    period.save()


def decided(*, period: OperationsReviewPeriod, option, actor, reason: str):
    """Called by reviews.services.decide within its transaction: the report freezes, and a
    follow-up opens its problem (for the services with incidents) or its draft RFC."""
    from mof.models import Service

    report = build_report(period, actor)
    opened = None
    if option.follow_up:
        hit = [
            s["service_id"]
            for s in report["services"]
            if s["service_id"] is not None and (s["incidents"] or s["alerts"])
        ]
        opened = review_periods.follow_up_open(
            period=period,
            kind=option.follow_up,
            actor=actor,
            reason=reason,
            title=f"Operational health {period.start:%Y-%m-%d} – {period.end:%Y-%m-%d}: follow-up (REV-{period.meeting_id})",
            description=_summary(period, report, reason),
            services=Service.objects.filter(pk__in=hit),
        )
    freeze(period, report)
    return opened
