"""A person's in-portal notifications (/notifications/) and their notification preferences
(/notifications/preferences/). Thin: mof.notifications does the work; a person only ever
sees and changes their own (another's id is a 404)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from mof import csv_io, notifications
from mof.links import absolute_url
from mof.models_mail import Delivery
from mof.pagination import paginate, parse_id, parse_positive_int

PAGE_SIZE = 50
EXPORT_COLUMNS = csv_io.columns(
    ("Notification", "title"),
    ("When", "created_at"),
    ("Read", "read_at"),
    ("Link", lambda n: absolute_url(n.url) if n.url else ""),
)


@login_required
def notification_list(request):
    unread = request.GET.get("unread") == "1"
    qs = notifications.inbox(request.user, unread=unread)
    if csv_io.export_requested(request):
        return csv_io.export_csv(qs, EXPORT_COLUMNS, filename="notifications")
    page = paginate(
        qs,
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=parse_positive_int(request.GET.get("page_size"), PAGE_SIZE, 200),
    )
    return render(request, "mof/notifications.html", {"page": page, "unread_only": unread})


@login_required
@require_POST
def notification_read(request, pk):
    pk = parse_id(pk)
    notifications.mark_read(request.user, [pk] if pk is not None else [])
    target = request.POST.get("next", "")
    return redirect(target if target.startswith("/") and not target.startswith("//") else "notification_list")


@login_required
@require_POST
def notification_read_all(request):
    n = notifications.mark_read(request.user)
    messages.success(request, f"{n} notification{'s' if n != 1 else ''} marked read.")
    return redirect("notification_list")


@login_required
def notification_preferences(request):
    status = 200
    errors = {}
    if request.method == "POST":
        choices = {event: request.POST.get(event, "") for event in notifications.EVENTS if event in request.POST}
        try:
            notifications.set_preferences(request.user, choices)
        except ValidationError as exc:
            errors, status = exc.message_dict, 400
        else:
            messages.success(request, "Your notification preferences are saved.")
            return redirect("notification_preferences")
    rows = [
        {"event": e, "label": label, "delivery": d, "error": " ".join(errors.get(e, []))}
        for e, label, d in notifications.preferences(request.user)
    ]
    if errors:
        for row in rows:
            if row["event"] in request.POST:
                row["delivery"] = request.POST[row["event"]]
    return render(
        request,
        "mof/notification_preferences.html",
        {"rows": rows, "deliveries": Delivery.choices, "errors": errors},
        status=status,
    )
