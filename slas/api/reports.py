"""Report endpoints: compliance per SLA and metric for a period, as JSON or CSV."""

import datetime as dt

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from mof import policy
from mof.api.fields import SparseFieldsView, requested_fields
from mof.db_router import lagging_reads
from mof.models import Service
from slas import reports
from slas.models import ServiceLevelAgreement


class CSVRenderer(BaseRenderer):
    """`?format=csv` (or Accept: text/csv): the report's rows as CSV; an error as its messages."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, dict) and "rows" in data:
            wanted = requested_fields(renderer_context.get("request")) if renderer_context else None
            if wanted:  # ?fields=: those columns, under their API names
                return reports.to_csv(wanted, ([row.get(name) for name in wanted] for row in data["rows"]))
            return reports.compliance_csv(data["rows"])
        if isinstance(data, dict):
            return reports.to_csv(
                ["field", "message"],
                ([k, " ".join(map(str, v)) if isinstance(v, list) else v] for k, v in data.items()),
            )
        return ""


class ReportQuerySerializer(serializers.Serializer):
    strict_input = False  # the query string: ?fields=, ?page= are the view's (mof.api.strict)
    start = serializers.DateField(required=False, help_text="First day (YYYY-MM-DD); default 30 days before the end.")
    end = serializers.DateField(required=False, help_text="Last day, included (YYYY-MM-DD); default today.")
    sla = serializers.PrimaryKeyRelatedField(queryset=ServiceLevelAgreement.objects.all(), required=False)
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.all(), required=False)

    def validate(self, attrs):
        end = attrs.get("end") or timezone.localdate()
        start = attrs.get("start") or end - dt.timedelta(days=29)
        if start > end:
            raise serializers.ValidationError({"end": "The end must not be before the start."})
        if (end - start).days > 3660:
            raise serializers.ValidationError({"start": "A period is at most ten years."})
        tz = timezone.get_current_timezone()
        attrs["start_day"], attrs["end_day"] = start, end
        attrs["start"] = dt.datetime.combine(start, dt.time(0), tzinfo=tz)
        attrs["end"] = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=tz)
        return attrs


class ComplianceRowSerializer(serializers.Serializer):
    sla_id = serializers.IntegerField()
    sla = serializers.CharField()
    kind = serializers.CharField()
    service = serializers.CharField()
    metric = serializers.CharField()
    met = serializers.IntegerField()
    breached = serializers.IntegerField()
    open = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    compliance = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        allow_null=True,
        help_text="met / (met + breached), in %; null when nothing was decided.",
    )
    target_percentage = serializers.DecimalField(max_digits=5, decimal_places=2)
    meets_target = serializers.BooleanField(allow_null=True, help_text="Exact: met x 100 >= target x (met + breached).")


class ComplianceReportView(SparseFieldsView, APIView):
    """Compliance per SLA (or OLA) and metric for the clocks started in a period: met, breached,
    open and cancelled clocks (states decided on exact seconds) and the percentage against each
    SLA's target percentage. One grouped query whatever the number of tickets."""

    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    sparse_serializer = ComplianceRowSerializer
    sparse_in = ("rows",)  # ?fields= cuts each row; the period and the totals stay

    @extend_schema(
        parameters=[
            ReportQuerySerializer,
            OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"], required=False),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
        summary="SLA compliance report",
    )
    def get(self, request, *args, **kwargs):
        policy.require(request.user, "sla.view")
        query = ReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        with lagging_reads():  # a report may be seconds old: the read replica, when there is one
            rows = reports.compliance(
                start=params["start"], end=params["end"], sla=params.get("sla"), service=params.get("service")
            )
        total = reports.totals(rows)
        return Response(
            {
                "start": params["start_day"].isoformat(),
                "end": params["end_day"].isoformat(),
                "sla": getattr(params.get("sla"), "pk", None),
                "service": getattr(params.get("service"), "pk", None),
                "rows": self.sparse(ComplianceRowSerializer(rows, many=True)).data,
                "totals": {
                    **total,
                    "compliance": str(total["compliance"]) if total["compliance"] is not None else None,
                },
            }
        )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(getattr(response, "accepted_renderer", None), CSVRenderer) and response.status_code == 200:
            response["Content-Disposition"] = 'attachment; filename="sla-compliance.csv"'
        return response
