from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import ListAPIView
from rest_framework.response import Response

from incidents.selectors import visible_incidents
from mof import policy
from mof.api.fields import SparseFieldsMixin, SparseFieldsView
from mof.api.views import HistoryMixin, TransitionsMixin
from slas import engine, services
from slas.api import serializers as s
from slas.models import BusinessCalendar, ServiceLevelAgreement, SLAClock


class CalendarViewSet(
    SparseFieldsMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Business calendars: weekly working intervals in a time zone, public holidays of a country/region, own dates."""

    serializer_class = s.CalendarSerializer
    search_fields = ["name"]

    def get_queryset(self):
        if not policy.can(self.request.user, "calendar.view"):
            return BusinessCalendar.objects.none()
        return BusinessCalendar.objects.prefetch_related("intervals", "own_holidays").order_by("name")

    def _save(self, request, calendar=None, partial=False):
        policy.require(request.user, "calendar.edit", calendar)
        serializer = self.get_serializer(calendar, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        intervals = data.pop("intervals", None)
        holidays = data.pop("own_holidays", None)
        saved = services.calendar_save(
            actor=request.user,
            calendar=calendar,
            intervals=[(i["weekday"], i["start"], i["end"]) for i in intervals] if intervals is not None else None,
            holidays=[(h["date"], h["name"]) for h in holidays] if holidays is not None else None,
            **data,
        )
        return self.get_queryset().get(pk=saved.pk)

    def create(self, request, *args, **kwargs):
        calendar = self._save(request)
        return Response(self.get_serializer(calendar).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        calendar = self._save(request, self.get_object(), partial=kwargs.get("partial", False))
        return Response(self.get_serializer(calendar).data)


class SLAViewSet(
    SparseFieldsMixin,
    TransitionsMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """SLAs and OLAs with their versions; activated only by the SLA Review."""

    serializer_class = s.SLASerializer
    filterset_fields = ["status", "kind"]
    search_fields = ["name"]
    kind = None

    def get_queryset(self):
        if not policy.can(self.request.user, "sla.view"):
            return ServiceLevelAgreement.objects.none()
        qs = ServiceLevelAgreement.objects.prefetch_related("versions").order_by("name")
        return qs.filter(kind=self.kind) if self.kind else qs

    @extend_schema(request=s.SLACreateSerializer, responses=s.SLASerializer)
    def create(self, request, *args, **kwargs):
        policy.require(request.user, "sla.edit")
        serializer = s.SLACreateSerializer(
            data={**request.data, **({"kind": self.kind} if self.kind else {})}
            if isinstance(request.data, dict)
            else request.data
        )
        serializer.is_valid(raise_exception=True)
        sla = services.sla_create(actor=request.user, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=sla.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.NewVersionSerializer, responses={201: s.VersionSerializer})
    @action(detail=True, methods=["post"])
    def versions(self, request, pk=None):
        """Edit = a new version; running clocks keep theirs unless retarget_running."""
        sla = self.get_object()
        serializer = s.NewVersionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.sla_new_version(actor=request.user, sla=sla, **serializer.validated_data)
        return Response(s.VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class OLAViewSet(SLAViewSet):
    """Operational level agreements between internal assignment groups."""

    kind = "ola"


class IncidentClocksView(SparseFieldsView, ListAPIView):
    """The SLA clocks of an incident, each with its timeline."""

    serializer_class = s.ClockSerializer
    sparse_serializer = s.ClockSerializer
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        incident = visible_incidents(self.request.user).filter(pk=self.kwargs["pk"]).first()
        if incident is None:
            from rest_framework.exceptions import NotFound

            raise NotFound()
        return (
            SLAClock.objects.filter(ticket_type="incidents.incident", ticket_id=incident.pk)
            .select_related("version__sla", "version__calendar")
            .order_by("id")
        )

    def list(self, request, *args, **kwargs):
        clocks = list(self.get_queryset())
        now = timezone.now()
        # The running figures and the timelines are worked out only when ?fields= asks for them.
        figures = (
            {c.pk: services._figures(c, now=now) for c in clocks}
            if self.wants("elapsed_now_seconds") or self.wants("timeline")
            else {}
        )
        timelines = (
            {c.pk: engine.timeline(figures[c.pk], engine.engine_for(c.version.calendar), now=now) for c in clocks}
            if self.wants("timeline")
            else {}
        )
        return Response(
            self.sparse(s.ClockSerializer(clocks, many=True, context={"figures": figures, "timelines": timelines})).data
        )
