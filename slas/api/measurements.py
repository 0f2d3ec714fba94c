"""API of availability and capacity management: measurements (batched), the availability
report, capacity thresholds and warnings (convert to a draft RFC, dismiss)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from mof import policy
from mof.api.fields import SparseFieldsMixin, SparseFieldsView
from mof.api.pagination import PortalPagination
from mof.api.views import HistoryMixin
from mof.models import Service
from mof.pagination import parse_id
from slas import availability, capacity
from slas.models import (
    AvailabilityTarget,
    BusinessCalendar,
    CapacityThreshold,
    CapacityWarning,
    Measurement,
    OutageRecord,
)


class MeasurementSerializer(serializers.ModelSerializer):
    time = serializers.DateTimeField(source="at")

    class Meta:
        model = Measurement
        fields = ["id", "ci", "metric", "value", "time", "received_at"]


class MeasurementInputSerializer(serializers.Serializer):
    """For the schema: a single object or a list of them."""

    ci = serializers.CharField(help_text="The CI's id or name.")
    metric = serializers.CharField(max_length=80)
    value = serializers.FloatField()
    time = serializers.DateTimeField(
        required=False,
        help_text="When it was read (ISO 8601; default now). At most 5 minutes ahead of the server's clock.",
    )


class MeasurementView(SparseFieldsView, APIView):
    """POST one reading or a batch (a list); all or nothing: any bad row is a 400 naming each
    bad row's index, and nothing is written. GET lists readings (?ci=&metric=&since=&until=)."""

    pagination_class = PortalPagination  # GET pages like every list (and the schema says so)
    sparse_serializer = MeasurementSerializer
    sparse_in = ("results",)

    @extend_schema(
        request=MeasurementInputSerializer(many=True), responses={201: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT}
    )
    def post(self, request):
        data = request.data
        single = isinstance(data, dict)
        rows = [data] if single else data
        try:
            saved = capacity.measurements_record(actor=request.user, rows=rows if isinstance(rows, list) else None)
        except capacity.BatchRejected as exc:
            if single:
                body = {k: v for k, v in exc.rows[0].items() if k != "index"}
            else:
                body = {
                    "detail": f"{len(exc.rows)} of {len(rows)} measurements are invalid; none was recorded.",
                    "rows": exc.rows,
                }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        if single:
            return Response(MeasurementSerializer(saved[0]).data, status=status.HTTP_201_CREATED)
        return Response({"created": len(saved)}, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("ci", int),
            OpenApiParameter("metric", str),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
        ],
        responses=MeasurementSerializer(many=True),
    )
    def get(self, request):
        qs = capacity.visible_measurements(request.user)
        params = request.query_params
        errors = {}
        if params.get("ci"):
            if parse_id(params["ci"]) is None:
                errors["ci"] = ["A CI id."]
            else:
                qs = qs.filter(ci_id=parse_id(params["ci"]))
        if params.get("metric"):
            qs = qs.filter(metric=params["metric"])
        for name, lookup in (("since", "at__gte"), ("until", "at__lte")):
            if params.get(name):
                when = parse_datetime(params[name])
                if when is None:
                    errors[name] = ["An ISO date-time."]
                else:
                    qs = qs.filter(**{lookup: when})
        if errors:
            raise ValidationError(errors)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(qs.order_by("id"), request, self)
        return paginator.get_paginated_response(self.sparse(MeasurementSerializer(page, many=True)).data)


class AvailabilityRowSerializer(serializers.Serializer):
    """One service's row of the availability report (slas.availability.Availability.as_dict)."""

    service = serializers.IntegerField()
    service_name = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="As measured: capped at now.")
    scheduled_seconds = serializers.IntegerField(help_text="The service's hours in the period.")
    planned_seconds = serializers.IntegerField(help_text="Of those, taken out by planned outages.")
    agreed_seconds = serializers.IntegerField(help_text="Scheduled less planned.")
    downtime_seconds = serializers.IntegerField()
    uptime_seconds = serializers.IntegerField()
    availability_percentage = serializers.CharField(allow_null=True)
    target_percentage = serializers.CharField(allow_null=True)
    met = serializers.BooleanField(allow_null=True)
    failures = serializers.IntegerField()
    mtbf_seconds = serializers.FloatField(allow_null=True)
    mtrs_seconds = serializers.FloatField(allow_null=True)
    mtbsi_seconds = serializers.FloatField(allow_null=True)


class AvailabilityReportView(SparseFieldsView, APIView):
    """Availability per service for a period: agreed service time, downtime, percentage
    against the target (met: compared exactly), failures, MTBF, MTRS and MTBSI, in seconds.
    `start`/`end`: YYYY-MM-DD (whole days, end inclusive) or ISO date-times; default the last 30 days."""

    sparse_serializer = AvailabilityRowSerializer
    sparse_in = ("results",)  # ?fields= cuts each service's row; the period stays

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str),
            OpenApiParameter("end", str),
            OpenApiParameter("service", int, many=True),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request):
        policy.require(request.user, "availability.view")
        try:
            start, end = availability.parse_period(request.query_params.get("start"), request.query_params.get("end"))
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        services = None
        wanted = request.query_params.getlist("service")
        if wanted:
            services = [parse_id(w) for w in wanted]
            if None in services:
                raise ValidationError({"service": ["Service ids."]})
            found = set(Service.objects.filter(pk__in=services).values_list("pk", flat=True))
            missing = sorted(set(services) - found)
            if missing:
                raise ValidationError({"service": [f"Unknown service {m}." for m in missing]})
        rows = availability.availability_report(request.user, start, end, services=services)
        return Response(self.sparse_body({"start": start, "end": end, "results": [r.as_dict() for r in rows]}))


class ThresholdSerializer(serializers.ModelSerializer):
    class Meta:
        model = CapacityThreshold
        fields = [
            "id",
            "ci_class",
            "metric",
            "threshold",
            "direction",
            "unit",
            "label",
            "window_days",
            "warn_within_days",
        ]


class ThresholdViewSet(
    SparseFieldsMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Capacity thresholds per CI class and metric (managers edit)."""

    serializer_class = ThresholdSerializer
    filterset_fields = ["ci_class", "metric"]

    def get_queryset(self):
        if not policy.can(self.request.user, "capacity.view"):
            return CapacityThreshold.objects.none()
        return CapacityThreshold.objects.select_related("ci_class").order_by("ci_class__name", "metric")

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "capacity.edit")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        saved = capacity.threshold_save(actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(saved).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        threshold = self.get_object()
        policy.require(request.user, "capacity.edit", threshold)
        serializer = self.get_serializer(threshold, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        saved = capacity.threshold_save(actor=request.user, instance=threshold, **serializer.validated_data)
        return Response(self.get_serializer(saved).data)

    def destroy(self, request, *args, **kwargs):
        capacity.threshold_delete(actor=request.user, threshold=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class WarningSerializer(serializers.ModelSerializer):
    ci_name = serializers.CharField(source="ci.name", read_only=True)
    summary = serializers.CharField(read_only=True)

    class Meta:
        model = CapacityWarning
        fields = [
            "id",
            "ci",
            "ci_name",
            "metric",
            "summary",
            "threshold_value",
            "direction",
            "current_value",
            "slope_per_day",
            "forecast_at",
            "status",
            "change",
            "decided_by",
            "decided_at",
            "decision_note",
            "created_at",
        ]
        read_only_fields = fields


class WarningDecisionSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    title = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Convert only: the RFC's title."
    )


class WarningViewSet(
    SparseFieldsMixin, HistoryMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Capacity warnings raised by the forecast; a manager converts one into a draft RFC or dismisses it."""

    serializer_class = WarningSerializer
    filterset_fields = ["status", "ci", "metric"]

    def get_queryset(self):
        return capacity.visible_warnings(self.request.user).order_by("forecast_at", "id")

    @extend_schema(request=WarningDecisionSerializer, responses=WarningSerializer)
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        warning = self.get_object()
        data = WarningDecisionSerializer(data=request.data if isinstance(request.data, dict) else {})
        data.is_valid(raise_exception=True)
        try:
            capacity.warning_convert(actor=request.user, warning=warning, **data.validated_data)
        except DjangoValidationError as exc:
            if "status" in getattr(exc, "message_dict", {}):
                return Response(
                    {"detail": exc.message_dict["status"][0], "code": "already_decided"},
                    status=status.HTTP_409_CONFLICT,
                )
            raise
        return Response(self.get_serializer(self.get_queryset().get(pk=warning.pk)).data)

    @extend_schema(request=WarningDecisionSerializer, responses=WarningSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        warning = self.get_object()
        data = WarningDecisionSerializer(data=request.data if isinstance(request.data, dict) else {})
        data.is_valid(raise_exception=True)
        try:
            capacity.warning_dismiss(actor=request.user, warning=warning, note=data.validated_data.get("note", ""))
        except DjangoValidationError as exc:
            if "status" in getattr(exc, "message_dict", {}):
                return Response(
                    {"detail": exc.message_dict["status"][0], "code": "already_decided"},
                    status=status.HTTP_409_CONFLICT,
                )
            raise
        return Response(self.get_serializer(self.get_queryset().get(pk=warning.pk)).data)


class OutageSerializer(serializers.ModelSerializer):
    class Meta:
        model = OutageRecord
        fields = ["id", "service", "start", "end", "reason", "planned", "recorded_by", "created_at"]
        read_only_fields = ["recorded_by", "created_at"]


class OutageViewSet(
    SparseFieldsMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Outages recorded by hand (major incidents record their own); planned ones are agreed
    maintenance, taken out of the agreed service time. Managers record and delete them."""

    serializer_class = OutageSerializer
    filterset_fields = ["service", "planned"]

    def get_queryset(self):
        if not policy.can(self.request.user, "availability.view"):
            return OutageRecord.objects.none()
        return OutageRecord.objects.order_by("-start", "id")

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "availability.edit")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = availability.outage_record_create(actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(record).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        availability.outage_record_delete(actor=request.user, record=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ServiceAvailabilitySettingsSerializer(serializers.Serializer):
    service = serializers.IntegerField(read_only=True)
    target_percentage = serializers.DecimalField(
        max_digits=7, decimal_places=4, allow_null=True, required=False, help_text="null: no target."
    )
    calendar = serializers.PrimaryKeyRelatedField(
        queryset=BusinessCalendar.objects.all(),
        allow_null=True,
        required=False,
        help_text="The agreed service hours; null: 24x7.",
    )


class ServiceAvailabilitySettingsView(SparseFieldsView, APIView):
    """A service's availability target and agreed service hours (GET; managers PUT/PATCH)."""

    sparse_serializer = ServiceAvailabilitySettingsSerializer

    def _service(self, pk):
        policy.require(self.request.user, "availability.view")
        service = Service.objects.filter(pk=pk).first()
        if service is None:
            from rest_framework.exceptions import NotFound

            raise NotFound()
        return service

    def _body(self, service):
        calendar = availability.service_calendar(service)
        target = AvailabilityTarget.objects.filter(service=service).values_list("target_percentage", flat=True).first()
        return {
            "service": service.pk,
            "target_percentage": str(target) if target is not None else None,
            "calendar": calendar.pk if calendar else None,
        }

    @extend_schema(responses=ServiceAvailabilitySettingsSerializer)
    def get(self, request, pk):
        return Response(self.sparse_body(self._body(self._service(pk))))

    @extend_schema(request=ServiceAvailabilitySettingsSerializer, responses=ServiceAvailabilitySettingsSerializer)
    def put(self, request, pk):
        service = self._service(pk)
        policy.require(request.user, "availability.edit", service)
        data = ServiceAvailabilitySettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        from django.db import transaction

        with transaction.atomic():
            if "target_percentage" in data.validated_data:
                availability.availability_target_set(
                    actor=request.user, service=service, target_percentage=data.validated_data["target_percentage"]
                )
            if "calendar" in data.validated_data:
                availability.service_hours_set(
                    actor=request.user, service=service, calendar=data.validated_data["calendar"]
                )
        return Response(self._body(service))

    patch = put
