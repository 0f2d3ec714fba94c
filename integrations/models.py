"""Outbound webhooks: the transactional outbox, subscriptions and the delivery log."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin

from integrations.choices import DeliveryStatus, EventType, SubscriptionStatus
from integrations.workflow import WebhookSubscriptionWorkflow
from mof.audit import AuditedModel

User = settings.AUTH_USER_MODEL


class OutboxEvent(models.Model):
    """An event, written in the same transaction as the change it reports: committed with
    it or rolled back with it. `body` is exactly what every delivery of it sends."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=40, choices=EventType.choices, db_index=True)
    body = models.JSONField()
    subject_label = models.CharField(max_length=100, blank=True)
    subject_id = models.CharField(max_length=40, blank=True)
    # A test ping goes to this one subscription only; other events fan out by type.
    subscription = models.ForeignKey(
        "WebhookSubscription", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    occurred_at = models.DateTimeField(default=timezone.now)
    relayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at"]
        indexes = [
            models.Index(fields=["occurred_at"], name="outbox_unrelayed_idx", condition=Q(relayed_at__isnull=True))
        ]

    def __str__(self):
        return f"{self.event_type} {self.id}"


class WebhookSubscription(WebhookSubscriptionWorkflow, ConcurrentTransitionMixin, FSMModelMixin, AuditedModel):
    """A URL told about the event types it subscribes to, each body signed with its secret."""

    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500, help_text="http or https only.")
    event_types = models.JSONField(default=list)
    # Needed in clear to sign; never shown again after creation or rotation, never in the audit trail.
    secret = models.CharField(max_length=100, editable=False)
    secret_rotated_at = models.DateTimeField(default=timezone.now, editable=False)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="webhook_subscriptions")
    status = FSMField(
        max_length=20, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE, protected=True
    )
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_reason = models.TextField(blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    audit_exclude = ("secret",)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("webhook_detail", args=[self.pk])

    def notification_recipients(self):
        return [self.owner]

    def wants(self, event_type: str) -> bool:
        return event_type in (self.event_types or [])


class WebhookDelivery(models.Model):
    """One event for one subscription. Its id is the idempotency key the receiver sees on
    every attempt, retries and hand replays alike."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=20, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    manual = models.BooleanField(
        default=False, help_text="A test ping: sent even to a disabled subscription, never counted against it."
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A worker is sending it; the claim lapses if it dies."
    )
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["subscription", "event"], name="one_delivery_per_subscription_and_event")
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhook_delivery_due_idx", condition=Q(status="pending")),
            models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_sub_idx"),
            models.Index(fields=["-created_at"], name="webhook_delivery_log_idx"),
        ]

    def __str__(self):
        return f"{self.event.event_type} to {self.subscription}"

    @property
    def idempotency_key(self) -> str:
        return str(self.id)

    def get_absolute_url(self):
        return reverse("webhook_delivery_detail", args=[self.pk])


class DeliveryAttempt(models.Model):
    """One HTTP request of a delivery: what came back, how long it took, what went wrong."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    replay = models.BooleanField(default=False)
    requested_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    succeeded = models.BooleanField(default=False)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self):
        return f"attempt {self.number} of {self.delivery_id}"
