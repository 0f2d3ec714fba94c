"""Files attached to tickets (incidents, problems, changes). Imported by mof.models, so Django
sees the model as one of the core app's. The rules (who may attach what, limits, types by
content) are in mof.attachments."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage, storages
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver
from django.utils import timezone
from django.utils.functional import LazyObject, empty

from mof.audit import AuditedModel


class AttachmentStorage(LazyObject):
    """`STORAGES["attachments"]` when configured, else the default storage, looked up again
    whenever STORAGES changes (a test's override_settings with InMemoryStorage)."""

    def _setup(self):
        self._wrapped = storages["attachments"] if "attachments" in settings.STORAGES else default_storage


attachment_storage_proxy = AttachmentStorage()


def attachment_storage():
    """The storage of every attachment (FileField's storage callable: the proxy above)."""
    return attachment_storage_proxy


@receiver(setting_changed)
def _storages_changed(*, setting, **kwargs):
    if setting == "STORAGES":
        attachment_storage_proxy._wrapped = empty


def attachment_path(instance, filename):
    """A path of the ticket's kind, the month and a random name: nothing of the uploader's
    file name (kept in `name`), so no path can be guessed or collide."""
    now = timezone.now()
    kind = f"{instance.ticket_type.app_label}-{instance.ticket_type.model}" if instance.ticket_type_id else "ticket"
    return f"{kind}/{now:%Y/%m}/{secrets.token_hex(16)}"


class Attachment(AuditedModel):
    """A file on an incident, a problem or a change. `internal`: attached to a work note or
    marked so by IT staff; a caller never sees it."""

    ticket_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    ticket_id = models.PositiveBigIntegerField()
    ticket = GenericForeignKey("ticket_type", "ticket_id")
    file = models.FileField(storage=attachment_storage, upload_to=attachment_path, max_length=255)
    name = models.CharField(max_length=255, help_text="The file's name as uploaded (shown and offered on download).")
    size = models.PositiveBigIntegerField(help_text="Bytes.")
    content_type = models.CharField(max_length=100, help_text="Detected from the content, never from the name.")
    sha256 = models.CharField(max_length=64)
    internal = models.BooleanField(default=False, help_text="Never shown to the caller.")
    note_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note_id = models.PositiveBigIntegerField(null=True, blank=True)
    note = GenericForeignKey("note_type", "note_id")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "id"]
        indexes = [models.Index(fields=["ticket_type", "ticket_id", "uploaded_at"], name="attachment_ticket_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(note_type__isnull=True, note_id__isnull=True)
                | models.Q(note_type__isnull=False, note_id__isnull=False),
                name="attachment_note_both_or_neither",
            ),
        ]

    def __str__(self):
        return self.name
