"""Pages of outbound webhooks (managers): subscriptions, their secret shown once, test
pings, the delivery log with its filters and hand replays."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from integrations import selectors, services
from integrations.choices import EventType
from integrations.filtersets import DeliveryFilterSet
from integrations.forms import SubscriptionForm
from integrations.models import WebhookSubscription
from mof import csv_io, policy
from mof.api.pagination import MAX_PAGE_SIZE
from mof.forms import attempt
from mof.pagination import paginate, parse_positive_int
from mof.views import _get_or_404, history_rows, transition_panel, transition_view

PAGE_SIZE = 50


def _require(user, action, obj=None):
    if not policy.can(user, action, obj):
        raise PermissionDenied("Only managers manage outbound webhooks.")


def _subscription_get(user, pk):
    return selectors.subscription_list(user=user).get(pk=pk)


def _delivery_get(user, pk):
    return selectors.delivery_list(user=user).get(pk=pk)


def _last_answer(delivery) -> str:
    # Worded as the log page words it.
    if delivery.response_status:
        return f"HTTP {delivery.response_status}"
    if delivery.attempts:
        return "no answer"
    return "not sent: subscription disabled" if delivery.status == "failed" else ""


def _event_object_number(event):
    """The number of the object an event is about (INC-12...), as the log shows it."""
    obj = event.body.get("object") if isinstance(event.body, dict) else None
    return obj.get("number") if isinstance(obj, dict) else None


# The secret is never exported: it is shown once, when made.
SUBSCRIPTION_EXPORT_COLUMNS = csv_io.columns(
    ("Name", "name"),
    ("URL", "url"),
    ("Events", "event_types"),
    ("Status", "get_status_display"),
    ("Disabled because", "disabled_reason"),
    ("Failed in a row", "consecutive_failures"),
    ("Owner", "owner.username"),
)
DELIVERY_EXPORT_COLUMNS = csv_io.columns(
    ("Created", "created_at"),
    ("Event", "event.event_type"),
    ("Object", lambda d: _event_object_number(d.event)),
    ("Subscription", "subscription.name"),
    ("Status", "get_status_display"),
    ("Ping", "manual"),
    ("Attempts", "attempts"),
    ("Last answer", _last_answer),
    ("Next attempt", "next_attempt_at"),
    ("Delivered", "delivered_at"),
)


@login_required
def subscription_list(request):
    _require(request.user, "webhook.view")
    if csv_io.export_requested(request):  # every subscription, not only the 500 the page shows
        return csv_io.export_csv(
            selectors.subscription_list(user=request.user).order_by("name", "id"),
            SUBSCRIPTION_EXPORT_COLUMNS,
            filename="webhook-subscriptions",
        )
    subscriptions = list(selectors.subscription_list(user=request.user).order_by("name", "id")[:500])
    return render(
        request,
        "integrations/subscription_list.html",
        {"subscriptions": subscriptions, "can_add": policy.can(request.user, "webhook.add")},
    )


def _secret_page(request, subscription, secret, *, created: bool):
    """The secret, this once: rendered in the response, never stored in a message or a URL."""
    return render(
        request, "integrations/secret.html", {"subscription": subscription, "secret": secret, "created": created}
    )


@login_required
def subscription_create(request):
    _require(request.user, "webhook.add")
    form = SubscriptionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        subscription, status = attempt(
            form, lambda: services.subscription_create(actor=request.user, **form.service_fields())
        )
        if subscription is not None:
            return _secret_page(request, subscription, subscription.secret, created=True)
    status = 400 if request.method == "POST" else 200
    return render(request, "integrations/subscription_form.html", {"form": form, "subscription": None}, status=status)


@login_required
def subscription_edit(request, pk):
    subscription = _get_or_404(_subscription_get, request.user, pk)
    _require(request.user, "webhook.change", subscription)
    initial = {"name": subscription.name, "url": subscription.url, "event_types": subscription.event_types}
    form = SubscriptionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved, status = attempt(
            form,
            lambda: services.subscription_update(
                actor=request.user, subscription=subscription, **form.service_fields()
            ),
        )
        if saved is not None:
            messages.success(request, f"Webhook subscription {saved} saved.")
            return redirect(saved)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "integrations/subscription_form.html", {"form": form, "subscription": subscription}, status=status
    )


def _detail_context(request, subscription, panel=None):
    deliveries = list(selectors.delivery_list(user=request.user).filter(subscription=subscription)[:20])
    return {
        "subscription": subscription,
        "event_labels": [dict(EventType.choices).get(t, t) for t in subscription.event_types],
        "deliveries": deliveries,
        "history": history_rows(subscription, user=request.user),
        "can_change": policy.can(request.user, "webhook.change", subscription),
        "can_rotate": policy.can(request.user, "webhook.rotate_secret", subscription),
        "can_ping": policy.can(request.user, "webhook.ping", subscription),
        **(panel or transition_panel(request, subscription, url_name="webhook_transition")),
    }


@login_required
def subscription_detail(request, pk):
    subscription = _get_or_404(_subscription_get, request.user, pk)
    return render(request, "integrations/subscription_detail.html", _detail_context(request, subscription))


@login_required
def subscription_transition(request, pk, name):
    return transition_view(
        request,
        model=WebhookSubscription,
        pk=pk,
        name=name,
        get_object=_subscription_get,
        url_name="webhook_transition",
        render_page=lambda request, obj, panel, status: render(
            request, "integrations/subscription_detail.html", _detail_context(request, obj, panel), status=status
        ),
    )


@login_required
@require_POST
def subscription_rotate_secret(request, pk):
    subscription = _get_or_404(_subscription_get, request.user, pk)
    secret = services.rotate_secret(actor=request.user, subscription=subscription)
    return _secret_page(request, subscription, secret, created=False)


@login_required
@require_POST
def subscription_ping(request, pk):
    subscription = _get_or_404(_subscription_get, request.user, pk)
    services.send_ping(actor=request.user, subscription=subscription)
    messages.success(request, "Test ping sent: the delivery log shows the receiver's answer.")
    return redirect(f"{reverse('webhook_delivery_list')}?subscription={subscription.pk}&event_type=ping")


@login_required
def delivery_list(request):
    _require(request.user, "webhook.view")
    filterset = DeliveryFilterSet(request.GET, queryset=selectors.delivery_list(user=request.user))
    refused_export = False
    if csv_io.export_requested(request):
        if filterset.is_valid():
            return csv_io.export_csv(filterset.qs, DELIVERY_EXPORT_COLUMNS, filename="webhook-deliveries")
        refused_export = True  # a refused filter is shown on the page, never exported as no filter
    page = paginate(
        filterset.qs,
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=parse_positive_int(request.GET.get("page_size"), PAGE_SIZE, MAX_PAGE_SIZE),
    )
    return render(
        request,
        "integrations/delivery_list.html",
        {"filterset": filterset, "page": page},
        status=400 if refused_export else 200,
    )


@login_required
def delivery_detail(request, pk):
    delivery = _get_or_404(_delivery_get, request.user, pk)
    return render(
        request,
        "integrations/delivery_detail.html",
        {
            "delivery": delivery,
            "attempts": list(selectors.delivery_attempts(delivery)),
            "body": services.body_bytes(delivery.event).decode("utf-8"),
            "can_replay": policy.can(request.user, "webhook.replay", delivery.subscription),
        },
    )


@login_required
@require_POST
def delivery_replay(request, pk):
    delivery = _get_or_404(_delivery_get, request.user, pk)
    services.replay_delivery(actor=request.user, delivery=delivery)
    messages.success(request, "Replay sent with the same body and idempotency key; its attempt is listed below.")
    return redirect(delivery)
