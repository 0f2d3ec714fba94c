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
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.CharField(max_length=250)
    body = models.TextField()
    html_body = models.TextField(blank=True)
    subject_label = models.CharField(max_length=100, blank=True, help_text="The object the mail is about (app_label.model).")
    subject_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=MailStatus.choices, default=MailStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True, help_text="A relay is sending it; the claim lapses if it dies.")
    sent_at = models.DateTimeField(null=True, blank=True)

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
