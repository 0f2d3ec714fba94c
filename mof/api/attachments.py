"""Files on incidents, problems and changes in the API (mof.attachments):

    GET  /api/v1/{incidents|problems|changes}/{id}/attachments/                     the files (a page; ?cursor=, ?fields=)
    POST /api/v1/{incidents|problems|changes}/{id}/attachments/                     multipart: `file`, optional `internal`
    GET  /api/v1/{incidents|problems|changes}/{id}/attachments/{attachment_id}/          one file's details
    GET  /api/v1/{incidents|problems|changes}/{id}/attachments/{attachment_id}/download/ the file itself

Visibility is the pages': a ticket one may not see, or an internal file for someone who is
not IT staff, is a 404. A refused file is a 400 naming `file`.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from mof import attachments, policy
from mof.api.fields import SparseFieldsView
from mof.models import Attachment
from mof.views_attachments import file_response

# The route names' prefix per kind of ticket (incident_attachment, incident_attachment_download...).
ROUTE = {"incidents.incident": "incident", "incidents.problem": "problem", "changes.requestforchange": "change"}


class AttachmentSerializer(serializers.ModelSerializer):
    uploaded_by = serializers.PrimaryKeyRelatedField(read_only=True, help_text="Id of the person who attached it.")
    content_type = serializers.CharField(
        read_only=True, help_text="Detected from the content (the name and the type the client sent are not believed)."
    )
    size = serializers.IntegerField(read_only=True, help_text="Bytes.")
    download_url = serializers.SerializerMethodField(help_text="Where to GET the file (with the same credentials).")

    class Meta:
        model = Attachment
        fields = [
            "id",
            "name",
            "size",
            "content_type",
            "sha256",
            "internal",
            "uploaded_by",
            "uploaded_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, obj) -> str:
        label = (
            ContentType.objects.get_for_id(obj.ticket_type_id).model_class()._meta.label_lower
        )  # cached: no query per row
        path = reverse(f"{ROUTE[label]}_attachment_download", args=[obj.ticket_id, obj.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        help_text="The file (multipart/form-data). At most MOF_ATTACHMENT_MAX_BYTES; images, PDF, text and logs, office documents, zip, told by content.",
    )
    internal = serializers.BooleanField(default=False, help_text="Never shown to the caller (IT staff only).")


class AttachmentsMixin:
    """For the viewsets of incidents, problems and changes: GET and POST {id}/attachments/.
    Name "attachments" in the viewset's sparse_actions and paginated_actions."""

    @extend_schema(
        methods=["get"],
        responses=AttachmentSerializer(many=True),
        summary="The ticket's files you may see, oldest first",
    )
    @extend_schema(
        methods=["post"],
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer},
        summary="Attach a file (multipart/form-data: file, internal)",
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="attachments",
        parser_classes=[MultiPartParser, FormParser],
        filter_backends=[],
    )
    def attachments(self, request, pk=None):
        ticket = self.get_object()
        context = {"request": request}
        if request.method == "POST":
            serializer = AttachmentUploadSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            data = serializer.validated_data
            attachment = attachments.attach_file(ticket, data["file"], by=request.user, internal=data["internal"])
            return Response(AttachmentSerializer(attachment, context=context).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(attachments.visible_attachments(request.user, ticket).select_related(None))
        return self.get_paginated_response(self.sparse(AttachmentSerializer(page, many=True, context=context)).data)


def _ticket(user, label: str, pk):
    """The ticket if `user` may see it, else 404 (as the ticket's own endpoint answers)."""
    kind = attachments.KINDS[label]
    model = ContentType.objects.get_by_natural_key(*label.split(".")).model_class()
    ticket = get_object_or_404(model._default_manager.all(), pk=pk)
    if not policy.can(user, kind.view, ticket):
        raise Http404
    return ticket


def _attachment(request, label, pk, attachment_pk) -> Attachment:
    ticket = _ticket(request.user, label, pk)
    try:
        return attachments.attachment_for(request.user, attachment_pk, ticket=ticket)
    except Attachment.DoesNotExist:
        raise Http404 from None


class AttachmentView(SparseFieldsView, APIView):
    """One file of a ticket: its details and download link."""

    sparse_serializer = AttachmentSerializer
    label = ""

    @extend_schema(responses=AttachmentSerializer, summary="A file of the ticket")
    def get(self, request, pk, attachment_pk):
        attachment = _attachment(request, self.label, pk, attachment_pk)
        return Response(self.sparse(AttachmentSerializer(attachment, context={"request": request})).data)


class AnyMediaRenderer(BaseRenderer):
    """Lets a client ask for the file with any Accept header; an error still comes as JSON."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return JSONRenderer().render(data, "application/json", renderer_context)


class AttachmentDownloadView(APIView):
    """The file itself: a download with its detected type, nosniff, never a page."""

    renderer_classes = [JSONRenderer, AnyMediaRenderer]
    label = ""

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The file, as an attachment, with the content type detected when it was uploaded.",
            )
        },
        summary="Download a file of the ticket",
    )
    def get(self, request, pk, attachment_pk):
        return file_response(_attachment(request, self.label, pk, attachment_pk))

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if getattr(response, "accepted_renderer", None) is not None and isinstance(
            response.accepted_renderer, AnyMediaRenderer
        ):
            response.content_type = "application/json"  # an error, rendered as JSON whatever was asked
        return response


def urls(prefix: str, label: str, route: str):
    """The detail and download paths of one kind of ticket (the list and upload are the
    viewset's action)."""
    from django.urls import path

    return [
        path(
            f"{prefix}/<int:pk>/attachments/<int:attachment_pk>/",
            AttachmentView.as_view(label=label),
            name=f"{route}_attachment",
        ),
        path(
            f"{prefix}/<int:pk>/attachments/<int:attachment_pk>/download/",
            AttachmentDownloadView.as_view(label=label),
            name=f"{route}_attachment_download",
        ),
    ]
