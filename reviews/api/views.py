"""The `reviews` resource: meetings with their transitions, agenda items (nested), votes,
decisions and minutes. Views validate and call reviews.services; errors map to HTTP in
mof.api.errors (409 decided already or not in session, 403, 400 quorum or a rule)."""

from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from mof import policy
from mof.api.fields import SPARSE_ACTIONS, SparseFieldsMixin
from mof.api.views import HistoryMixin, TransitionsMixin, _written
from reviews import minutes, operations_review, selectors, services
from reviews.api import serializers as s


class ReviewViewSet(
    SparseFieldsMixin,
    TransitionsMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Review meetings (Release Approved Review / CAB, Release Readiness Review, Operations
    Review, SLA Review). `state` moves only through transitions (open, close, cancel)."""

    serializer_class = s.MeetingSerializer
    sparse_actions = (*SPARSE_ACTIONS, "agenda", "agenda_item", "votes", "minutes", "health_report")
    filterset_fields = {
        "kind": ["exact"],
        "state": ["exact"],
        "emergency": ["exact"],
        "chair": ["exact"],
        "scheduled_at": ["gte", "lte"],
    }
    ordering_fields = ["scheduled_at", "id"]

    def get_queryset(self):
        return (
            selectors.visible_meetings(self.request.user)
            .select_related("chair")
            .prefetch_related("attendees")
            .order_by("-scheduled_at", "-id")
        )

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "review.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        meeting = services.meeting_create(actor=request.user, **serializer.validated_data)
        return _written(serializer, self.get_queryset().get(pk=meeting.pk))

    def update(self, request, *args, **kwargs):
        meeting = self.get_object()
        policy.require(request.user, "review.change", meeting)
        serializer = self.get_serializer(meeting, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        for fixed in ("kind", "emergency", "chair"):
            if fixed in data and data[fixed] != getattr(meeting, fixed):
                raise ValidationError({fixed: ["This cannot change once the meeting is planned."]})
            data.pop(fixed, None)
        services.meeting_update(actor=request.user, meeting=meeting, **data)
        return Response(self.get_serializer(self.get_queryset().get(pk=meeting.pk)).data)

    @extend_schema(
        request=None,
        responses={201: s.MeetingSerializer},
        summary="Convene an emergency CAB at once (in session, agenda filled)",
    )
    @action(detail=False, methods=["post"], url_path="emergency")
    def emergency(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        unknown = sorted(set(data) - {"attendees"})
        if unknown:  # never silently ignored
            raise ValidationError({name: ["Unknown field. Allowed: attendees."] for name in unknown})
        meeting = services.emergency_cab_convene(actor=request.user, attendees=data.get("attendees", []))
        return Response(
            self.get_serializer(self.get_queryset().get(pk=meeting.pk)).data, status=status.HTTP_201_CREATED
        )

    # --- the agenda ------------------------------------------------------------------

    def _item(self, meeting, item_id):
        try:
            return selectors.item_get(user=self.request.user, meeting=meeting, item_id=item_id)
        except ObjectDoesNotExist:
            raise NotFound("No such agenda item on this meeting.") from None

    def _item_data(self, meeting, item_id):
        item = next((i for i in selectors.agenda(meeting, user=self.request.user) if i.pk == int(item_id)), None)
        if item is None:
            raise NotFound("No such agenda item on this meeting.")
        return self.sparse(s.AgendaItemSerializer(item)).data

    @extend_schema(methods=["get"], responses=s.AgendaItemSerializer(many=True), summary="The agenda")
    @extend_schema(
        methods=["post"],
        request=s.AgendaAddSerializer,
        responses={201: s.AgendaItemSerializer},
        summary="Add a subject to the agenda by hand",
    )
    @action(detail=True, methods=["get", "post"], url_path="agenda")
    def agenda(self, request, pk=None):
        meeting = self.get_object()
        if request.method == "POST":
            serializer = s.AgendaAddSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            policy.require(request.user, "review.agenda", meeting)
            subject = services.parse_subject(serializer.validated_data["subject"])
            item = services.agenda_add(actor=request.user, meeting=meeting, subject=subject)
            return Response(self._item_data(meeting, item.pk), status=status.HTTP_201_CREATED)
        return Response(
            self.sparse(s.AgendaItemSerializer(selectors.agenda(meeting, user=request.user), many=True)).data
        )

    @extend_schema(
        request=None,
        responses=s.AgendaItemSerializer(many=True),
        summary="Fill the agenda with everything awaiting this review",
    )
    @action(detail=True, methods=["post"], url_path="agenda/refresh")
    def refresh_agenda(self, request, pk=None):
        meeting = self.get_object()
        added = services.agenda_refresh(actor=request.user, meeting=meeting)
        ids = {i.pk for i in added}
        return Response(s.AgendaItemSerializer([i for i in selectors.agenda(meeting) if i.pk in ids], many=True).data)

    @extend_schema(methods=["get"], responses=s.AgendaItemSerializer)
    @extend_schema(methods=["delete"], responses={204: None})
    @action(detail=True, methods=["get", "delete"], url_path=r"agenda/(?P<item_id>\d+)")
    def agenda_item(self, request, pk=None, item_id=None):
        meeting = self.get_object()
        if request.method == "DELETE":
            services.agenda_remove(actor=request.user, item=self._item(meeting, item_id))
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(self._item_data(meeting, item_id))

    @extend_schema(methods=["get"], responses=s.VoteSerializer(many=True))
    @extend_schema(
        methods=["post"],
        request=s.VoteSerializer,
        responses={201: s.VoteSerializer},
        summary="Cast (or change) your vote",
    )
    @action(detail=True, methods=["get", "post"], url_path=r"agenda/(?P<item_id>\d+)/votes")
    def votes(self, request, pk=None, item_id=None):
        meeting = self.get_object()
        item = self._item(meeting, item_id)
        if request.method == "POST":
            serializer = s.VoteSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            cast = services.vote(item=item, voter=request.user, vote=serializer.validated_data["vote"])
            return Response(s.VoteSerializer(cast).data, status=status.HTTP_201_CREATED)
        return Response(self.sparse(s.VoteSerializer(selectors.votes(item), many=True)).data)

    @extend_schema(
        request=s.DecisionSerializer,
        responses=s.AgendaItemSerializer,
        summary="Record the meeting's decision and fire the gated transition",
    )
    @action(detail=True, methods=["post"], url_path=r"agenda/(?P<item_id>\d+)/decision")
    def decision(self, request, pk=None, item_id=None):
        meeting = self.get_object()
        item = self._item(meeting, item_id)
        serializer = s.DecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.decide(item_id=item.pk, actor=request.user, **serializer.validated_data)
        return Response(self._item_data(meeting, item.pk))

    @extend_schema(request=None, responses=s.MeetingSerializer, summary="Publish the agenda: the attendees are sent it")
    @action(detail=True, methods=["post"])
    def publish(self, request, pk=None):
        meeting = services.agenda_publish(actor=request.user, meeting=self.get_object())
        return Response(self.get_serializer(self.get_queryset().get(pk=meeting.pk)).data)

    @extend_schema(responses=s.MinutesSerializer, summary="The minutes, generated from the meeting's decisions")
    @action(detail=True, methods=["get"])
    def minutes(self, request, pk=None):
        meeting = self.get_object()
        return Response(
            self.sparse(s.MinutesSerializer(minutes.build(meeting), context=self.get_serializer_context())).data
        )

    # --- the Operations Review's operational health report -------------------------------

    @extend_schema(
        methods=["get"],
        responses=s.HealthReportItemSerializer,
        summary="The Operations Review's operational health report: live until decided, then as decided",
    )
    @extend_schema(
        methods=["put"],
        request=s.HealthPeriodSerializer,
        responses=s.HealthReportItemSerializer,
        summary="State the period the health report covers (while it is undecided and unvoted)",
    )
    @action(detail=True, methods=["get", "put"], url_path="health-report")
    def health_report(self, request, pk=None):
        meeting = self.get_object()
        if request.method == "PUT":
            serializer = s.HealthPeriodSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            operations_review.period_state(actor=request.user, meeting=meeting, **serializer.validated_data)
        items = selectors.agenda(meeting, user=request.user)
        item = next(
            (i for i in items if getattr(i, "operations_review", None) is not None and i.operations_review.is_period),
            None,
        )
        if item is None or item.operations_review.report is None:
            raise NotFound("This meeting has no operational health report.")
        period = item.operations_review.period
        return Response(
            self.sparse(
                s.HealthReportItemSerializer(
                    {
                        "item": item.pk,
                        "state": item.state,
                        "decision": item.decision,
                        "stated": period.stated,
                        "follow_up_reference": period.follow_up_reference,
                        "report": item.operations_review.report,
                    }
                )
            ).data
        )
