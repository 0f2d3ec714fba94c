"""API of the Operating quadrant: freeze windows (with transitions), maintenance windows,
a change's conflicts and free slots, and the forward schedule."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from changes import selectors as change_selectors
from changes.conflicts import conflicts_for, next_free_slots, redact_for
from mof import policy
from mof.api.fields import SparseFieldsMixin, SparseFieldsView
from mof.api.views import HistoryMixin, TransitionsMixin, _written
from mof.models import Service
from mof.pagination import parse_id
from operations import calendar, selectors, services
from operations.api import serializers as s
from operations.api.jobs import schedule_serializer


class FreezeWindowViewSet(
    SparseFieldsMixin,
    TransitionsMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Change freezes (blackout periods). Managers propose them; `status` moves only
    through transitions (approve, activate, finish, withdraw). In force = approved or active."""

    serializer_class = s.FreezeWindowSerializer
    filterset_fields = {"status": ["exact", "in"], "start": ["gte", "lte"], "end": ["gte", "lte"]}
    ordering_fields = ["start", "id"]

    def get_queryset(self):
        return selectors.freeze_list(user=self.request.user).order_by("start", "id")

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "freeze.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        freeze = services.freeze_create(actor=request.user, **serializer.validated_data)
        return _written(serializer, self.get_queryset().get(pk=freeze.pk))

    def update(self, request, *args, **kwargs):
        freeze = self.get_object()
        policy.require(request.user, "freeze.add", freeze)
        serializer = self.get_serializer(freeze, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        services.freeze_update(actor=request.user, freeze=freeze, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=freeze.pk)).data)


class MaintenanceWindowViewSet(SparseFieldsMixin, HistoryMixin, viewsets.ModelViewSet):
    """Weekly maintenance windows of an IT service or a CI, in their own time zone."""

    serializer_class = s.MaintenanceWindowSerializer
    filterset_fields = ["service", "ci"]
    ordering_fields = ["name", "id"]

    def get_queryset(self):
        return selectors.maintenance_list(user=self.request.user).order_by("name", "id")

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "window.edit")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _written(serializer, services.maintenance_create(actor=request.user, **serializer.validated_data))

    def update(self, request, *args, **kwargs):
        window = self.get_object()
        policy.require(request.user, "window.edit", window)
        serializer = self.get_serializer(window, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        return Response(
            self.get_serializer(
                services.maintenance_update(actor=request.user, window=window, **serializer.validated_data)
            ).data
        )

    def destroy(self, request, *args, **kwargs):
        services.maintenance_delete(actor=request.user, window=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _slot(slot):
    return {"start": slot.start, "end": slot.end, "outside_maintenance_window": slot.outside_maintenance_window}


class ChangeConflictsView(SparseFieldsView, APIView):
    """A change's conflicts and next free slots: one object (?fields=conflicts skips the slots)."""

    sparse_serializer = s.ChangeConflictsSerializer

    @extend_schema(
        responses=s.ChangeConflictsSerializer,
        summary="A change's conflicts and the next free slots",
        parameters=[
            OpenApiParameter("slots", OpenApiTypes.INT, description="How many free slots to suggest (0-10, default 3).")
        ],
    )
    def get(self, request, pk):
        change = get_object_or_404(change_selectors.visible_changes(request.user), pk=pk)
        raw = request.query_params.get("slots", "3")
        if parse_id(raw) is None or int(raw) > 10:
            raise ValidationError({"slots": ["A whole number from 0 to 10."]})
        # What ?fields= leaves out is not worked out at all.
        conflicts = redact_for(conflicts_for(change), request.user) if self.wants("conflicts") else []
        slots = next_free_slots(change, count=int(raw)) if int(raw) and self.wants("free_slots") else []
        body = {
            "change": {
                "id": change.pk,
                "reference": change.reference,
                "planned_start": change.planned_start,
                "planned_end": change.planned_end,
            },
            "conflicts": [c.as_dict() for c in conflicts],
            "free_slots": [_slot(x) for x in slots],
        }
        return Response(self.sparse(s.ChangeConflictsSerializer(body)).data)


class ScheduleView(SparseFieldsView, APIView):
    """The forward schedule: ?fields= names the fields of each item, in every list."""

    sparse_serializer = s.ScheduleItemSerializer
    sparse_in = ("changes", "releases", "maintenance", "freezes", "jobs")

    @extend_schema(
        responses=schedule_serializer(),
        summary="The forward schedule of change in a period, with job runs",
        parameters=[
            OpenApiParameter(
                "start", OpenApiTypes.STR, required=True, description="YYYY-MM-DD or an ISO 8601 date-time."
            ),
            OpenApiParameter(
                "end",
                OpenApiTypes.STR,
                required=True,
                description="YYYY-MM-DD (that day included) or an ISO 8601 date-time; at most 366 days after start.",
            ),
            OpenApiParameter("service", OpenApiTypes.INT, description="Only what touches this IT service."),
            OpenApiParameter(
                "ci", OpenApiTypes.INT, description="Only what touches this CI (directly or through its impact set)."
            ),
            OpenApiParameter(
                "marks",
                OpenApiTypes.INT,
                enum=[0, 1],
                description="1 (default): each change's conflict marks; 0: the schedule alone (faster for long periods).",
            ),
        ],
    )
    def get(self, request):
        try:
            start, end = calendar.parse_range(request.query_params)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict)
        service, ci = _filters(request)
        marks = request.query_params.get("marks", "1")
        if marks not in ("0", "1"):
            raise ValidationError({"marks": ["0 or 1."]})
        # Conflict marks are the costly part: not worked out when ?fields= leaves them out.
        schedule = calendar.build(
            user=request.user,
            start=start,
            end=end,
            service=service,
            ci=ci,
            marks=marks == "1" and self.wants("conflicts"),
        )
        return Response(self.sparse_body(calendar.payload(schedule)))


def _filters(request):
    errors, service, ci = {}, None, None
    raw_service = request.query_params.get("service", "")
    if raw_service:
        service = (
            Service.objects.filter(pk=service_id).first() if (service_id := parse_id(raw_service)) is not None else None
        )
        if service is None or not policy.can(request.user, "service.view", service):
            errors["service"] = [f"No IT service with id {raw_service[:20]!r}."]
    raw_ci = request.query_params.get("ci", "")
    if raw_ci:
        ci = (
            policy.visible_cis(request.user).filter(pk=ci_id).first()
            if (ci_id := parse_id(raw_ci)) is not None
            else None
        )
        if ci is None:
            errors["ci"] = [f"No configuration item with id {raw_ci[:20]!r}."]
    if errors:
        raise ValidationError(errors)
    return service, ci
