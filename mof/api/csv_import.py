"""The CMDB's CSV import over the API: `POST /api/v1/cis/import/` and
`POST /api/v1/relationships/import/`, a multipart `file` or a `text/csv` body.
`?dry_run=true` previews (writes nothing); otherwise the file is applied all or nothing.
`?sha256=` (the preview's digest) makes sure the applied file is the one previewed.
Errors are 400 with `{"errors": [{"row": n, "field": "...", "message": "..."}]}`; the
rules are those of the pages (mof.cmdb_import)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, parsers, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from mof import cmdb_import
from mof.csv_io import ImportRejected, RowError, max_bytes


class CSVBodyParser(parsers.BaseParser):
    """A raw `text/csv` body, read up to one byte past the import limit."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return {"csv": stream.read(max_bytes() + 1) if stream is not None else b""}


class CSVUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The CSV file (UTF-8, with or without BOM).")


class ImportErrorSerializer(serializers.Serializer):
    row = serializers.IntegerField(
        allow_null=True, help_text="The row as a spreadsheet numbers it (the header is row 1); null for the whole file."
    )
    field = serializers.CharField()
    message = serializers.CharField()


class ImportRowSerializer(serializers.Serializer):
    row = serializers.IntegerField()
    action = serializers.ChoiceField(choices=["create", "update", "unchanged"])
    label = serializers.CharField()
    fields = serializers.ListField(child=serializers.CharField())


class ImportSummarySerializer(serializers.Serializer):
    rows = serializers.IntegerField()
    create = serializers.IntegerField()
    update = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    errors = serializers.IntegerField()


class ImportResultSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["cis", "relationships"])
    dry_run = serializers.BooleanField()
    applied = serializers.BooleanField()
    sha256 = serializers.CharField()
    summary = ImportSummarySerializer()
    ignored_columns = serializers.ListField(child=serializers.CharField())
    rows = ImportRowSerializer(many=True)
    errors = ImportErrorSerializer(many=True)


class ImportErrorsSerializer(serializers.Serializer):
    errors = ImportErrorSerializer(many=True)
    summary = ImportSummarySerializer(required=False)


def _truthy(value) -> bool:
    return str(value or "").lower() in ("1", "true", "yes", "on")


def _upload(request):
    if isinstance(request.data, dict) and "csv" in request.data and isinstance(request.data["csv"], bytes):
        return request.data["csv"]
    upload = request.data.get("file") if hasattr(request.data, "get") else None
    if upload is None or not hasattr(upload, "read"):
        raise ImportRejected(
            [RowError(None, "file", "Send the CSV as a multipart field named file, or as a text/csv body.")]
        )
    return upload.read(max_bytes() + 1)


def run_import(request, *, plan, apply) -> Response:
    try:
        try:
            data = _upload(request)
        except exceptions.ParseError as exc:  # a broken multipart body: the same error shape
            raise ImportRejected([RowError(None, "file", str(exc.detail))]) from None
        if _truthy(request.query_params.get("dry_run")):
            result = plan(actor=request.user, data=data)
            if result.errors:
                return Response(
                    {"errors": [e.as_dict() for e in result.errors], "summary": result.summary},
                    status=status.HTTP_400_BAD_REQUEST,
                )
        else:
            result = apply(actor=request.user, data=data, expected_digest=request.query_params.get("sha256") or None)
    except ImportRejected as rejected:
        return Response({"errors": [e.as_dict() for e in rejected.errors]}, status=status.HTTP_400_BAD_REQUEST)
    return Response(ImportResultSerializer(result.as_dict()).data)


def _schema(what: str):
    return extend_schema(
        summary=f"Import {what} from CSV",
        description=(
            f"Preview (`dry_run=true`) or apply, all or nothing, a CSV of {what}. "
            "Columns and rules: see the import page's template CSV."
        ),
        request={"multipart/form-data": CSVUploadSerializer, "text/csv": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter("dry_run", bool, default=False, description="true: check every row and write nothing."),
            OpenApiParameter("sha256", str, description="Apply only if the file's SHA-256 (from the preview) matches."),
        ],
        responses={200: ImportResultSerializer, 400: ImportErrorsSerializer},
    )


_PARSERS = [parsers.MultiPartParser, CSVBodyParser]


class CIImportMixin:
    """POST cis/import/ on the configuration items' viewset."""

    @_schema("configuration items")
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=_PARSERS,
        filter_backends=[],
        pagination_class=None,
    )
    def import_csv(self, request):
        return run_import(request, plan=cmdb_import.plan_ci_import, apply=cmdb_import.apply_ci_import)


class RelationshipImportMixin:
    """POST relationships/import/ on the relationships' viewset."""

    @_schema("relationships")
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=_PARSERS,
        filter_backends=[],
        pagination_class=None,
    )
    def import_csv(self, request):
        return run_import(
            request, plan=cmdb_import.plan_relationship_import, apply=cmdb_import.apply_relationship_import
        )
