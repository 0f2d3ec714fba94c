"""mof.attachments.attach_file: the one way in for the pages, the API and inbound mail."""

import hashlib

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import InMemoryStorage, storages
from django.test import override_settings

from incidents import services as incident_services
from incidents.choices import NoteKind
from mof import attachments
from mof.models import Attachment, AuditEntry
from mof.models_attachments import attachment_storage
from mof.policy import Refused
from tests.attachments.conftest import stored_files
from tests.attachments.samples import EXE, HTML, LOG, PDF, SVG, docx_bytes, png_bytes, upload, zip_bytes
from tests.changes.factories import ChangeFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    return {
        "agent": UserFactory(username="agent", roles=["support"]),
        "caller": UserFactory(username="caller"),
        "stranger": UserFactory(username="stranger"),
    }


@pytest.fixture
def incident(people):
    return incident_services.incident_create(
        actor=people["caller"], caller=people["caller"], title="Outlook cannot connect"
    )


def test_a_file_is_stored_with_its_name_size_type_hash_and_uploader(people, incident):
    data = png_bytes()
    attachment = attachments.attach_file(incident, upload("screen shot.png", data, "image/png"), by=people["caller"])
    attachment.refresh_from_db()
    assert (attachment.name, attachment.size, attachment.content_type) == ("screen shot.png", len(data), "image/png")
    assert attachment.sha256 == hashlib.sha256(data).hexdigest()
    assert attachment.uploaded_by == people["caller"] and attachment.ticket == incident and not attachment.internal
    # Stored through the storage API at a random path that carries nothing of the name.
    assert "screen" not in attachment.file.name and attachment.file.name.startswith("incidents-incident/")
    with attachment.file.open("rb") as f:
        assert f.read() == data


def test_the_storage_is_storages_attachments_and_follows_an_override(people, incident):
    override = {**settings.STORAGES, "attachments": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    with override_settings(STORAGES=override):
        fresh = storages["attachments"]
        attachment = attachments.attach_file(incident, upload("log.txt", LOG), by=people["agent"])
        assert isinstance(fresh, InMemoryStorage) and fresh.exists(attachment.file.name)
    # The override's storage is gone with it: the next one does not have the file.
    assert not storages["attachments"].exists(attachment.file.name)


def test_each_kind_of_accepted_file_is_typed_by_its_content(people, incident):
    cases = [
        ("a.png", png_bytes(), "image/png"),
        ("b.pdf", PDF, "application/pdf"),
        ("c.log", LOG, "text/plain"),
        ("d.zip", zip_bytes(), "application/zip"),
        ("e.docx", docx_bytes(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("no-extension", LOG, "text/plain"),
        ("app.log.1", LOG, "text/plain"),
    ]
    for name, data, expected in cases:
        # The browser's claim (text/html here) is never believed.
        assert (
            attachments.attach_file(incident, upload(name, data, "text/html"), by=people["agent"]).content_type
            == expected
        )


@pytest.mark.parametrize(
    "name,data,says",
    [
        ("screenshot.png", EXE, "application/x-msdownload"),
        ("screenshot.png", HTML, "text/html"),
        ("notes.txt", HTML, "text/html"),
        ("logo.png", SVG, "image/svg+xml"),
        ("blob.bin", bytes(range(256)) * 4, "application/octet-stream"),
    ],
)
def test_a_file_whose_content_is_not_an_accepted_type_is_refused_whatever_its_name(people, incident, name, data, says):
    with pytest.raises(ValidationError) as refused:
        attachments.attach_file(incident, upload(name, data, "image/png"), by=people["agent"])
    assert says in refused.value.message_dict["file"][0]
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("screenshot.png", LOG, "The name says .png (image/png) but the content is text/plain."),
        ("report.pdf", png_bytes(), "The name says .pdf (application/pdf) but the content is image/png."),
        ("server.log", png_bytes(), "The name says .log (text) but the content is image/png."),
        ("page.html", LOG, "Files named .html are not accepted"),
        ("setup.exe", LOG, "Files named .exe are not accepted"),
    ],
)
def test_a_name_that_claims_another_type_or_an_active_one_is_refused(people, incident, name, data, message):
    with pytest.raises(ValidationError) as refused:
        attachments.attach_file(incident, upload(name, data), by=people["agent"])
    assert message in refused.value.message_dict["file"][0]


def test_the_size_limit_refuses_a_file_one_byte_too_large(people, incident):
    with override_settings(MOF_ATTACHMENT_MAX_BYTES=len(LOG)):
        attachments.attach_file(incident, upload("fits.log", LOG), by=people["agent"])
        with pytest.raises(ValidationError) as refused:
            attachments.attach_file(incident, upload("big.log", LOG + b"x"), by=people["agent"])
    assert "at most" in refused.value.message_dict["file"][0]
    with pytest.raises(ValidationError, match="empty"):
        attachments.attach_file(incident, upload("empty.log", b""), by=people["agent"])


def test_the_count_limit_per_ticket_refuses_one_more(people, incident):
    with override_settings(MOF_ATTACHMENT_MAX_PER_TICKET=2):
        for i in range(2):
            attachments.attach_file(incident, upload(f"{i}.log", LOG), by=people["agent"])
        with pytest.raises(ValidationError) as refused:
            attachments.attach_file(incident, upload("third.log", LOG), by=people["agent"])
    assert refused.value.message_dict["file"] == ["This incident already has 2 files, the most one may have."]
    assert Attachment.objects.count() == 2


def test_a_refusal_after_the_file_was_written_leaves_nothing_in_the_storage(people, incident, monkeypatch):
    seen = []

    def fail(*args, **kwargs):
        seen.extend(stored_files(attachment_storage()))  # the file is written by now
        raise ValidationError({"file": "refused late"})

    monkeypatch.setattr(attachments.audit, "record_related", fail)
    with pytest.raises(ValidationError):
        attachments.attach_file(incident, upload("a.log", LOG), by=people["agent"])
    assert not Attachment.objects.exists()
    assert len(seen) == 1 and stored_files(attachment_storage()) == []


def test_the_allowed_types_come_from_the_settings(people, incident):
    with override_settings(MOF_ATTACHMENT_ALLOWED_TYPES=["application/pdf"]):
        with pytest.raises(ValidationError, match="text/plain are not accepted"):
            attachments.attach_file(incident, upload("a.log", LOG), by=people["agent"])
        assert (
            attachments.attach_file(incident, upload("a.pdf", PDF), by=people["agent"]).content_type
            == "application/pdf"
        )


def test_each_upload_is_in_the_audit_trail_of_the_file_and_of_the_ticket(people, incident):
    attachment = attachments.attach_file(incident, upload("trace.log", LOG), by=people["caller"])
    created = AuditEntry.objects.get(model_label="mof.attachment", object_id=str(attachment.pk))
    assert (
        created.action == "create"
        and created.actor_id == people["caller"].pk
        and created.changes["sha256"][1] == attachment.sha256
    )
    on_ticket = AuditEntry.objects.filter(
        model_label="incidents.incident", object_id=str(incident.pk), changes__has_key="attachment"
    ).get()
    assert on_ticket.actor_name == "caller" and on_ticket.detail["attachment"] == attachment.pk
    assert on_ticket.changes["attachment"][1].startswith("trace.log (")


def test_who_may_attach_follows_who_may_comment(people, incident):
    with pytest.raises(Refused):
        attachments.attach_file(incident, upload("a.log", LOG), by=people["stranger"])
    # A caller may not mark a file internal; IT staff may.
    with pytest.raises(Refused):
        attachments.attach_file(incident, upload("a.log", LOG), by=people["caller"], internal=True)
    assert attachments.attach_file(incident, upload("a.log", LOG), by=people["agent"], internal=True).internal
    assert AuditEntry.objects.filter(action="refused", transition="incident.attach").exists()


def test_a_file_on_a_work_note_is_internal_and_the_note_must_be_the_ticket_s(people, incident):
    note = incident_services.incident_note(
        actor=people["agent"], incident=incident, kind=NoteKind.WORK_NOTE, body="the mailbox db is corrupt"
    )
    attachment = attachments.attach_file(incident, ContentFile(LOG, name="db.log"), by=people["agent"], note=note)
    assert attachment.internal and attachment.note == note
    comment = incident_services.incident_note(
        actor=people["caller"], incident=incident, kind=NoteKind.COMMENT, body="here is my log"
    )
    assert not attachments.attach_file(
        incident, ContentFile(LOG, name="mine.log"), by=people["caller"], note=comment
    ).internal
    other = incident_services.incident_create(actor=people["caller"], caller=people["caller"], title="Another")
    with pytest.raises(ValidationError, match="not one of this ticket"):
        attachments.attach_file(other, ContentFile(LOG, name="x.log"), by=people["caller"], note=comment)


def test_nothing_is_attached_to_a_closed_ticket(people):
    change = ChangeFactory(requester=people["agent"])
    from changes.models import RequestForChange

    RequestForChange.objects.filter(pk=change.pk).update(status="closed")
    change.refresh_from_db()
    with pytest.raises(ValidationError, match="This change is closed"):
        attachments.attach_file(change, upload("a.log", LOG), by=people["agent"])


def test_names_are_cleaned_of_folders_and_control_characters():
    assert attachments.clean_name("C:\\Users\\bob\\Desktop\\error.log") == "error.log"
    assert attachments.clean_name("../../etc/passwd") == "passwd"
    assert attachments.clean_name("a\x00b\r\nc.txt") == "abc.txt"
    assert attachments.clean_name("") == "attachment"
    long = attachments.clean_name("x" * 300 + ".log")
    assert len(long) == 255 and long.endswith(".log")
