"""Outbound webhooks in the admin: read-only. Subscriptions are managed on their pages
(the secret is shown once there) and through the API; the log is never edited."""

from django.contrib import admin

from integrations.models import DeliveryAttempt, OutboxEvent, WebhookDelivery, WebhookSubscription
from mof.admin import PolicyAdmin, ReadOnlyInline


class WebhookReadOnlyAdmin(PolicyAdmin):
    view_action = "webhook.view"

    def has_module_permission(self, request):
        return super().has_module_permission(request) and self._can(request, self.view_action)


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(WebhookReadOnlyAdmin):
    list_display = ["name", "url", "status", "consecutive_failures", "owner"]
    list_filter = ["status"]
    list_select_related = ["owner"]
    search_fields = ["name", "url"]
    exclude = ["secret"]
    readonly_fields = [
        "name",
        "url",
        "event_types",
        "owner",
        "status",
        "consecutive_failures",
        "disabled_reason",
        "disabled_at",
        "secret_rotated_at",
        "created_at",
    ]


class DeliveryAttemptInline(ReadOnlyInline):
    model = DeliveryAttempt
    fields = ["number", "replay", "started_at", "duration_ms", "succeeded", "response_status", "error"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(WebhookReadOnlyAdmin):
    list_display = ["id", "subscription", "event", "status", "attempts", "response_status", "created_at"]
    list_filter = ["status"]
    list_select_related = ["subscription", "event"]
    readonly_fields = [
        "subscription",
        "event",
        "status",
        "manual",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "response_status",
        "delivered_at",
        "created_at",
    ]
    inlines = [DeliveryAttemptInline]


@admin.register(OutboxEvent)
class OutboxEventAdmin(WebhookReadOnlyAdmin):
    list_display = ["id", "event_type", "subject_label", "subject_id", "occurred_at", "relayed_at"]
    list_filter = ["event_type"]
    readonly_fields = ["event_type", "body", "subject_label", "subject_id", "subscription", "occurred_at", "relayed_at"]
