"""Files on incidents, problems and changes: the one way in (`attach_file`, used by the pages,
the API and inbound mail) and what a person may see (`visible_attachments`, `attachment_for`).

- Who: whoever may comment on the ticket may attach to it (a caller to their own incident);
  an internal file (on a work note, or marked so by IT staff) needs `attachment.internal`
  and is never shown to anyone without it. A ticket one may not see has no attachments one
  may see: the pages and the API answer 404, as for the ticket itself.
- Limits (settings): MOF_ATTACHMENT_MAX_BYTES per file, MOF_ATTACHMENT_MAX_PER_TICKET files
  per ticket (counted under the ticket's row lock, so two uploads at once cannot both take
  the last place), MOF_ATTACHMENT_ALLOWED_TYPES.
- Type: detected from the content (magic numbers with `filetype`; text told from binary by
  its bytes; HTML, XML and SVG recognised and refused), never from the name or the type the
  browser sent. A name that claims another type than the content's (`shot.png` holding text)
  or an active one (`.html`, `.exe`, `.js`...) is refused too.
- Storage: Django's storage API, `STORAGES["attachments"]` (mof.models_attachments), at a
  random path; the original name is kept in the row. The row, the file's audit entry and an
  entry on the ticket's own history are written in one transaction; a file written before a
  refusal or a failure is removed again.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import posixpath
import re
import unicodedata
from dataclasses import dataclass

import filetype
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.template.defaultfilters import filesizeformat

from mof import audit, policy
from mof.models_attachments import Attachment

log = logging.getLogger("mof.attachments")

SNIFF_BYTES = 8192  # what filetype reads, and enough to tell text from binary
NAME_MAX = 255


@dataclass(frozen=True)
class TicketKind:
    view: str  # policy action: may see the ticket
    attach: str  # policy action: may attach to it
    closed: tuple[str, ...]  # states in which nothing more is attached
    noun: str


KINDS: dict[str, TicketKind] = {
    "incidents.incident": TicketKind("incident.view", "incident.attach", ("closed", "cancelled"), "incident"),
    "incidents.problem": TicketKind("problem.view", "problem.attach", ("closed", "closed_no_fix"), "problem"),
    "changes.requestforchange": TicketKind(
        "change.view", "change.attach", ("closed", "cancelled", "rejected"), "change"
    ),
}


def ticket_kind(ticket) -> TicketKind:
    try:
        return KINDS[ticket._meta.label_lower]
    except (KeyError, AttributeError):
        raise ValueError(f"Files cannot be attached to {ticket!r}.") from None


# --- what a person may see -------------------------------------------------------------


def may_see_internal(user) -> bool:
    return policy.can(user, "attachment.internal")


def visible_attachments(user, ticket):
    """The ticket's attachments `user` may see, oldest first, with their uploaders (one query)."""
    kind = ticket_kind(ticket)
    qs = Attachment.objects.filter(ticket_type=ContentType.objects.get_for_model(ticket), ticket_id=ticket.pk)
    if not policy.can(user, kind.view, ticket):
        return qs.none()
    if not may_see_internal(user):
        qs = qs.filter(internal=False)
    return qs.select_related("uploaded_by").order_by("uploaded_at", "id")


def attachment_for(user, pk, *, ticket=None) -> Attachment:
    """The attachment if `user` may see it (and, given `ticket`, if it is that ticket's), else
    Attachment.DoesNotExist: a file of a ticket one may not see does not exist for them."""
    attachment = Attachment.objects.select_related("ticket_type").get(pk=pk)
    model = attachment.ticket_type.model_class()
    if model is None or model._meta.label_lower not in KINDS:
        raise Attachment.DoesNotExist
    if ticket is not None:
        if type(ticket) is not model or attachment.ticket_id != ticket.pk:
            raise Attachment.DoesNotExist
    else:
        ticket = model._default_manager.filter(pk=attachment.ticket_id).first()
        if ticket is None:
            raise Attachment.DoesNotExist
    if not policy.can(user, ticket_kind(ticket).view, ticket) or (attachment.internal and not may_see_internal(user)):
        raise Attachment.DoesNotExist
    return attachment


# --- content ---------------------------------------------------------------------------

# Markup a browser would render (WHATWG MIME sniffing's HTML patterns, XML, SVG): refused even
# under a text name, since the file could be opened from the downloads folder in a browser.
_MARKUP = re.compile(
    rb"<(?:!doctype\s+html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--|\?xml|svg)(?=[\s>/]|$)",
    re.IGNORECASE,
)
_TEXT_CONTROLS = set(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B, 0x08}
_ZIP_OFFICE = {"docx", "xlsx", "pptx", "odt", "ods", "odp", "zip"}
_ZIP_TYPES = {
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
}
# Names that run or render when opened, whatever the content: refused.
ACTIVE_EXTENSIONS = frozenset(
    "html htm xhtml xht shtml svg svgz xml xsl xslt js mjs jse hta htc exe dll com scr pif cpl msi msp "
    "bat cmd ps1 psm1 psd1 vbs vbe wsf wsh wsc jar lnk reg inf url php phtml jsp asp aspx swf".split()
)
# Names that promise text.
TEXT_EXTENSIONS = frozenset("txt text log csv tsv json md ini cfg conf yaml yml out err trace".split())
# Names that promise a type filetype knows: that type, or refused.
_EXTENSION_TYPES = {t.extension.lower(): t.mime for t in filetype.types} | {
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "tiff": "image/tiff",
}


def _markup(text: bytes) -> str | None:
    """The markup type a browser would take these bytes for, or None."""
    match = _MARKUP.match(text.lstrip(b" \t\r\n\x0c"))
    if match is None:
        return None
    if re.search(rb"<svg[\s>]", text, re.IGNORECASE):
        return "image/svg+xml"
    return "application/xml" if match.group(0).lower() == b"<?xml" else "text/html"


def _looks_like_text(head: bytes) -> str | None:
    """'text/plain', a markup type (text/html, application/xml, image/svg+xml) or None
    (binary) for the first bytes of a file."""
    if not head:
        return "text/plain"
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if head.startswith(bom):
            try:
                text = codecs.getincrementaldecoder(encoding)().decode(head[len(bom) :], final=False)
            except UnicodeDecodeError:
                return None
            if any(ord(c) in _TEXT_CONTROLS or c == "\x00" for c in text):
                return None
            return _markup(text.encode("utf-8", "replace")) or "text/plain"
    if b"\x00" in head:
        return None
    # UTF-8 or a legacy 8-bit encoding (a Windows-1252 log): text while control bytes are rare.
    if sum(1 for b in head if b in _TEXT_CONTROLS) * 100 > len(head):
        return None
    return _markup(head) or "text/plain"


def detect_type(head: bytes) -> str:
    """The content type of a file from its first bytes; application/octet-stream if unknown."""
    kind = filetype.guess(head) if head else None
    if kind is not None:
        return kind.mime
    return _looks_like_text(head) or "application/octet-stream"


def clean_name(raw: str | None) -> str:
    """The uploader's file name without folders or control characters, at most 255 characters
    (the extension kept); 'attachment' when nothing is left."""
    name = posixpath.basename(str(raw or "").replace("\\", "/"))
    name = (
        "".join(c for c in unicodedata.normalize("NFC", name) if unicodedata.category(c)[0] != "C").strip().strip(".")
    )
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: NAME_MAX - len(ext) - 1] + "." + ext) if dot and len(ext) < 20 else name[:NAME_MAX]
    return name or "attachment"


def _extension(name: str) -> str:
    return name.rpartition(".")[2].lower() if "." in name else ""


def check_name(name: str, content_type: str) -> None:
    ext = _extension(name)
    if ext in ACTIVE_EXTENSIONS:
        raise ValidationError({"file": f"Files named .{ext} are not accepted: they run or render when opened."})
    if ext in TEXT_EXTENSIONS and content_type != "text/plain":
        raise ValidationError({"file": f"The name says .{ext} (text) but the content is {content_type}."})
    claimed = _EXTENSION_TYPES.get(ext)
    if claimed is None or claimed == content_type:
        return
    if ext in _ZIP_OFFICE and content_type in _ZIP_TYPES:  # an office document is a zip archive
        return
    raise ValidationError({"file": f"The name says .{ext} ({claimed}) but the content is {content_type}."})


def _as_file(uploaded_file) -> File:
    if isinstance(uploaded_file, File):
        return uploaded_file
    return File(uploaded_file, name=getattr(uploaded_file, "name", None))


def _read_head(f: File) -> bytes:
    f.seek(0)
    head = f.read(SNIFF_BYTES)
    f.seek(0)
    return head if isinstance(head, bytes) else head.encode()


def _sha256(f: File) -> str:
    digest = hashlib.sha256()
    f.seek(0)
    for chunk in f.chunks():
        digest.update(chunk)
    f.seek(0)
    return digest.hexdigest()


def allowed_types() -> list[str]:
    return list(settings.MOF_ATTACHMENT_ALLOWED_TYPES)


# --- the one way in --------------------------------------------------------------------


def _check_note(ticket, note) -> bool:
    """True when the note is internal (a work note). The note must be the ticket's."""
    link = next((f for f in note._meta.concrete_fields if f.is_relation and f.related_model is type(ticket)), None)
    if link is None or getattr(note, link.attname) != ticket.pk:
        raise ValidationError({"note": "The note is not one of this ticket's."})
    return bool(getattr(note, "is_internal", False))


def attach_file(ticket, uploaded_file, *, by, internal=False, note=None) -> Attachment:
    """Attach `uploaded_file` (an UploadedFile, or any django File / file object with a name)
    to `ticket` (an Incident, Problem or RequestForChange) as `by`. `note`: the work note or
    comment it came with (a work note makes it internal). Refusals: policy.Refused (403) or
    ValidationError with a message under `file` (400)."""
    kind = ticket_kind(ticket)
    if note is not None and _check_note(ticket, note):
        internal = True
    policy.require(by, kind.attach, ticket)
    if internal:
        policy.require(by, "attachment.internal", ticket)
    if getattr(ticket, "status", None) in kind.closed:
        raise ValidationError(
            {"file": f"This {kind.noun} is {ticket.get_status_display().lower()}: nothing more can be attached to it."}
        )
    f = _as_file(uploaded_file)
    name = clean_name(getattr(uploaded_file, "name", None) or f.name)
    size = f.size
    limit = settings.MOF_ATTACHMENT_MAX_BYTES
    if not size:
        raise ValidationError({"file": "The file is empty."})
    if size > limit:
        raise ValidationError(
            {"file": f"The file is {filesizeformat(size)}; at most {filesizeformat(limit)} may be attached."}
        )
    content_type = detect_type(_read_head(f))
    if content_type not in allowed_types():
        raise ValidationError(
            {
                "file": f"Files of type {content_type} are not accepted (by content, whatever the name). Accepted: images, PDF, text and logs, office documents, zip."
            }
        )
    check_name(name, content_type)
    sha256 = _sha256(f)

    ticket_type = ContentType.objects.get_for_model(ticket)
    attachment = Attachment(
        ticket_type=ticket_type,
        ticket_id=ticket.pk,
        name=name,
        size=size,
        content_type=content_type,
        sha256=sha256,
        internal=bool(internal),
        uploaded_by=by,
        note_type=ContentType.objects.get_for_model(note) if note is not None else None,
        note_id=note.pk if note is not None else None,
    )
    stored = None
    try:
        with audit.acting_as(by), transaction.atomic():
            # The ticket's row lock: uploads to one ticket are counted one after the other.
            type(ticket)._base_manager.select_for_update().filter(pk=ticket.pk).values_list("pk", flat=True).first()
            count = Attachment.objects.filter(ticket_type=ticket_type, ticket_id=ticket.pk).count()
            if count >= settings.MOF_ATTACHMENT_MAX_PER_TICKET:
                raise ValidationError({"file": f"This {kind.noun} already has {count} files, the most one may have."})
            attachment.file.save(name, f, save=False)
            stored = attachment.file.name
            attachment.save()
            key = "internal_attachment" if attachment.internal else "attachment"
            audit.record_related(
                ticket,
                {key: [None, f"{name} ({filesizeformat(size)}, {content_type})"]},
                detail={
                    "attachment": attachment.pk,
                    "sha256": sha256,
                    "size": size,
                    "content_type": content_type,
                    "internal": attachment.internal,
                },
            )
    except BaseException:
        if stored:
            try:
                attachment.file.storage.delete(stored)
            except Exception:  # the refusal or failure is what the caller must see
                log.exception("could not remove %s after a failed attachment", stored)
        raise
    return attachment
