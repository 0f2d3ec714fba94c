"""The notification outbox: one row per mail and recipient, written in the transaction of the
change it reports (mof.notifications). Imported by mof.models, so Django sees them as models
of the core app. Engine-owned: the relay moves a row from pending to sent or failed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class MailStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"


class OutgoingMail(models.Model):
    """A notification to one recipient. Its Message-ID is made when the row is written and
    never changes: a mail sent twice (a crash between sending and recording it) carries the
    same one, and mail clients show it once."""

    message_id = models.CharField(max_length=250, unique=True, editable=False)
    kind = models.CharField(max_length=60, help_text="What the mail is about, e.g. incidents.assigned.")
    to_email = models.EmailField(max_length=254)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.CharField(max_length=250)
    body = models.TextField()
    html_body = models.TextField(blank=True)
    subject_label = models.CharField(
        max_length=100, blank=True, help_text="The object the mail is about (app_label.model)."
    )
    subject_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=MailStatus.choices, default=MailStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(
        null=True, blank=True, help_text="A relay is sending it; the claim lapses if it dies."
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    thread = models.CharField(
        max_length=250,
        blank=True,
        help_text="The root Message-ID of the object's thread: In-Reply-To and References of every later mail.",
    )
    calendar = models.TextField(blank=True, help_text="An iCalendar invitation sent as the text/calendar part.")
    calendar_method = models.CharField(max_length=10, blank=True, help_text="REQUEST or CANCEL.")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "outgoing mail"
        verbose_name_plural = "outgoing mail"
        indexes = [
            models.Index(fields=["next_attempt_at"], name="outgoing_mail_pending_idx", condition=Q(status="pending")),
            models.Index(fields=["subject_label", "subject_id"], name="outgoing_mail_subject_idx"),
        ]

    def __str__(self):
        return f"{self.subject} → {self.to_email}"


class RelayFlag(models.Model):
    """'A relay task is queued and has not started yet', per relay (mail, webhooks): while it
    is set, more work committed meanwhile queues no further task (mof.relay.queue_once)."""

    name = models.CharField(max_length=40, primary_key=True)
    queued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.name


class Delivery(models.TextChoices):
    """How a person hears of one kind of event (mof.notifications.write)."""

    IMMEDIATELY = "immediately", "Immediately, by e-mail"
    DIGEST = "digest", "In a daily digest e-mail"
    PORTAL = "portal", "In the portal only"
    OFF = "off", "Off"


class NotificationPreference(models.Model):
    """A person's choice for one kind of event; no row means immediately."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    event = models.CharField(max_length=60, help_text="A kind of event (mof.notifications.EVENTS).")
    delivery = models.CharField(max_length=12, choices=Delivery.choices, default=Delivery.IMMEDIATELY)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "event"], name="notification_preference_unique")]

    def __str__(self):
        return f"{self.user}: {self.event} {self.delivery}"


class Notification(models.Model):
    """One notification to one person, listed in the portal (/notifications/), written
    with the outbox rows (or instead of them); `digest` rows wait for the daily digest."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=60)
    title = models.CharField(max_length=250)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True, help_text="The page it is about (a path).")
    subject_label = models.CharField(max_length=100, blank=True)
    subject_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    digest = models.BooleanField(default=False, help_text="Goes out in the daily digest mail.")
    digested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user"], name="notification_unread_idx", condition=Q(read_at__isnull=True)),
            models.Index(fields=["user", "-created_at"], name="notification_user_idx"),
            models.Index(
                fields=["user"], name="notification_digest_idx", condition=Q(digest=True, digested_at__isnull=True)
            ),
        ]

    def __str__(self):
        return f"{self.title} → {self.user}"
