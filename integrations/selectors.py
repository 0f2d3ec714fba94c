"""Reads of outbound webhooks: only managers see subscriptions and their delivery log."""

from integrations.models import DeliveryAttempt, WebhookDelivery, WebhookSubscription
from mof import policy


def subscription_list(*, user):
    if not policy.can(user, "webhook.view"):
        return WebhookSubscription.objects.none()
    return WebhookSubscription.objects.select_related("owner")


def delivery_list(*, user):
    """The delivery log, newest first, with what a row shows joined in (one query a page)."""
    if not policy.can(user, "webhook.view"):
        return WebhookDelivery.objects.none()
    return WebhookDelivery.objects.select_related("subscription", "event").order_by("-created_at", "-id")


def delivery_attempts(delivery):
    return DeliveryAttempt.objects.filter(delivery=delivery).select_related("requested_by").order_by("-number")
