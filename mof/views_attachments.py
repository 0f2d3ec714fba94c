"""Downloading an attachment (mof.attachments): only for someone who may see its ticket (and
an internal one only for IT staff), always as a download, never rendered by the browser."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe

from mof import attachments
from mof.forms import AttachmentForm
from mof.models import Attachment

# Types a browser would run or render as a page: sent as bytes, whatever was stored.
NEVER_SERVED_AS = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "application/xml",
    "text/xml",
    "application/javascript",
    "text/javascript",
}


def file_response(attachment: Attachment) -> FileResponse:
    """The file streamed from the storage as a download, with its detected type."""
    try:
        handle = attachment.file.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404("The file is no longer in the storage.") from None
    content_type = attachment.content_type
    if content_type in NEVER_SERVED_AS or not content_type or "/" not in content_type:
        content_type = "application/octet-stream"
    response = FileResponse(handle, as_attachment=True, filename=attachment.name, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    # Opened in a tab anyway (a PDF viewer): no script, no plugin, no request anywhere.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_safe
def attachment_download(request, pk):
    try:
        attachment = attachments.attachment_for(request.user, pk)
    except Attachment.DoesNotExist:
        raise Http404("No such file.") from None
    return file_response(attachment)


def attachment_context(user, ticket, *, url: str, can_attach: bool, form=None, internal_choice: bool = True) -> dict:
    """What a ticket's page shows of its files (one query) and its upload form, if any.
    `internal_choice`: offer the internal box to those who may use it."""
    may_internal = internal_choice and attachments.may_see_internal(user)
    return {
        "attachments": list(attachments.visible_attachments(user, ticket)),
        "attachment_form": form
        or (AttachmentForm(may_mark_internal=may_internal, auto_id="attach-%s") if can_attach else None),
        "attachment_url": url,
        "attachment_max_bytes": settings.MOF_ATTACHMENT_MAX_BYTES,
        "attachment_show_internal": attachments.may_see_internal(user),
    }


def attachment_form(request, *, internal_choice: bool = True) -> AttachmentForm:
    may_internal = internal_choice and attachments.may_see_internal(request.user)
    return AttachmentForm(request.POST, request.FILES, may_mark_internal=may_internal, auto_id="attach-%s")


def attach_from_form(request, form, ticket):
    """The service call of a valid form (the views' `attempt` turns refusals into form errors)."""
    return attachments.attach_file(
        ticket, form.cleaned_data["file"], by=request.user, internal=form.cleaned_data.get("internal", False)
    )
