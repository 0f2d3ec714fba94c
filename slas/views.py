"""Pages of the Optimizing quadrant: business calendars, SLAs and OLAs (with their versions,
lifecycle and what-if), compliance reports, and the clocks partial shown on ticket pages.
Views are thin: forms parse, slas.services writes, slas.reports and slas.whatif read."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from mof import csv_io, policy
from mof.db_router import lagging_view
from mof.forms import add_service_errors
from mof.pagination import paginate, parse_positive_int
from mof.views import _get_or_404, history_rows, quadrant_page, transition_panel, transition_view
from slas import engine, reports, services
from slas.forms import CalendarForm, NewVersionForm, PeriodForm, ReportForm, SLAForm, format_duration
from slas.models import (
    BusinessCalendar,
    ClockState,
    RecomputeJob,
    ServiceLevelAgreement,
    SLAClock,
    SLAStatus,
    SLAVersion,
    TicketEvent,
)
from slas.whatif import what_if

PAGE_SIZE = 50


def _require(user, action: str, message: str) -> None:
    if not policy.can(user, action):
        raise PermissionDenied(message)


# --- landing ---------------------------------------------------------------------------


@login_required
def landing(request):
    """The Optimizing quadrant: its SMFs, what exists for each, and the review it ends in."""
    stats = []
    if policy.can(request.user, "sla.view"):
        by_status = dict(
            ServiceLevelAgreement.objects.order_by()
            .values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        since = timezone.now() - dt.timedelta(days=30)
        stats = [
            {
                "label": "active SLAs and OLAs",
                "value": by_status.get(SLAStatus.ACTIVE, 0),
                "url": reverse("sla_list") + "?status=active",
            },
            {
                "label": "awaiting the SLA Review",
                "value": by_status.get(SLAStatus.IN_REVIEW, 0),
                "url": reverse("sla_list") + "?status=in_review",
            },
            {
                "label": "breaches in the last 30 days",
                "value": SLAClock.objects.filter(state=ClockState.BREACHED, breached_at__gte=since).count(),
                "url": reverse("sla_reports"),
            },
            {"label": "business calendars", "value": BusinessCalendar.objects.count(), "url": reverse("calendar_list")},
        ]
    stats += _availability_capacity_stats(request.user)
    return quadrant_page(request, "optimizing", extra_stats=stats)


def _availability_capacity_stats(user) -> list[dict]:
    """Links from the Optimizing landing page to availability and capacity management."""
    from slas.models import AvailabilityTarget, CapacityThreshold, CapacityWarning, WarningStatus

    stats = []
    if policy.can(user, "availability.view"):
        stats.append(
            {
                "label": "services with an availability target",
                "value": AvailabilityTarget.objects.count(),
                "url": reverse("availability_summary"),
            }
        )
    if policy.can(user, "capacity.view"):
        stats += [
            {
                "label": "capacity thresholds",
                "value": CapacityThreshold.objects.count(),
                "url": reverse("capacity_dashboard"),
            },
            {
                "label": "open capacity warnings",
                "value": CapacityWarning.objects.filter(status=WarningStatus.OPEN).count(),
                "url": reverse("capacity_warnings"),
            },
        ]
    return stats


# --- business calendars ------------------------------------------------------------------


def _calendar_get(user, pk):
    if not policy.can(user, "calendar.view"):
        raise PermissionDenied("Only IT staff see business calendars.")
    return BusinessCalendar.objects.prefetch_related("intervals", "own_holidays").get(pk=pk)


CALENDAR_EXPORT_COLUMNS = csv_io.columns(
    ("Calendar", "name"),
    ("Time zone", "time_zone"),
    ("Country", "country"),
    ("Subdivision", "subdivision"),
    ("Working days", lambda c: len({i.weekday for i in c.intervals.all()})),
    (
        "Working time a week",
        lambda c: (
            format_duration(sum(_seconds(i.start, i.end) for i in c.intervals.all()))
            if c.intervals.all()
            else "no working time"
        ),
    ),
    ("SLAs using it", "slas"),
)


@login_required
def calendar_list(request):
    _require(request.user, "calendar.view", "Only IT staff see business calendars.")
    calendars = (
        BusinessCalendar.objects.prefetch_related("intervals")
        .annotate(slas=Count("sla_versions__sla", distinct=True))
        .order_by("name")
    )
    if csv_io.export_requested(request):
        return csv_io.export_csv(calendars, CALENDAR_EXPORT_COLUMNS, filename="business-calendars")
    rows = []
    for calendar in calendars:
        hours = sum(_seconds(i.start, i.end) for i in calendar.intervals.all())
        rows.append(
            {
                "calendar": calendar,
                "weekly": format_duration(hours) if hours else "no working time",
                "days": len({i.weekday for i in calendar.intervals.all()}),
            }
        )
    return render(
        request, "slas/calendar_list.html", {"rows": rows, "can_edit": policy.can(request.user, "calendar.edit")}
    )


def _seconds(start: dt.time, end: dt.time) -> int:
    end_s = 86400 if end == dt.time(0) else end.hour * 3600 + end.minute * 60 + end.second
    return end_s - (start.hour * 3600 + start.minute * 60 + start.second)


@login_required
def calendar_detail(request, pk):
    calendar = _get_or_404(_calendar_get, request.user, pk)
    by_day = {d: [] for d in range(7)}
    for interval in calendar.intervals.all():
        by_day[interval.weekday].append(interval)
    today = timezone.localdate()
    spec = engine.calendar_spec(calendar)
    upcoming = sorted((d, n) for d, n in spec.holidays.items() if today <= d <= today + dt.timedelta(days=366))
    from slas.forms import WEEKDAYS

    return render(
        request,
        "slas/calendar_detail.html",
        {
            "calendar": calendar,
            "week": [{"day": WEEKDAYS[d], "intervals": by_day[d]} for d in range(7)],
            "upcoming": upcoming,
            "slas": ServiceLevelAgreement.objects.filter(versions__calendar=calendar).distinct().order_by("name"),
            "history": history_rows(calendar, user=request.user),
            "can_edit": policy.can(request.user, "calendar.edit", calendar),
            "recompute": services.latest_recompute(calendar=calendar),
        },
    )


@login_required
def recompute_progress(request, pk):
    """The progress of a calendar or SLA edit's recomputation (the htmx partial the page polls)."""
    job = RecomputeJob.objects.select_related("started_by", "version", "calendar", "sla").filter(pk=pk).first()
    if job is None:
        raise Http404("No such recomputation.")
    if not policy.can(request.user, "sla.view" if job.sla_id else "calendar.view"):
        raise PermissionDenied("Only IT staff follow recomputations.")
    return render(request, "slas/_recompute.html", {"recompute": job})


def _calendar_form_page(request, calendar):
    form = CalendarForm(request.POST or None, calendar=calendar)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.calendar_save(actor=request.user, calendar=calendar, **form.service_kwargs())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            note = " Clocks that use it are being recomputed." if calendar is not None else ""
            messages.success(request, f"Calendar {saved} saved.{note}")
            return redirect("calendar_detail", saved.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "slas/calendar_form.html", {"form": form, "calendar": calendar}, status=status)


@login_required
def calendar_create(request):
    _require(request.user, "calendar.edit", "Only managers define business calendars.")
    return _calendar_form_page(request, None)


@login_required
def calendar_edit(request, pk):
    calendar = _get_or_404(_calendar_get, request.user, pk)
    if not policy.can(request.user, "calendar.edit", calendar):
        raise PermissionDenied("Only managers change business calendars.")
    return _calendar_form_page(request, calendar)


# --- SLAs and OLAs ------------------------------------------------------------------------


def _sla_get(user, pk):
    if not policy.can(user, "sla.view"):
        raise PermissionDenied("Only IT staff see SLAs and OLAs.")
    return ServiceLevelAgreement.objects.select_related("owner").get(pk=pk)


def _current_versions(slas) -> dict:
    """The newest version of each agreement, in one query."""
    current = {}
    for version in (
        SLAVersion.objects.filter(sla__in=[s.pk for s in slas])
        .select_related("calendar", "service")
        .order_by("sla_id", "-number")
    ):
        current.setdefault(version.sla_id, version)
    return current


def _attach_current_versions(slas) -> None:
    current = _current_versions(slas)
    for sla in slas:
        sla.listed_version = current.get(sla.pk)


def _version_value(read):
    return lambda sla: read(sla.listed_version) if sla.listed_version is not None else None


SLA_EXPORT_COLUMNS = csv_io.columns(
    ("Name", "name"),
    ("Kind", lambda sla: sla.kind.upper()),
    ("Status", "get_status_display"),
    ("Service", _version_value(lambda v: v.service.name if v.service else "every service")),
    ("Priorities", _version_value(lambda v: [f"P{p}" for p in v.priorities or []])),
    ("Respond", _version_value(lambda v: format_duration(v.response_seconds))),
    ("Resolve", _version_value(lambda v: format_duration(v.resolution_seconds))),
    ("Calendar", _version_value(lambda v: v.calendar.name)),
    ("Target %", _version_value(lambda v: v.target_percentage)),
    ("Versions", "version_count"),
    ("Owner", "owner.username"),
)


@login_required
def sla_list(request):
    _require(request.user, "sla.view", "Only IT staff see SLAs and OLAs.")
    qs = (
        ServiceLevelAgreement.objects.select_related("owner").annotate(version_count=Count("versions")).order_by("name")
    )
    kind, status, q = request.GET.get("kind", ""), request.GET.get("status", ""), request.GET.get("q", "").strip()
    errors = []
    if kind in dict(ServiceLevelAgreement.KINDS):
        qs = qs.filter(kind=kind)
    elif kind:
        errors.append(f"No such kind: choose one of {', '.join(dict(ServiceLevelAgreement.KINDS))}, or all.")
    if status in SLAStatus.values:
        qs = qs.filter(status=status)
    elif status:
        errors.append(f"No such status: choose one of {', '.join(SLAStatus.values)}, or all.")
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(description__icontains=q))
    if errors:  # a refused filter lists nothing and is never exported as no filter
        qs = qs.none()
    elif csv_io.export_requested(request):
        return csv_io.export_csv(qs, SLA_EXPORT_COLUMNS, filename="slas-olas", prepare=_attach_current_versions)
    page = paginate(qs, page=parse_positive_int(request.GET.get("page"), 1), page_size=PAGE_SIZE)
    current = _current_versions(page.items)
    rows = [{"sla": s, "version": current.get(s.pk), **_targets(current.get(s.pk))} for s in page.items]
    return render(
        request,
        "slas/sla_list.html",
        {
            "page": page,
            "rows": rows,
            "kind": kind,
            "status": status,
            "q": q,
            "kinds": ServiceLevelAgreement.KINDS,
            "statuses": SLAStatus.choices,
            "can_edit": policy.can(request.user, "sla.edit"),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _targets(version) -> dict:
    if version is None:
        return {"response": "", "resolution": ""}
    return {
        "response": format_duration(version.response_seconds),
        "resolution": format_duration(version.resolution_seconds),
    }


@login_required
def sla_create(request):
    _require(request.user, "sla.edit", "Only managers define SLAs and OLAs.")
    initial = {"kind": request.GET.get("kind")} if request.GET.get("kind") in dict(ServiceLevelAgreement.KINDS) else {}
    form = SLAForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sla = services.sla_create(
                actor=request.user,
                name=data["name"],
                kind=data["kind"],
                description=data["description"],
                **form.version_fields(),
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"{sla.get_kind_display().split(' ')[0]} {sla} created as a draft: submit it to the SLA Review to activate it.",
            )
            return redirect(sla)
    status = 400 if request.method == "POST" else 200
    return render(request, "slas/sla_form.html", {"form": form, "sla": None}, status=status)


def _sla_detail_context(request, sla, panel=None) -> dict:
    from incidents.choices import HoldReason

    versions = list(
        sla.versions.select_related("calendar", "service", "assignment_group", "created_by").order_by("-number")
    )
    per_version = {
        (r["version_id"], r["state"]): r["n"]
        for r in SLAClock.objects.filter(version__sla=sla)
        .order_by()
        .values("version_id", "state")
        .annotate(n=Count("pk"))
    }
    for version in versions:
        version.targets = _targets(version)
        version.pause_labels = [dict(HoldReason.choices).get(r, r) for r in version.pause_on or []]
        version.clock_counts = {state: per_version.get((version.pk, state), 0) for state in ClockState.values}
        version.clock_total = sum(version.clock_counts.values())
    can_edit = policy.can(request.user, "sla.edit", sla)
    return {
        "sla": sla,
        "versions": versions,
        "current": versions[0] if versions else None,
        "can_edit": can_edit and sla.status != SLAStatus.RETIRED,
        "show_whatif": can_edit and sla.status in (SLAStatus.DRAFT, SLAStatus.IN_REVIEW) and bool(versions),
        "history": history_rows(sla, user=request.user),
        "recompute": services.latest_recompute(sla=sla),
        **(panel or transition_panel(request, sla, url_name="sla_transition")),
    }


@login_required
def sla_detail(request, pk):
    sla = _get_or_404(_sla_get, request.user, pk)
    return render(request, "slas/sla_detail.html", _sla_detail_context(request, sla))


def _render_sla_page(request, sla, panel, status):
    return render(request, "slas/sla_detail.html", _sla_detail_context(request, sla, panel), status=status)


@login_required
def sla_transition(request, pk, name):
    return transition_view(
        request,
        model=ServiceLevelAgreement,
        pk=pk,
        name=name,
        get_object=_sla_get,
        url_name="sla_transition",
        render_page=_render_sla_page,
    )


@login_required
def sla_edit(request, pk):
    """Editing makes a new version; with "What if?" the candidate is replayed, nothing saved."""
    sla = _get_or_404(_sla_get, request.user, pk)
    if not policy.can(request.user, "sla.edit", sla) or sla.status == SLAStatus.RETIRED:
        raise PermissionDenied("Only managers edit SLAs and OLAs; a retired one is not edited.")
    current = sla.current_version
    form = NewVersionForm(request.POST or None, version=current)
    result = None
    if request.method == "POST" and form.is_valid():
        fields = form.version_fields()
        if "whatif" in request.POST:
            period = PeriodForm({})
            period.is_valid()
            result = what_if(
                {**fields, "ticket_type": current.ticket_type if current else "incidents.incident"}, *period.bounds()
            )
        else:
            try:
                version = services.sla_new_version(
                    actor=request.user, sla=sla, retarget_running=form.cleaned_data["retarget_running"], **fields
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                moved = (
                    " Running clocks move to it in the background: the progress shows below."
                    if form.cleaned_data["retarget_running"]
                    else " Running clocks keep their version; new clocks use this one."
                )
                messages.success(request, f"{sla} version {version.number} saved.{moved}")
                return redirect(sla)
    status = 400 if request.method == "POST" and result is None and form.errors else 200
    return render(
        request,
        "slas/sla_form.html",
        {
            "form": form,
            "sla": sla,
            "current": current,
            "whatif": result,
            "target_percentage": form.cleaned_data.get("target_percentage") if result else None,
        },
        status=status,
    )


@login_required
def sla_whatif(request, pk):
    """How the SLA (a version of it, the latest by default) would have scored on the tickets
    of a past period. With htmx: the result partial only."""
    sla = _get_or_404(_sla_get, request.user, pk)
    if not policy.can(request.user, "sla.edit", sla):
        raise PermissionDenied("Only managers run a what-if.")
    versions = sla.versions.select_related("calendar").order_by("-number")
    number = parse_positive_int(request.GET.get("version"), 0)
    version = versions.filter(number=number).first() if number else versions.first()
    if version is None:
        raise Http404("This SLA has no version yet.")
    form = PeriodForm(request.GET)
    result = what_if(version, *form.bounds()) if form.is_valid() else None
    context = {"sla": sla, "version": version, "versions": versions, "form": form, "whatif": result}
    template = "slas/_whatif.html" if request.htmx else "slas/whatif.html"
    return render(request, template, context, status=200 if result is not None else 400)


# --- reports ------------------------------------------------------------------------------


def _report_form(request):
    _require(request.user, "sla.view", "Only IT staff see compliance reports.")
    form = ReportForm(request.GET)
    return form, form.is_valid()


def _filters(form) -> dict:
    start, end = form.bounds()
    return {
        "start": start,
        "end": end,
        "sla": form.cleaned_data.get("sla"),
        "service": form.cleaned_data.get("service"),
    }


@login_required
@lagging_view
def report_page(request):
    form, ok = _report_form(request)
    context = {"form": form}
    if ok:
        filters = _filters(form)
        if request.GET.get("format") == "csv":
            return _csv(reports.compliance_csv(reports.compliance(**filters)), "compliance", form)
        rows = reports.compliance(**filters)
        by = form.cleaned_data.get("by") or "week"
        trend_rows = reports.trend(by=by, **filters)
        page = paginate(
            reports.breaches(**filters), page=parse_positive_int(request.GET.get("page"), 1), page_size=PAGE_SIZE
        )
        query = request.GET.copy()
        query.pop("page", None)
        query.pop("format", None)
        context.update(
            {
                "rows": rows,
                "totals": reports.totals(rows),
                "trend": trend_rows,
                "chart": reports.trend_chart(trend_rows),
                "by": by,
                "page": page,
                "breach_rows": reports.breach_rows(page.items),
                "query": query.urlencode(),
            }
        )
    return render(request, "slas/reports.html", context, status=200 if ok else 400)


@login_required
@lagging_view
def report_csv(request, table):
    form, ok = _report_form(request)
    if not ok:
        return HttpResponse(
            "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()), status=400, content_type="text/plain"
        )
    filters = _filters(form)
    if table == "compliance":
        body = reports.compliance_csv(reports.compliance(**filters))
    elif table == "trend":
        body = reports.trend_csv(reports.trend(by=form.cleaned_data.get("by") or "week", **filters))
    elif table == "breaches":
        body = reports.breaches_csv(reports.breaches(**filters))
    else:
        raise Http404("No such report.")
    return _csv(body, table, form)


def _csv(body: str, table: str, form) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="sla-{table}-{form.cleaned_data["start"]}-{form.cleaned_data["end"]}.csv"'
    )
    return response


# --- a ticket's clocks (the partial templates/slas/_clocks.html) -----------------------


class ClockEntry(tuple):
    """(clock, timeline rows), with what the partial draws as attributes."""

    def __new__(cls, clock, rows, **view):
        entry = super().__new__(cls, (clock, rows))
        entry.__dict__.update(view, clock=clock, rows=rows)
        return entry


KIND_LABELS = {
    "counting": "counting",
    "paused": "paused",
    "not_counting": "not counting",
    "stopped": "stopped",
    "cancelled": "cancelled",
}


def clock_context(ticket, now=None, *, user=None) -> list[ClockEntry]:
    """The ticket's SLA clocks, each with its timeline (the rows of slas.services.clock_timeline:
    the same replay, with the ticket's events read once for all its clocks) and the geometry
    of its bar. Use as `{% include "slas/_clocks.html" with clocks=sla_clocks %}`. With `user`,
    the SLA names link to their pages only for people who may read SLAs. Two queries."""
    now = now or timezone.now()
    links = user is None or policy.can(user, "sla.view")
    ticket_type = ticket._meta.label_lower
    clocks = list(
        SLAClock.objects.filter(ticket_type=ticket_type, ticket_id=ticket.pk)
        .select_related("version__sla", "version__calendar")
        .order_by("version__sla__name", "-metric", "pk")
    )
    if not clocks:
        return []
    events = list(TicketEvent.objects.filter(ticket_type=ticket_type, ticket_id=ticket.pk).order_by("at", "id"))
    live, superseded = [], []
    for clock in clocks:
        sla_url = clock.version.sla.get_absolute_url() if links else None
        if clock.state == ClockState.CANCELLED:
            superseded.append(ClockEntry(clock, [], sla_url=sla_url, **_cancelled_view(clock)))
            continue
        figures = services._figures(clock, events=events, now=now)
        rows = engine.timeline(figures, engine.engine_for(clock.version.calendar), now=now)
        live.append(ClockEntry(clock, rows, sla_url=sla_url, **_clock_view(clock, figures, rows, now)))
    return live + superseded


def _cancelled_view(clock) -> dict:
    return {
        "state": "cancelled",
        "state_label": "Cancelled",
        "cancelled": True,
        "metric_label": reports.METRIC_LABELS.get(clock.metric, clock.metric),
        "summary": f"cancelled {timezone.localtime(clock.stopped_at):%Y-%m-%d %H:%M}: no longer applies (the ticket changed, e.g. its priority)"
        if clock.stopped_at
        else "cancelled",
    }


def _clock_view(clock, figures, rows, now) -> dict:
    target = clock.version.target(clock.metric) or clock.target_seconds
    elapsed = figures.elapsed_seconds
    start = figures.started_at
    finish = figures.stopped_at or now
    due = figures.due_at
    if due is None and figures.stopped_at is not None and elapsed < target:
        # Met: where the target would have fallen had the clock kept counting (for scale).
        due = engine.engine_for(clock.version.calendar).add(figures.stopped_at, target - elapsed)
    span_end = max(finish, due or finish)
    total = max((span_end - start).total_seconds(), 1)

    def pos(at) -> float:
        return round(max(0.0, min(100.0, (at - start).total_seconds() / total * 100)), 3)

    segments = []
    for row in rows:
        end = (
            row["end"]
            or (
                figures.stopped_at
                if row["kind"] in ("stopped", "cancelled") and figures.stopped_at and row["start"] < figures.stopped_at
                else None
            )
            or now
        )
        duration = format_duration(int((end - row["start"]).total_seconds()))
        row["duration"], row["label"] = duration, KIND_LABELS.get(row["kind"], row["kind"])
        pieces = [(row["start"], end, False)]
        if row["kind"] == "counting" and figures.breached_at and row["start"] < figures.breached_at < end:
            pieces = [
                (row["start"], figures.breached_at, False),
                (figures.breached_at, end, True),
            ]  # past the due time: late
        elif row["kind"] == "counting" and figures.breached_at and row["start"] >= figures.breached_at:
            pieces = [(row["start"], end, True)]
        for a, b, late in pieces:
            left = pos(a)
            segments.append(
                {
                    **row,
                    "left": left,
                    "width": round(max(pos(b) - left, 0.15), 3),
                    "late": late,
                    "ongoing": row["end"] is None,
                }
            )
    marks = []
    for pct in clock.version.thresholds:
        at = figures.crossings.get(pct)
        if at is None and pct == 100 and due is not None:
            marks.append({"pct": 100, "at": due, "left": pos(due), "passed": False, "label": "target"})
        if at is None:
            continue
        marks.append(
            {
                "pct": pct,
                "at": at,
                "left": pos(at),
                "passed": at <= (figures.stopped_at or now),
                "label": "due" if pct == 100 else f"{pct} %",
            }
        )
    state = figures.state
    remaining = target - elapsed
    if state == "breached":
        summary = (
            f"breached {timezone.localtime(figures.breached_at):%a %d %b %H:%M}, over by {format_duration(-remaining)}"
            if figures.breached_at
            else f"breached, over by {format_duration(-remaining)}"
        )
    elif state == "met":
        summary = f"met with {format_duration(remaining)} to spare"
    elif state == "paused":
        summary = f"paused; {format_duration(remaining)} left when it counts again"
    else:
        summary = f"{format_duration(remaining)} left" + (
            f", due {timezone.localtime(figures.due_at):%a %d %b %H:%M}" if figures.due_at else ""
        )
    next_warning = next((m for m in marks if not m["passed"]), None)
    return {
        "state": state,
        "state_label": state.capitalize(),
        "cancelled": False,
        "metric_label": reports.METRIC_LABELS.get(clock.metric, clock.metric),
        "target": format_duration(target),
        "elapsed": format_duration(elapsed),
        "remaining": format_duration(max(remaining, 0)),
        "overrun": format_duration(max(-remaining, 0)),
        "used_pct": min(round(elapsed * 100 / target), 999) if target else 0,
        "due_at": figures.due_at,
        "breached_at": figures.breached_at,
        "started_at": start,
        "stopped_at": figures.stopped_at,
        "segments": segments,
        "marks": marks,
        "now_left": pos(now) if figures.stopped_at is None else None,
        "summary": summary,
        "next_warning": next_warning,
        "changes": [r for r in rows if r["kind"] in ("paused", "stopped", "cancelled")] or [],
    }
