"""Pages of availability and capacity management (Optimizing quadrant): availability per
service and its summary with a chart and CSV, the capacity dashboard with the forecast
chart, and the capacity warnings a manager turns into an RFC or dismisses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from mof import csv_io, policy
from mof.db_router import lagging_view
from mof.deletion import HistoryKept
from mof.models import Service
from mof.pagination import parse_id
from slas import availability as av
from slas import capacity
from slas.models import (
    BusinessCalendar,
    CapacityThreshold,
    CapacityWarning,
    OutageRecord,
    WarningStatus,
)

# --- helpers --------------------------------------------------------------------------


def duration(seconds) -> str:
    """'2 d 3 h', '1 h 30 min', '45 s'."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    d, rest = divmod(seconds, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    parts = [
        f"{d} d" if d else "",
        f"{h} h" if h else "",
        f"{m} min" if m and not d else "",
        f"{s} s" if s and not d and not h else "",
    ]
    return " ".join(p for p in parts if p) or "0 s"


def num(value) -> str:
    """12.5, 99.9, 100: no trailing zeros."""
    if value is None:
        return "—"
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return text
    return f"{value:.6g}"


def crossing_text(threshold, f, now) -> str:
    """'full in 23 days', 'full within a day', 'full now' (as the warnings say it)."""
    label = (threshold.label if threshold else "") or "threshold crossed"
    if f.already_crossed:
        return f"{label} now"
    days = f.days_left(now)
    if days is None:
        return ""
    if days < 0.5:
        return f"{label} within a day"
    n = round(days)
    return f"{label} in {n} day{'s' if n != 1 else ''}"


def _require(request, action):
    policy.require(request.user, action)


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in exc.message_dict.items())
    return " ".join(exc.messages)


class PeriodForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="Inclusive.")


def _period(request):
    """(start, end, form, error) from ?start=&end= (dates, end inclusive; default the last 30 days)."""
    form = PeriodForm(request.GET or None)
    error = None
    today = timezone.localdate()
    start_raw, end_raw = (
        request.GET.get("start") or (today - dt.timedelta(days=29)).isoformat(),
        request.GET.get("end") or today.isoformat(),
    )
    try:
        start, end = av.parse_period(start_raw, end_raw)
    except ValidationError as exc:
        error = _errors(exc)
        start, end = av.parse_period((today - dt.timedelta(days=29)).isoformat(), today.isoformat())
    if not request.GET:
        form = PeriodForm(initial={"start": start_raw, "end": end_raw})
    return start, end, form, error


# --- charts (server-rendered SVG) ----------------------------------------------------------


def availability_bars_svg(rows) -> str:
    """One horizontal bar per service (availability %), with its target as a tick. The scale
    starts at the lowest figure shown (at most 100 - 2 x the largest gap) so that 99.9 and
    99.5 look different."""
    rows = [r for r in rows if r.percentage is not None]
    if not rows:
        return ""
    lowest = min([float(r.percentage) for r in rows] + [float(r.target) for r in rows if r.target is not None])
    floor = max(0.0, min(99.0, lowest - max(0.5, (100 - lowest) * 0.25)))
    floor = float(int(floor))
    label_w, bar_w, row_h, top = 170, 460, 26, 24
    height = top + row_h * len(rows) + 24

    def x(pct):
        return label_w + bar_w * (float(pct) - floor) / (100 - floor)

    out = [
        f'<svg class="chart availability-chart" viewBox="0 0 {label_w + bar_w + 90} {height}" width="100%" role="img" '
        f'aria-label="Availability per service, scale {floor:g} to 100 percent" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{label_w}" y="14" class="axis">{floor:g} %</text><text x="{label_w + bar_w}" y="14" text-anchor="end" class="axis">100 %</text>',
    ]
    for i, r in enumerate(rows):
        y = top + i * row_h
        pct = float(r.percentage)
        cls = "met" if r.met else ("missed" if r.met is False else "none")
        out.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end" class="label">{escape(r.service.name[:24])}</text>'
        )
        out.append(f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}" class="track"/>')
        out.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{max(0.0, x(pct) - label_w):.2f}" height="{row_h - 8}" class="bar bar-{cls}">'
            f"<title>{escape(r.service.name)}: {r.percentage} %{f' (target {r.target} %)' if r.target is not None else ''}</title></rect>"
        )
        if r.target is not None:
            tx = x(r.target)
            out.append(
                f'<line x1="{tx:.2f}" x2="{tx:.2f}" y1="{y}" y2="{y + row_h - 2}" class="target"><title>target {r.target} %</title></line>'
            )
        out.append(f'<text x="{label_w + bar_w + 6}" y="{y + 15}" class="value">{pct:.3f} %</text>')
    out.append("</svg>")
    return mark_safe("".join(out))


def forecast_svg(f: capacity.Forecast, threshold, *, now=None) -> str:
    """Readings as dots, the fitted trend as a line extended to the crossing (or 30 days
    ahead), the threshold as a horizontal line and the crossing date as a vertical marker."""
    now = now or timezone.now()
    if not f.points:
        return ""
    w, h, left, right, top, bottom = 640, 260, 56, 16, 16, 34
    t0 = f.points[0][0]
    t_end = max(now, f.points[-1][0])
    if f.crossing_at:
        t_end = max(t_end, f.crossing_at + (f.crossing_at - t0) * 0.05)
    elif f.slope_per_second is not None:
        t_end = t_end + dt.timedelta(days=min(30, max(1, (t_end - t0).days)))
    values = [v for _, v in f.points] + [f.threshold]
    if f.slope_per_second is not None:
        values += [f.value_at(t0), f.value_at(t_end)]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or 1.0
    lo, hi = lo - pad, hi + pad
    span = max((t_end - t0).total_seconds(), 1)

    def px(t):
        return left + (w - left - right) * (t - t0).total_seconds() / span

    def py(v):
        return top + (h - top - bottom) * (hi - v) / (hi - lo)

    unit = escape(threshold.unit if threshold else "")
    label = escape((threshold.label if threshold else "") or "threshold")
    out = [
        f'<svg class="chart forecast-chart" viewBox="0 0 {w} {h}" width="100%" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'aria-label="{escape(f.metric)}: readings, trend and threshold {f.threshold:g}{unit}'
        f'{", crossing on " + f.crossing_at.strftime("%Y-%m-%d") if f.crossing_at else ""}">'
    ]
    for frac in (0, 0.5, 1):
        v = lo + (hi - lo) * frac
        out.append(
            f'<line x1="{left}" x2="{w - right}" y1="{py(v):.1f}" y2="{py(v):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{py(v) + 4:.1f}" text-anchor="end" class="axis">{v:.4g}{unit}</text>'
        )
    for t, anchor in ((t0, "start"), (t_end, "end")):
        out.append(f'<text x="{px(t):.1f}" y="{h - 10}" text-anchor="{anchor}" class="axis">{t:%Y-%m-%d}</text>')
    ty = py(f.threshold)
    out.append(
        f'<line x1="{left}" x2="{w - right}" y1="{ty:.1f}" y2="{ty:.1f}" class="threshold"/>'
        f'<text x="{w - right - 4}" y="{ty - 5:.1f}" text-anchor="end" class="threshold-label">{label} {f.threshold:g}{unit}</text>'
    )
    nx = px(now)
    out.append(
        f'<line x1="{nx:.1f}" x2="{nx:.1f}" y1="{top}" y2="{h - bottom}" class="now"/><text x="{nx + 3:.1f}" y="{top + 10}" class="axis">now</text>'
    )
    step = max(1, len(f.points) // 400)
    dots = "".join(
        f'<circle cx="{px(t):.1f}" cy="{py(v):.1f}" r="2.2"><title>{t:%Y-%m-%d %H:%M}: {v:g}{unit}</title></circle>'
        for t, v in f.points[::step]
    )
    out.append(f'<g class="readings">{dots}</g>')
    if f.slope_per_second is not None:
        trend_end = f.crossing_at if f.crossing_at and not f.already_crossed else t_end
        out.append(
            f'<line x1="{px(t0):.1f}" y1="{py(f.value_at(t0)):.1f}" x2="{px(trend_end):.1f}" y2="{py(f.value_at(trend_end)):.1f}" class="trend">'
            f"<title>trend {f.slope_per_day:+.3g}{unit} per day</title></line>"
        )
    if f.crossing_at:
        cx = px(f.crossing_at)
        out.append(
            f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{top}" y2="{h - bottom}" class="crossing"/>'
            f'<text x="{min(cx, w - right - 90) + 3:.1f}" y="{h - bottom - 6}" class="crossing-label">{label} {f.crossing_at:%Y-%m-%d}</text>'
        )
    out.append("</svg>")
    return mark_safe("".join(out))


# --- availability ------------------------------------------------------------------------


def _row(a: av.Availability) -> dict:
    return {
        "a": a,
        "service": a.service,
        "agreed": duration(a.agreed_seconds),
        "downtime": duration(a.downtime_seconds),
        "planned": duration(a.planned_seconds),
        "mtbf": duration(a.mtbf_seconds),
        "mtrs": duration(a.mtrs_seconds),
        "target": num(a.target) if a.target is not None else None,
    }


@login_required
@lagging_view
def availability_summary(request):
    _require(request, "availability.view")
    start, end, form, error = _period(request)
    rows = av.availability_report(request.user, start, end)
    return render(
        request,
        "slas/availability_summary.html",
        {
            "rows": [_row(a) for a in rows],
            "chart": availability_bars_svg(rows),
            "form": form,
            "error": error,
            "start": start,
            "end": end,
            "last_day": end - dt.timedelta(seconds=1),
            "until_now": end > timezone.now(),
            "query": request.GET.urlencode(),
            "missed": sum(1 for a in rows if a.met is False),
        },
    )


@login_required
@lagging_view
def availability_csv(request):
    _require(request, "availability.view")
    start, end, _form, error = _period(request)
    if error:
        return HttpResponse(error, status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="availability-{start:%Y%m%d}-{end:%Y%m%d}.csv"'
    writer = csv_io.SafeWriter(response)  # text cells are never formulas; figures stay numbers
    columns = [
        "service",
        "start",
        "end",
        "scheduled_seconds",
        "planned_seconds",
        "agreed_seconds",
        "downtime_seconds",
        "uptime_seconds",
        "availability_percentage",
        "target_percentage",
        "met",
        "failures",
        "mtbf_seconds",
        "mtrs_seconds",
        "mtbsi_seconds",
    ]
    writer.writerow(columns)
    for a in av.availability_report(request.user, start, end):
        d = a.as_dict()
        d["service"] = a.service.name
        d["start"], d["end"] = a.start.isoformat(), a.end.isoformat()
        writer.writerow([d[c] for c in columns])
    return response


class TargetForm(forms.Form):
    target_percentage = forms.DecimalField(
        required=False, max_digits=7, decimal_places=4, label="Availability target (%)", help_text="Empty: no target."
    )


class HoursForm(forms.Form):
    calendar = forms.ModelChoiceField(
        queryset=BusinessCalendar.objects.order_by("name"),
        required=False,
        empty_label="24x7 (no calendar)",
        label="Agreed service hours",
    )


class OutageForm(forms.Form):
    start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    end = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    reason = forms.CharField(max_length=300)
    planned = forms.BooleanField(
        required=False, help_text="Agreed maintenance: taken out of the agreed service time, not counted as downtime."
    )


@login_required
@lagging_view
def availability_service(request, pk):
    _require(request, "availability.view")
    service = get_object_or_404(Service, pk=pk)
    can_edit = policy.can(request.user, "availability.edit", service)
    target_form = TargetForm(prefix="target")
    hours_form = HoursForm(prefix="hours")
    outage_form = OutageForm(prefix="outage")
    if request.method == "POST":
        policy.require(request.user, "availability.edit", service)
        which = request.POST.get("form")
        try:
            if which == "target":
                target_form = TargetForm(request.POST, prefix="target")
                if target_form.is_valid():
                    av.availability_target_set(
                        actor=request.user,
                        service=service,
                        target_percentage=target_form.cleaned_data["target_percentage"],
                    )
                    messages.success(request, "Availability target saved.")
                    return redirect(request.get_full_path())
            elif which == "hours":
                hours_form = HoursForm(request.POST, prefix="hours")
                if hours_form.is_valid():
                    av.service_hours_set(
                        actor=request.user, service=service, calendar=hours_form.cleaned_data["calendar"]
                    )
                    messages.success(request, "Agreed service hours saved.")
                    return redirect(request.get_full_path())
            elif which == "outage":
                outage_form = OutageForm(request.POST, prefix="outage")
                if outage_form.is_valid():
                    av.outage_record_create(actor=request.user, service=service, **outage_form.cleaned_data)
                    messages.success(request, "Outage recorded.")
                    return redirect(request.get_full_path())
        except ValidationError as exc:
            form = {"target": target_form, "hours": hours_form, "outage": outage_form}.get(which)
            if form is not None:
                for field, errs in exc.message_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]:
                    form.add_error(field if field in form.fields else None, errs)
        status = 400
    else:
        status = 200
    start, end, period_form, error = _period(request)
    a = av.availability(service, start, end)
    calendar = av.service_calendar(service)
    if request.method != "POST" or not target_form.is_bound:
        target_form = TargetForm(
            prefix="target", initial={"target_percentage": a.target.normalize() if a.target is not None else None}
        )
    if request.method != "POST" or not hours_form.is_bound:
        hours_form = HoursForm(prefix="hours", initial={"calendar": calendar})
    return render(
        request,
        "slas/availability_service.html",
        {
            "service": service,
            "row": _row(a),
            "a": a,
            "calendar": calendar,
            "form": period_form,
            "error": error,
            "last_day": end - dt.timedelta(seconds=1),
            "until_now": end > timezone.now(),
            "chart": availability_bars_svg([a]),
            "outages": [
                {"o": o, "duration": duration(((o.end or timezone.now()) - o.start).total_seconds())} for o in a.outages
            ],
            "can_edit": can_edit,
            "target_form": target_form,
            "hours_form": hours_form,
            "outage_form": outage_form,
            "query": request.GET.urlencode(),
        },
        status=status,
    )


@login_required
@require_POST
def outage_delete(request, pk):
    record = get_object_or_404(OutageRecord.objects.select_related("service"), pk=pk)
    try:
        av.outage_record_delete(actor=request.user, record=record)
    except HistoryKept as exc:  # it would lose history: say why, delete nothing
        messages.error(request, str(exc))
        return redirect(reverse("availability_service", args=[record.service_id]))
    messages.success(request, "Outage record deleted.")
    return redirect("availability_service", record.service_id)


# --- capacity ---------------------------------------------------------------------------------


class ThresholdForm(forms.ModelForm):
    class Meta:
        model = CapacityThreshold
        fields = ["ci_class", "metric", "threshold", "direction", "unit", "label", "window_days", "warn_within_days"]
        labels = {
            "ci_class": "CI class",
            "window_days": "Trend window (days)",
            "warn_within_days": "Warn within (days)",
        }


@login_required
@lagging_view
def capacity_dashboard(request):
    _require(request, "capacity.view")
    now = timezone.now()
    can_edit = policy.can(request.user, "capacity.edit")
    threshold_form = ThresholdForm()
    status = 200
    if request.method == "POST":
        policy.require(request.user, "capacity.edit")
        threshold_form = ThresholdForm(request.POST)
        if threshold_form.is_valid():
            try:
                capacity.threshold_save(actor=request.user, **threshold_form.cleaned_data)
                messages.success(request, "Threshold saved.")
                return redirect("capacity_dashboard")
            except ValidationError as exc:
                for field, errs in exc.message_dict.items():
                    threshold_form.add_error(field if field in threshold_form.fields else None, errs)
        status = 400
    rows = capacity.forecasts(request.user, now=now)
    selected = None
    ci_id, metric = request.GET.get("ci", ""), request.GET.get("metric", "")
    if parse_id(ci_id) is not None and metric:
        ci = policy.visible_cis(request.user).filter(pk=parse_id(ci_id)).first()
        if ci is not None:
            th = capacity.threshold_for(ci, metric)
            f = capacity.forecast_for(ci, metric, threshold=th, now=now) if th else None
            if f is not None:
                selected = (th, ci, f)
    if selected is None and rows:
        th, ci, _summary = rows[0]  # the soonest crossing; the table's figures come without readings
        selected = (th, ci, capacity.forecast_for(ci, th.metric, threshold=th, now=now))
    table = [
        {
            "threshold": th,
            "ci": ci,
            "f": f,
            "days": f.days_left(now),
            "slope": f.slope_per_day,
            "now": num(f.current_value),
            "limit": num(th.threshold),
            "when": crossing_text(th, f, now),
        }
        for th, ci, f in rows
    ]
    selected_figures = (
        {
            "now": num(selected[2].current_value),
            "limit": num(selected[0].threshold),
            "when": crossing_text(selected[0], selected[2], now),
        }
        if selected
        else {}
    )
    return render(
        request,
        "slas/capacity_dashboard.html",
        {
            "rows": table,
            "selected_figures": selected_figures,
            "selected": selected,
            "chart": forecast_svg(selected[2], selected[0], now=now) if selected else "",
            "thresholds": CapacityThreshold.objects.select_related("ci_class"),
            "can_edit": can_edit,
            "threshold_form": threshold_form,
            "open_warnings": capacity.visible_warnings(request.user).filter(status=WarningStatus.OPEN).count(),
            "now": now,
        },
        status=status,
    )


@login_required
@require_POST
def threshold_delete(request, pk):
    try:
        capacity.threshold_delete(actor=request.user, threshold=get_object_or_404(CapacityThreshold, pk=pk))
    except HistoryKept as exc:  # it would lose history: say why, delete nothing
        messages.error(request, str(exc))
        return redirect(reverse("capacity_dashboard"))
    messages.success(request, "Threshold deleted.")
    return redirect("capacity_dashboard")


@login_required
@lagging_view
def capacity_csv(request):
    _require(request, "capacity.view")
    now = timezone.now()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="capacity-forecast-{now:%Y%m%d}.csv"'
    writer = csv_io.SafeWriter(response)
    writer.writerow(
        [
            "ci",
            "ci_class",
            "metric",
            "current_value",
            "threshold",
            "direction",
            "unit",
            "slope_per_day",
            "crossing_at",
            "days_left",
            "readings",
        ]
    )
    for th, ci, f in capacity.forecasts(request.user, now=now, limit=100000):
        days = f.days_left(now)
        # Names are text anyone may type, never a formula (SafeWriter); the figures stay numbers (a negative slope too).
        writer.writerow(
            [
                ci.name,
                th.ci_class.name,
                th.metric,
                f.current_value,
                th.threshold,
                th.direction,
                th.unit,
                "" if f.slope_per_day is None else f"{f.slope_per_day:.6g}",
                f.crossing_at.isoformat() if f.crossing_at else "",
                "" if days is None else f"{days:.2f}",
                len(f.points),
            ]
        )
    return response


CAPACITY_WARNING_EXPORT_COLUMNS = csv_io.columns(
    ("CI", "ci.name"),
    ("Metric", "metric"),
    ("Forecast", "summary"),
    ("Crossing at", "forecast_at"),
    ("Now", "current_value"),
    ("Threshold", "threshold_value"),
    ("Unit", "threshold.unit"),
    ("Trend / day", "slope_per_day"),
    ("Status", "get_status_display"),
    ("Change", "change.reference"),
    ("Decided by", "decided_by.username"),
    ("Decided", "decided_at"),
    ("Note", "decision_note"),
)


@login_required
@lagging_view
def capacity_warnings(request):
    _require(request, "capacity.view")
    status_filter = request.GET.get("status", WarningStatus.OPEN)
    qs = capacity.visible_warnings(request.user).order_by("forecast_at", "id")
    error = None
    if status_filter in WarningStatus.values:
        qs = qs.filter(status=status_filter)
    else:
        if status_filter != "all":
            error = f"No such status: choose one of {', '.join(WarningStatus.values)} or all."
        status_filter = ""
    if (
        csv_io.export_requested(request) and error is None
    ):  # every warning the tab selects, not the 500 shown; never a refused one as all
        return csv_io.export_csv(qs, CAPACITY_WARNING_EXPORT_COLUMNS, filename="capacity-warnings")
    warnings = list(qs[:500])
    for w in warnings:
        w.now_display = num(w.current_value)
    return render(
        request,
        "slas/capacity_warnings.html",
        {
            "warnings": warnings,
            "status": status_filter,
            "statuses": WarningStatus.choices,
            "error": error,
            "can_decide": policy.can(request.user, "capacity.decide"),
        },
        status=400 if error else 200,
    )


def _decide(request, pk, verb):
    warning = get_object_or_404(CapacityWarning, pk=pk)
    if not policy.can(request.user, "capacity.view"):
        raise PermissionDenied
    note = request.POST.get("note", "").strip()[:2000]
    try:
        if verb == "convert":
            change = capacity.warning_convert(actor=request.user, warning=warning, note=note)
            messages.success(
                request, f"Draft RFC {getattr(change, 'reference', change.pk)} filed for {warning.ci.name}."
            )
            return redirect(reverse("change_detail", args=[change.pk]))
        capacity.warning_dismiss(actor=request.user, warning=warning, note=note)
        messages.success(request, f"Warning on {warning.ci.name} {warning.metric} dismissed.")
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    return redirect("capacity_warnings")


@login_required
@require_POST
def warning_convert(request, pk):
    return _decide(request, pk, "convert")


@login_required
@require_POST
def warning_dismiss(request, pk):
    return _decide(request, pk, "dismiss")
