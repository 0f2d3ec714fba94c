"""Pages of service monitoring: events and alerts of a CI or an IT service, and the
parked events a person maps to a CI. Thin: operations.events_selectors reads,
operations.events writes."""

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from mof import csv_io, policy, selectors
from mof.forms import attempt
from mof.pagination import paginate, parse_id, parse_positive_int
from mof.views import _get_or_404
from operations import events, events_selectors
from operations.models_events import Severity

PAGE_SIZE = 50
# Severity shown with the portal's criticality colours.
TONES = {
    Severity.CRITICAL: "critical",
    Severity.MAJOR: "high",
    Severity.MINOR: "medium",
    Severity.WARNING: "medium",
    Severity.INFO: "low",
    Severity.CLEAR: "low",
}
PERIODS = {
    "1h": dt.timedelta(hours=1),
    "24h": dt.timedelta(hours=24),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}


class EventFilterForm(forms.Form):
    show = forms.ChoiceField(choices=[("events", "Events"), ("alerts", "Alerts")], required=False)
    period = forms.ChoiceField(
        choices=[
            ("", "Any time"),
            ("1h", "Last hour"),
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
            ("30d", "Last 30 days"),
        ],
        required=False,
    )
    severity = forms.TypedChoiceField(
        choices=[("", "Any severity"), *Severity.choices], coerce=int, empty_value=None, required=False
    )
    key = forms.CharField(max_length=200, required=False, label="Deduplication key")
    open = forms.BooleanField(required=False, label="Open alerts only")


class MapForm(forms.Form):
    ci = forms.CharField(
        max_length=150,
        label="Configuration item",
        widget=forms.TextInput(attrs={"list": "ci-names", "placeholder": "CI name or id", "autocomplete": "off"}),
    )
    remember = forms.BooleanField(required=False, initial=True, label="Send later events with this name to the CI")

    def __init__(self, *args, visible, **kwargs):
        super().__init__(*args, **kwargs)
        self.visible = visible

    def clean_ci(self):
        value = self.cleaned_data["ci"].strip()
        ci = self.visible.filter(name=value).first()
        if ci is None and parse_id(value) is not None:
            ci = self.visible.filter(pk=parse_id(value)).first()
        if ci is None:
            raise forms.ValidationError("No configuration item with this name or id.")
        return ci


EVENT_EXPORT_COLUMNS = csv_io.columns(
    ("Received", "received_at"),
    ("Occurred", "occurred_at"),
    ("Source", "source"),
    ("CI", "ci.name"),
    ("CI name sent", "ci_name"),
    ("Severity", "get_severity_display"),
    ("Key", "key"),
    ("Message", "message"),
)
ALERT_EXPORT_COLUMNS = csv_io.columns(
    ("Key", "key"),
    ("CI", "ci.name"),
    ("Service", "service.name"),
    ("Source", "source"),
    ("Worst severity", "get_severity_display"),
    ("Events", "count"),
    ("First seen", "first_seen"),
    ("Last seen", "last_seen"),
    ("Incident", "incident.reference"),
    ("Closed", "closed_at"),
    ("Closed because", "get_closed_reason_display"),
    ("Message", "message"),
)


def _events_page(request, *, subject, ci=None, service=None):
    user = request.user
    if not policy.can(user, "event.view"):
        raise PermissionDenied("Monitoring events are visible to IT staff and to the partners owning the CIs.")
    form = EventFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    since = timezone.now() - PERIODS[filters["period"]] if filters.get("period") else None
    show = filters.get("show") or "events"
    if show == "alerts":
        rows = events_selectors.alert_list(
            user=user,
            ci=ci,
            service=service,
            key=filters.get("key", ""),
            open_only=filters.get("open", False),
            since=since,
        )
    else:
        rows = events_selectors.event_list(
            user=user, ci=ci, service=service, key=filters.get("key", ""), since=since, severity=filters.get("severity")
        )
    if csv_io.export_requested(request) and form.is_valid():  # a refused filter is shown, never exported as no filter
        columns = ALERT_EXPORT_COLUMNS if show == "alerts" else EVENT_EXPORT_COLUMNS
        return csv_io.export_csv(rows, columns, filename=f"{show}-{subject.pk}")
    page = paginate(rows, page=parse_positive_int(request.GET.get("page"), 1), page_size=PAGE_SIZE)
    for row in page.items:
        row.tone = TONES[row.severity]
    summary = events_selectors.event_summary(user=user, ci=ci, service=service, since=since)
    return render(
        request,
        "operations/events.html",
        {
            "subject": subject,
            "ci": ci,
            "service": service,
            "form": form,
            "show": show,
            "page": page,
            "summary": summary,
            "severity_counts": [
                (label, summary["by_severity"].get(value, 0)) for value, label in reversed(Severity.choices)
            ],
            "can_map": policy.can(user, "event.map"),
        },
        status=200 if form.is_valid() or not request.GET else 400,
    )


@login_required
def ci_events(request, pk):
    ci = _get_or_404(selectors.ci_get, user=request.user, pk=pk)
    return _events_page(request, subject=ci, ci=ci)


@login_required
def service_events(request, pk):
    service = _get_or_404(lambda: selectors.service_list(user=request.user).get(pk=pk))
    return _events_page(request, subject=service, service=service)


def _parked_context(request, failed=None):
    """A page of parked names, each with its own map form (`failed`: the name whose form
    was refused, with its errors)."""
    page = paginate(
        events_selectors.parked_groups(user=request.user),
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=PAGE_SIZE,
    )
    visible = policy.visible_cis(request.user)
    for index, group in enumerate(page.items):
        group["worst_label"] = Severity(group["worst"]).label
        if failed is not None and failed[0] == group["ci_name"]:
            group["form"] = failed[1]
        else:
            group["form"] = MapForm(visible=visible, auto_id=f"id_%s_{index}")
    return {
        "page": page,
        "failed": failed,  # its refusal shows above the list: the name may be gone from it
        "policy_parks": events.parks_unknown_cis(),
        "ci_names": list(visible.order_by("name").values_list("name", flat=True)[:500]),
    }


# The rows are the grouped values() of the page, not events.
PARKED_EXPORT_COLUMNS = csv_io.columns(
    ("Name used by monitoring", lambda g: g["ci_name"]),
    ("Events", lambda g: g["events"]),
    ("Worst", lambda g: Severity(g["worst"]).label),
    ("First", lambda g: g["first"]),
    ("Last", lambda g: g["last"]),
)


@login_required
def parked_events(request):
    if not policy.can(request.user, "event.map"):
        raise PermissionDenied("Mapping parked events to CIs is for Operations and Infrastructure staff and managers.")
    if csv_io.export_requested(request):  # every parked name, not a page of them
        return csv_io.export_csv(
            events_selectors.parked_groups(user=request.user), PARKED_EXPORT_COLUMNS, filename="parked-events"
        )
    return render(request, "operations/parked_events.html", _parked_context(request))


@login_required
@require_POST
def parked_map(request):
    if not policy.can(request.user, "event.map"):
        raise PermissionDenied("Mapping parked events to CIs is for Operations and Infrastructure staff and managers.")
    ci_name = request.POST.get("ci_name", "")
    form = MapForm(request.POST, visible=policy.visible_cis(request.user), auto_id="id_%s_failed")
    status = 400
    if form.is_valid():
        result, status = attempt(
            form,
            lambda: events.map_parked(
                actor=request.user, ci_name=ci_name, ci=form.cleaned_data["ci"], remember=form.cleaned_data["remember"]
            ),
        )
        if result is not None:
            opened = ", ".join(i.reference for i in result.incidents_opened)
            messages.success(
                request,
                f"{result.accepted} event{'s' if result.accepted != 1 else ''} of {ci_name!r} went to {form.cleaned_data['ci']}."
                + (f" Incidents opened: {opened}." if opened else ""),
            )
            return redirect("events_parked")
    return render(request, "operations/parked_events.html", _parked_context(request, (ci_name, form)), status=status)


@login_required
@require_POST
def parked_discard(request):
    if not policy.can(request.user, "event.map"):
        raise PermissionDenied("Discarding parked events is for Operations and Infrastructure staff and managers.")
    ci_name = request.POST.get("ci_name", "")
    try:
        deleted = events.discard_parked(actor=request.user, ci_name=ci_name)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{deleted} parked event{'s' if deleted != 1 else ''} of {ci_name!r} discarded.")
    return redirect("events_parked")
