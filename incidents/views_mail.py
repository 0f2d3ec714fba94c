"""Pages of mail into the service desk: what came in, and the parked mail a person decides
(open it as an incident for someone, or drop it). Thin: incidents.mailbox.services writes."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from incidents.mailbox import services
from incidents.models_inbound import InboundMessage, InboundOutcome
from mof import csv_io, policy
from mof.forms import attempt
from mof.models import User
from mof.pagination import paginate, parse_positive_int

PAGE_SIZE = 50
EXPORT_COLUMNS = csv_io.columns(
    ("Received", "received_at"),
    ("From", "from_address"),
    ("Name", "from_name"),
    ("Subject", "subject"),
    ("Outcome", "get_outcome_display"),
    ("Reason", "reason"),
    ("Incident", "incident.reference"),
    ("Attachments", lambda m: "; ".join(m.attachment_names)),
    ("Decided by", "decided_by.username"),
)


class CallerForm(forms.Form):
    caller = forms.CharField(
        max_length=254,
        label="Caller",
        widget=forms.TextInput(attrs={"placeholder": "user name or e-mail", "autocomplete": "off"}),
    )

    def clean_caller(self):
        value = self.cleaned_data["caller"].strip()
        people = list(
            User.objects.filter(
                Q(username__iexact=value) | Q(email__iexact=value),
                is_active=True,
                is_system=False,
                is_service_account=False,
            )[:2]
        )
        if not people:
            raise forms.ValidationError("No active person has this user name or e-mail address.")
        if len(people) > 1:
            raise forms.ValidationError("Several people match: give the user name.")
        return people[0]


def _require(user, action="inbound_mail.view"):
    if not policy.can(user, action):
        raise PermissionDenied("Mail into the service desk is for the service desk.")


def _context(request, failed=None):
    outcome = request.GET.get("outcome", InboundOutcome.PARKED)
    error = None
    qs = (
        InboundMessage.objects.select_related("incident", "sender", "decided_by")
        .defer("raw")
        .order_by("-received_at", "-id")
    )
    if outcome in InboundOutcome.values:
        qs = qs.filter(outcome=outcome)
    elif outcome:
        error = f"No such outcome: choose one of {', '.join(InboundOutcome.values)}."
    return {
        "qs": qs,
        "error": error,
        "outcome": outcome,
        "outcomes": InboundOutcome.choices,
        "failed": failed,
        "can_decide": policy.can(request.user, "inbound_mail.decide"),
    }


@login_required
def inbound_mail(request):
    _require(request.user)
    context = _context(request)
    if (
        csv_io.export_requested(request) and context["error"] is None
    ):  # a refused filter is shown, never exported as no filter
        return csv_io.export_csv(context["qs"], EXPORT_COLUMNS, filename="inbound-mail")
    return _render(request, context, status=400 if context["error"] else 200)


def _render(request, context, status=200):
    qs = context.pop("qs")
    page = paginate(
        qs.none() if context["error"] else qs, page=parse_positive_int(request.GET.get("page"), 1), page_size=PAGE_SIZE
    )
    failed = context.get("failed")
    for message in page.items:
        if failed is not None and failed[0] == message.pk:
            message.form = failed[1]
        else:
            message.form = CallerForm(
                initial={"caller": message.sender.username if message.sender else message.from_address},
                auto_id=f"id_%s_{message.pk}",
            )
    context["page"] = page
    return render(request, "incidents/inbound_mail.html", context, status=status)


def _message(pk) -> InboundMessage:
    message = InboundMessage.objects.filter(pk=pk).first()
    if message is None:
        raise Http404("No such mail.")
    return message


@login_required
@require_POST
def inbound_mail_open(request, pk):
    _require(request.user, "inbound_mail.decide")
    message = _message(pk)
    form = CallerForm(request.POST, auto_id=f"id_%s_{message.pk}")
    status = 400
    if form.is_valid():
        incident, status = attempt(
            form, lambda: services.parked_open(actor=request.user, message=message, caller=form.cleaned_data["caller"])
        )
        if incident is not None:
            messages.success(
                request, f"{incident.reference} opened for {incident.caller} from the mail “{message.subject}”."
            )
            return redirect(incident.get_absolute_url())
    return _render(request, _context(request, failed=(message.pk, form)), status=status)


@login_required
@require_POST
def inbound_mail_drop(request, pk):
    _require(request.user, "inbound_mail.decide")
    message = _message(pk)
    form = forms.Form(request.POST)
    _, status = attempt(form, lambda: services.parked_drop(actor=request.user, message=message))
    if status is None:
        messages.success(request, f"The mail “{message.subject}” from {message.from_address} was dropped.")
    else:
        messages.error(request, " ".join(form.non_field_errors()) or "The mail could not be dropped.")
    return redirect("inbound_mail")


@login_required
def inbound_mail_raw(request, pk):
    """The message as received, to open in a mail client (never shown inline)."""
    _require(request.user)
    message = _message(pk)
    if not message.raw:
        raise Http404("The original of this mail is no longer kept (MOF_MAIL_IN_RETENTION_DAYS).")
    response = HttpResponse(bytes(message.raw), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="mail-{message.pk}.eml"'
    return response
