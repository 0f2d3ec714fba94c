"""Mail into the service desk (incidents.mailbox): every message the portal received, once,
with what became of it. Imported by incidents.models, so Django sees them as models of the
incidents app. Written only by incidents.mailbox.services."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mof.audit import AuditedModel


class InboundOutcome(models.TextChoices):
    INCIDENT = "incident", "Opened an incident"
    COMMENT = "comment", "Added a comment"
    PARKED = "parked", "Parked for a person"
    DROPPED = "dropped", "Dropped"
    REFUSED = "refused", "Refused (sender told)"


class InboundMessage(AuditedModel):
    """One received mail. Its Message-ID is unique (a message delivered twice, or seen again
    under a new IMAP UID, is processed once), and so is its place in the IMAP mailbox
    (mailbox, UIDVALIDITY, UID). The row and the incident or comment it produced are written
    in one transaction; the raw message is kept, so its attachments can be taken later and a
    parked message opened as an incident."""

    audit_exclude = ("raw", "body")  # the trail records what happened to it, not the mail itself

    message_id = models.CharField(max_length=250, unique=True)
    mailbox = models.CharField(
        max_length=300, blank=True, help_text="user@host/folder read over IMAP, or 'smtp' for the SMTP receiver."
    )
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    uid = models.BigIntegerField(null=True, blank=True)
    from_address = models.CharField(max_length=254, db_index=True)
    from_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=250, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="The message's Date header.")
    received_at = models.DateTimeField(default=timezone.now)
    outcome = models.CharField(max_length=10, choices=InboundOutcome.choices)
    reason = models.CharField(max_length=500, blank=True, help_text="Why it was parked, dropped or refused.")
    body = models.TextField(blank=True, help_text="The text taken from the message (quoted replies trimmed).")
    attachment_names = models.JSONField(default=list, blank=True)
    raw = models.BinaryField(help_text="The message as received (RFC 5322).")
    size = models.PositiveIntegerField(default=0)
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound_messages"
    )
    note = models.ForeignKey(
        "incidents.IncidentNote", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    change = models.ForeignKey(
        "changes.RequestForChange", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who opened or dropped it after it was parked.",
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "inbound mail"
        verbose_name_plural = "inbound mail"
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox", "uidvalidity", "uid"], condition=Q(uid__isnull=False), name="inbound_unique_imap_uid"
            ),
        ]
        indexes = [
            models.Index(fields=["from_address", "received_at"], name="inbound_sender_rate_idx"),
            models.Index(fields=["received_at"], name="inbound_parked_idx", condition=Q(outcome="parked")),
        ]

    def __str__(self):
        return f"{self.subject or '(no subject)'} from {self.from_address}"


class MailboxCursor(models.Model):
    """How far the IMAP poller has read a folder: every UID up to `last_uid` under
    `uidvalidity` is recorded (a new UIDVALIDITY starts the folder again)."""

    mailbox = models.CharField(max_length=300, unique=True, help_text="user@host/folder")
    uidvalidity = models.BigIntegerField()
    last_uid = models.BigIntegerField(default=0)
    polled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.mailbox} UID {self.last_uid} (UIDVALIDITY {self.uidvalidity})"
