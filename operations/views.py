"""Pages of the Operating quadrant: freeze and maintenance windows, the change
calendar (month, week, list) and the iCalendar feed with its per-user secret address."""

import calendar as pycalendar
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from mof import csv_io, policy
from mof.db_router import lagging_reads, lagging_view
from mof.deletion import HistoryKept
from mof.models import Service
from mof.pagination import BoundedPage, parse_id, parse_positive_int
from mof.views import (
    _get_or_404,
    history_rows,
    quadrant_page,
    transition_panel,
    transition_view,
)
from operations import calendar, ical, selectors, services
from operations.forms import (
    COMMON_ZONES,
    FreezeForm,
    MaintenanceWindowForm,
    add_model_errors,
)
from operations.models import FreezeWindow, MaintenanceWindow
from operations.schedule import WEEKDAYS, describe


def _freezes(user):
    return (
        FreezeWindow.objects.prefetch_related("services").select_related("proposed_by")
        if policy.can(user, "freeze.view")
        else FreezeWindow.objects.none()
    )


def _maintenance(user):
    return (
        MaintenanceWindow.objects.select_related("service", "ci")
        if policy.can(user, "window.view")
        else MaintenanceWindow.objects.none()
    )


@login_required
def landing(request):
    """The Operating quadrant: its SMFs, what exists for each, and the review it ends in."""
    from changes.selectors import visible_changes

    now = timezone.now()
    stats = [
        {
            "label": "changes on the calendar in the next 30 days",
            "value": visible_changes(request.user)
            .filter(status__in=SCHEDULED, planned_start__lt=now + dt.timedelta(days=30), planned_end__gt=now)
            .count(),
            "url": reverse("operations_calendar"),
        }
    ]
    if policy.can(request.user, "freeze.view"):
        stats.append(
            {
                "label": "change freezes in force",
                "value": _freezes(request.user).in_force().count(),
                "url": reverse("operations_windows"),
            }
        )
    return quadrant_page(request, "operating", extra_stats=stats)


FREEZE_EXPORT_COLUMNS = csv_io.columns(
    ("Name", "name"),
    ("Status", "get_status_display"),
    ("From", "start"),
    ("To", "end"),
    ("Services", lambda f: [s.name for s in f.services.all()] or "everything"),
    ("Proposed by", "proposed_by.username"),
    ("Reason", "reason"),
)
MAINTENANCE_EXPORT_COLUMNS = csv_io.columns(
    ("Name", "name"),
    ("Service", "service.name"),
    ("CI", "ci.name"),
    ("Days", lambda w: [WEEKDAYS.get(d, str(d)) for d in w.weekdays or []]),
    ("Starts", "start_time"),
    ("Minutes", "duration_minutes"),
    ("Time zone", "time_zone"),
)


@login_required
def windows(request):
    # The page lists two tables: ?export=freezes or ?export=maintenance writes all of one.
    if csv_io.export_requested(request, "freezes"):
        return csv_io.export_csv(
            _freezes(request.user).order_by("-start"), FREEZE_EXPORT_COLUMNS, filename="change-freezes"
        )
    if csv_io.export_requested(request, "maintenance"):
        return csv_io.export_csv(_maintenance(request.user), MAINTENANCE_EXPORT_COLUMNS, filename="maintenance-windows")
    maintenance = list(_maintenance(request.user)[:500])
    for window in maintenance:
        window.weekday_names = ", ".join(WEEKDAYS.get(d, str(d)) for d in window.weekdays or [])
    return render(
        request,
        "operations/windows.html",
        {
            "freezes": list(_freezes(request.user).order_by("-start")[:200]),
            "maintenance": maintenance,
            "can_view": policy.can(request.user, "freeze.view") or policy.can(request.user, "window.view"),
            "can_add_freeze": policy.can(request.user, "freeze.add"),
            "can_edit_windows": policy.can(request.user, "window.edit"),
        },
    )


def _freeze_get(user, pk):
    return _freezes(user).get(pk=pk)


def _freeze_context(request, freeze, panel=None):
    return {
        "freeze": freeze,
        "services": list(freeze.services.all()),
        "history": history_rows(freeze, user=request.user),
        **(panel or transition_panel(request, freeze, url_name="freeze_transition")),
    }


@login_required
def freeze_detail(request, pk):
    freeze = _get_or_404(_freeze_get, request.user, pk)
    return render(request, "operations/freeze_detail.html", _freeze_context(request, freeze))


@login_required
def freeze_transition(request, pk, name):
    return transition_view(
        request,
        model=FreezeWindow,
        pk=pk,
        name=name,
        get_object=_freeze_get,
        url_name="freeze_transition",
        success_url=lambda obj: reverse("freeze_detail", args=[obj.pk]),
        render_page=lambda request, obj, panel, status: render(
            request, "operations/freeze_detail.html", _freeze_context(request, obj, panel), status=status
        ),
    )


# --- freezes and maintenance windows: forms ------------------------------------------


@login_required
def freeze_create(request):
    if not policy.can(request.user, "freeze.add"):
        raise PermissionDenied("Only managers may propose change freezes.")
    form = FreezeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            freeze = services.freeze_create(actor=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_model_errors(form, exc)
        else:
            messages.success(request, f"Change freeze {freeze} proposed: a manager approves it to put it in force.")
            return redirect(freeze)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "operations/form.html",
        {"form": form, "title": "Propose a change freeze", "cancel": reverse("operations_windows")},
        status=status,
    )


def _window_get(user, pk):
    return selectors.maintenance_list(user=user).get(pk=pk)


def _window_initial(window):
    return {
        f: getattr(window, f)
        for f in ("name", "service", "ci", "weekdays", "start_time", "duration_minutes", "time_zone")
    }


@login_required
def maintenance_create(request):
    return _maintenance_form(request, None)


@login_required
def maintenance_edit(request, pk):
    return _maintenance_form(request, _get_or_404(_window_get, request.user, pk))


def _maintenance_form(request, window):
    if not policy.can(request.user, "window.edit", window):
        raise PermissionDenied("Only managers may edit maintenance windows.")
    form = MaintenanceWindowForm(request.POST or None, initial=_window_initial(window) if window else None)
    if request.method == "POST" and form.is_valid():
        try:
            if window is None:
                window = services.maintenance_create(actor=request.user, **form.cleaned_data)
            else:
                window = services.maintenance_update(actor=request.user, window=window, **form.cleaned_data)
        except ValidationError as exc:
            add_model_errors(form, exc)
        else:
            messages.success(request, f"Maintenance window {window} saved: {describe(window)}.")
            return redirect(reverse("operations_windows") + f"#window-{window.pk}")
    status = 400 if request.method == "POST" else 200
    title = f"Edit {window.name}" if window else "New maintenance window"
    return render(
        request,
        "operations/form.html",
        {
            "form": form,
            "title": title,
            "cancel": reverse("operations_windows"),
            "zones": COMMON_ZONES,
            "window": window,
        },
        status=status,
    )


@login_required
@require_POST
def maintenance_delete(request, pk):
    window = _get_or_404(_window_get, request.user, pk)
    try:
        services.maintenance_delete(actor=request.user, window=window)
    except HistoryKept as exc:  # it would lose history: say why, delete nothing
        messages.error(request, str(exc))
        return redirect(reverse("operations_windows"))
    messages.success(request, f"Maintenance window {window.name} deleted.")
    return redirect("operations_windows")


# --- the change calendar ---------------------------------------------------------------

SCHEDULED = ["approved", "scheduled", "in_development", "in_test", "tested", "ready_for_deployment", "implementing"]
VIEWS = ("month", "week", "list")
LIST_DAYS = 31
# A busy day holds hundreds of items: a cell shows this many (conflicts first) and links
# to the rest in the list view, as calendar tools do, instead of a page nobody can read.
CELL_ITEMS = {"month": 6, "week": 40}
LIST_PAGE_SIZE = 200
# What the list view shows of each item; the export holds every item of the period shown.
SCHEDULE_EXPORT_COLUMNS = csv_io.columns(
    ("From", "start"),
    ("To", "end"),
    ("What", "title"),
    ("Reference", "reference"),
    ("Kind", lambda i: i.kind.capitalize()),
    ("Status", "status_label"),
    ("Conflicts", "conflict_labels"),
)


def _cell(items, cap):
    """(items shown in a day cell, how many more): conflicts first, then changes, releases,
    freezes, windows and jobs, so a day's changes are never the ones hidden."""
    ordered = sorted(items, key=calendar.day_order)
    return ordered[:cap], max(0, len(items) - cap)


def _parse_day(raw):
    try:
        day = dt.date.fromisoformat(raw) if raw else timezone.localdate()
    except ValueError:
        return None
    # The grids around a day near year 1 or 9999 overflow the date range (the feed's range too).
    return day if 1900 <= day.year < 2900 else None


def _local_midnight(day):
    return dt.datetime.combine(day, dt.time(), tzinfo=timezone.get_current_timezone())


def _filter_objects(request):
    """The service and CI filters, or errors for the page."""
    errors, service, ci = [], None, None
    raw = request.GET.get("service", "").strip()
    if raw:
        services_ = Service.objects.all()
        service = (
            services_.filter(pk=parse_id(raw))
            if parse_id(raw) is not None
            else services_.filter(name__iexact=raw[:200])
        ).first()
        if service is None:
            errors.append(f"No IT service {raw[:40]!r}.")
    raw = request.GET.get("ci", "").strip()
    if raw:
        cis = policy.visible_cis(request.user)
        ci = (cis.filter(pk=parse_id(raw)) if parse_id(raw) is not None else cis.filter(name__iexact=raw[:200])).first()
        if ci is None:
            errors.append(f"No configuration item {raw[:40]!r}.")
    return service, ci, errors


@login_required
@require_GET
@lagging_view
def calendar_page(request):
    view = request.GET.get("view", "month")
    day = _parse_day(request.GET.get("date", ""))
    service, ci, errors = _filter_objects(request)
    if view not in VIEWS:
        errors.append(f"Choose a view: {', '.join(VIEWS)}.")
        view = "month"
    if day is None:
        errors.append("The date must be YYYY-MM-DD.")
        day = timezone.localdate()

    if view == "month":
        first = day.replace(day=1)
        grid_start = first - dt.timedelta(days=first.weekday())
        last = first.replace(day=pycalendar.monthrange(first.year, first.month)[1])
        grid_end = last + dt.timedelta(days=6 - last.weekday()) + dt.timedelta(days=1)
        prev_day = (first - dt.timedelta(days=1)).replace(day=1)
        next_day = last + dt.timedelta(days=1)
        heading = first.strftime("%B %Y")
    elif view == "week":
        grid_start = day - dt.timedelta(days=day.weekday())
        grid_end = grid_start + dt.timedelta(days=7)
        prev_day, next_day = grid_start - dt.timedelta(days=7), grid_end
        heading = (
            f"Week {grid_start.isocalendar()[1]}, {grid_start:%d %b} to {(grid_end - dt.timedelta(days=1)):%d %b %Y}"
        )
    else:
        grid_start, grid_end = day, day + dt.timedelta(days=LIST_DAYS)
        prev_day, next_day = day - dt.timedelta(days=LIST_DAYS), grid_end
        heading = f"{grid_start:%d %b %Y} to {(grid_end - dt.timedelta(days=1)):%d %b %Y}"

    kinds, kind_errors = calendar.parse_kinds(request.GET.getlist("kind"))
    errors += kind_errors
    each_run = request.GET.get("runs") == "each"
    start, end = _local_midnight(grid_start), _local_midnight(grid_end)
    schedule = calendar.build(user=request.user, start=start, end=end, service=service, ci=ci, jobs="job" in kinds)
    schedule.items = calendar.choose(schedule.items, kinds=kinds, each_run=each_run)
    if csv_io.export_requested(request) and not errors:  # a refused filter is shown, never exported as no filter
        if not schedule.truncated:
            return csv_io.export_csv(
                schedule.items, SCHEDULE_EXPORT_COLUMNS, filename=f"change-calendar-{grid_start:%Y%m%d}"
            )
        errors.append("Too many items to export at once: narrow the period or filter.")
    days = []
    if view in ("month", "week"):
        by_day = {}
        for item in schedule.items:
            first_day = max(timezone.localtime(item.start).date(), grid_start)
            last_moment = timezone.localtime(item.end - dt.timedelta(microseconds=1)).date()
            current = first_day
            while current <= min(last_moment, grid_end - dt.timedelta(days=1)):
                by_day.setdefault(current, []).append(item)
                current += dt.timedelta(days=1)
        current, today = grid_start, timezone.localdate()
        while current < grid_end:
            shown, more = _cell(by_day.get(current, []), CELL_ITEMS[view])
            days.append(
                {
                    "date": current,
                    "items": shown,
                    "more": more,
                    "today": current == today,
                    "other_month": view == "month" and current.month != day.month,
                }
            )
            current += dt.timedelta(days=1)

    def link(**overrides):
        params = {"view": view, "date": day.isoformat()}
        if service:
            params["service"] = service.pk
        if ci:
            params["ci"] = ci.pk
        if kinds != {k for k, _ in calendar.KIND_CHOICES}:
            params["kind"] = sorted(kinds)
        if each_run:
            params["runs"] = "each"
        params.update(overrides)
        from urllib.parse import urlencode

        return "?" + urlencode(params, doseq=True)

    items_page = None
    if view == "list":  # the items are in memory already: a slice, counted exactly
        number = parse_positive_int(
            request.GET.get("page"), 1, maximum=max(1, -(-len(schedule.items) // LIST_PAGE_SIZE))
        )
        offset = (number - 1) * LIST_PAGE_SIZE
        rows = schedule.items[offset : offset + LIST_PAGE_SIZE]
        items_page = BoundedPage(
            items=rows,
            number=number,
            page_size=LIST_PAGE_SIZE,
            count=len(schedule.items),
            has_next=offset + LIST_PAGE_SIZE < len(schedule.items),
        )
    for d in days:
        if d["more"]:
            d["more_url"] = link(view="list", date=d["date"].isoformat())

    context = {
        "view": view,
        "views": [(v, link(view=v)) for v in VIEWS],
        "heading": heading,
        "days": days,
        "weekdays": [WEEKDAYS[d] for d in range(1, 8)],
        "schedule": schedule,
        "items": items_page.items if items_page else [],
        "page": items_page,
        "conflicting": sum(1 for i in schedule.items if i.conflicts),
        "prev_url": link(date=prev_day.isoformat()),
        "next_url": link(date=next_day.isoformat()),
        "today_url": link(date=timezone.localdate().isoformat()),
        "services": list(Service.objects.order_by("name").only("pk", "name")),
        "service": service,
        "ci": ci,
        "errors": errors,
        "day": day,
        "time_zone": timezone.get_current_timezone_name(),
        "kind_choices": calendar.KIND_CHOICES,
        "kinds": kinds,
        "each_run": each_run,
    }
    return render(request, "operations/calendar.html", context, status=400 if errors else 200)


# --- the iCalendar feed -------------------------------------------------------------------

FEED_PAST_DAYS = 30
FEED_FUTURE_DAYS = 180


def feed_url(request, secret: str) -> str:
    from django.urls import NoReverseMatch

    try:
        path = reverse("calendar_feed", args=[secret])  # /calendar/<secret>.ics (operations.feed_urls)
    except NoReverseMatch:
        path = reverse("calendar_feed_operating", args=[secret])
    return request.build_absolute_uri(path)


@login_required
def feed_settings(request):
    """Create, rotate or revoke the personal secret address of the calendar feed."""
    new_url = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action in ("create", "rotate"):
            _, secret = services.feed_token_create(actor=request.user)
            new_url = feed_url(request, secret)
        elif action == "revoke":
            if services.feed_token_revoke(actor=request.user):
                messages.success(
                    request, "Your calendar feed address is revoked: calendars subscribed to it stop updating."
                )
            return redirect("operations_calendar_feed")
        else:
            return render(
                request,
                "operations/feed.html",
                {"token": selectors.feed_token_for(user=request.user), "error": "Unknown action."},
                status=400,
            )
    return render(
        request, "operations/feed.html", {"token": selectors.feed_token_for(user=request.user), "new_url": new_url}
    )


@require_GET
def calendar_feed(request, secret):
    """The iCalendar feed of what the token's owner may see: no login, the secret is the key."""
    user = services.feed_token_user(secret)
    if user is None:
        raise Http404("No such calendar feed.")
    now = timezone.now()
    # Subscribers choose what they get: ?kind=change&kind=release…; job runs one per job and day unless ?runs=each.
    kinds, _ = calendar.parse_kinds(request.GET.getlist("kind"))
    with lagging_reads():  # the token was looked up on the primary: a new one works at once
        schedule = calendar.build(
            user=user,
            start=now - dt.timedelta(days=FEED_PAST_DAYS),
            end=now + dt.timedelta(days=FEED_FUTURE_DAYS),
            jobs="job" in kinds,
        )
    schedule.items = calendar.choose(schedule.items, kinds=kinds, each_run=request.GET.get("runs") == "each")
    body = ical.calendar(
        schedule.items,
        name=f"MOF forward schedule of change ({user.username})",
        base_url=request.build_absolute_uri("/"),
    )
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'inline; filename="mof-schedule.ics"'
    response["Cache-Control"] = "private, max-age=300"
    response["X-Robots-Tag"] = "noindex"
    return response
