from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from incidents import selectors, services
from incidents.api import serializers as s
from incidents.models import (
    InboundMessage,
    Incident,
    KnownError,
    PriorityRule,
    Problem,
    ProblemProposal,
)
from mof import policy
from mof.api.attachments import AttachmentsMixin
from mof.api.fields import (
    SPARSE_ACTIONS,
    SparseFieldsMixin,
    checked_fields,
    cut_rows,
    readable_fields,
)
from mof.api.reads import ValuesReadMixin, represent_written
from mof.api.views import HistoryMixin, TransitionsMixin, _written
from mof.models import Team

SEARCH_KINDS = ("incidents", "problems", "known_errors")
SEARCH_PROBLEM_FIELDS = ("id", "reference", "title", "status")


class IncidentViewSet(
    ValuesReadMixin,
    SparseFieldsMixin,
    TransitionsMixin,
    HistoryMixin,
    AttachmentsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Incidents. Callers see their own (never work notes); the service desk sees all."""

    filterset_fields = {
        "status": ["exact", "in"],
        "priority": ["exact", "lte"],
        "assignment_group": ["exact"],
        "assignee": ["exact", "isnull"],
        "service": ["exact"],
        "affected_cis": ["exact"],
        "caller": ["exact"],
        "is_major": ["exact"],
        "created_at": ["gte", "lte"],
        "updated_at": ["gte", "lte"],
    }
    search_fields = ["title", "description"]
    ordering_fields = ["number", "priority", "created_at", "updated_at"]
    sparse_actions = (*SPARSE_ACTIONS, "notes", "communications", "search", "attachments")
    paginated_actions = ("attachments",)
    sparse_in_actions = {"search": SEARCH_KINDS}  # an envelope: ?fields= cuts the objects of these lists

    def get_serializer_class(self):
        if self.action == "list":
            return s.IncidentListSerializer
        if not policy.is_internal(self.request.user) and self.action in ("retrieve", "take_transition"):
            return s.CallerIncidentSerializer
        return s.IncidentSerializer

    def get_queryset(self):
        # The API gives related objects as ids: no joins (each joined row costs a model instance).
        qs = selectors.visible_incidents(self.request.user).order_by("-number")
        if self.action != "list":
            qs = qs.prefetch_related("affected_cis")
        return qs

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "incident.add")
        # The ordinary filing is validated with fields built once and its ids in one query;
        # anything else, and every invalid input, by the serializer (its 400s).
        given = s.quick_input(s.IncidentSerializer, request.data, user=request.user)
        if given is None:
            serializer = s.IncidentSerializer(data=request.data, context=self.get_serializer_context())
            serializer.is_valid(raise_exception=True)
            values, ids = dict(serializer.validated_data), {}
        else:
            values, ids = given
        values.pop("reason", None)
        if values.pop("parent", None) is not None or ids.pop("parent", None) is not None:
            raise ValidationError(
                {"parent": ["File the incident first, then link it to its major incident (an update setting parent)."]}
            )
        incident = services.incident_create(actor=request.user, existing=ids, **values)
        # Answered as GET /incidents/{id}/ answers this user (a caller: CallerIncidentSerializer),
        # from the incident just saved rather than read back.
        out = s.IncidentSerializer if policy.is_internal(request.user) else s.CallerIncidentSerializer
        cis = ids.get("affected_cis") or values.get("affected_cis")
        data = represent_written(out, incident, many_ids=None if cis else {"affected_cis": []})
        if data is None:
            data = out(
                Incident.objects.prefetch_related("affected_cis").get(pk=incident.pk),
                context=self.get_serializer_context(),
            ).data
        return Response(data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        incident = self.get_object()
        policy.require(request.user, "incident.change", incident)
        serializer = s.IncidentSerializer(
            incident, data=request.data, partial=kwargs.get("partial", False), context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if data.pop("caller", incident.caller) != incident.caller:
            raise ValidationError({"caller": ["The caller of a filed incident does not change."]})
        parent = data.pop("parent", incident.parent)
        with transaction.atomic():
            services.incident_update(actor=request.user, incident=incident, **data)
            if parent != incident.parent:
                self._link_to_parent(incident, parent)
        return Response(
            s.IncidentSerializer(self.get_queryset().get(pk=incident.pk), context=self.get_serializer_context()).data
        )

    def _link_to_parent(self, incident, parent):
        """As the incident page links a child to its major incident: through the same service and its rules."""
        if parent is None:
            raise ValidationError({"parent": ["A child incident stays linked to its major incident."]})
        if not selectors.visible_incidents(self.request.user).filter(pk=parent.pk).exists():
            raise ValidationError({"parent": [f'Invalid pk "{parent.pk}" - object does not exist.']})
        services.incident_link_child(actor=self.request.user, parent=parent, child=incident)

    @extend_schema(methods=["get"], responses=s.IncidentNoteSerializer(many=True))
    @extend_schema(methods=["post"], request=s.IncidentNoteSerializer, responses={201: s.IncidentNoteSerializer})
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, pk=None):
        """Comments (the caller sees them) and work notes (IT staff only)."""
        incident = self.get_object()
        if request.method == "POST":
            serializer = s.IncidentNoteSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            note = services.incident_note(actor=request.user, incident=incident, **serializer.validated_data)
            return Response(s.IncidentNoteSerializer(note).data, status=status.HTTP_201_CREATED)
        return Response(
            self.sparse(
                s.IncidentNoteSerializer(selectors.incident_notes(user=request.user, incident=incident), many=True)
            ).data
        )

    @extend_schema(request=s.AssignSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        incident = self.get_object()
        serializer = s.AssignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.incident_assign(actor=request.user, incident=incident, **serializer.validated_data)
        return Response(
            s.IncidentSerializer(self.get_queryset().get(pk=incident.pk), context=self.get_serializer_context()).data
        )

    @extend_schema(
        request=s.EscalateSerializer,
        responses={201: s.IncidentNoteSerializer},
        summary="Hierarchical escalation: tell the group's manager",
    )
    @action(detail=True, methods=["post"])
    def escalate(self, request, pk=None):
        incident = self.get_object()
        serializer = s.EscalateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.incident_escalate(actor=request.user, incident=incident, **serializer.validated_data)
        return Response(s.IncidentNoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DeclareMajorSerializer, responses=s.IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="declare-major")
    def declare_major(self, request, pk=None):
        incident = self.get_object()
        serializer = s.DeclareMajorSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.incident_declare_major(actor=request.user, incident=incident, **serializer.validated_data)
        return Response(
            s.IncidentSerializer(self.get_queryset().get(pk=incident.pk), context=self.get_serializer_context()).data
        )

    @extend_schema(methods=["get"], responses=s.CommunicationSerializer(many=True))
    @extend_schema(methods=["post"], request=s.CommunicationSerializer, responses={201: s.CommunicationSerializer})
    @action(detail=True, methods=["get", "post"])
    def communications(self, request, pk=None):
        incident = self.get_object()
        if request.method == "POST":
            serializer = s.CommunicationSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            update = services.major_incident_communicate(
                actor=request.user, incident=incident, **serializer.validated_data
            )
            return Response(s.CommunicationSerializer(update).data, status=status.HTTP_201_CREATED)
        policy.require(request.user, "incident.read_work_notes", incident)
        return Response(self.sparse(s.CommunicationSerializer(incident.communications.all(), many=True)).data)

    @extend_schema(
        request=s.BulkSerializer, responses=s.IncidentListSerializer(many=True), summary="Bulk action, all or nothing"
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        policy.require(request.user, "incident.bulk")
        serializer = s.BulkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        ids, name = data.pop("incidents"), data.pop("action")
        visible = set(selectors.visible_incidents(request.user).filter(pk__in=ids).values_list("pk", flat=True))
        if len(visible) != len(set(ids)):
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"incidents": [f"Unknown incidents: {sorted(set(ids) - visible)}."]})
        done = services.incident_bulk(actor=request.user, incident_ids=ids, action=name, params=data)
        return Response(s.IncidentListSerializer(done, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("q", str, required=True)],
        responses={200: dict},
        summary="Full-text search over incidents, problems and known errors",
    )
    @action(detail=False, methods=["get"])
    def search(self, request):
        # ?fields= names any field of the three kinds of result; each object keeps those it has.
        wanted = checked_fields(
            request,
            list(
                dict.fromkeys(
                    [
                        *readable_fields(s.IncidentListSerializer()),
                        *SEARCH_PROBLEM_FIELDS,
                        *readable_fields(s.KnownErrorSerializer()),
                    ]
                )
            ),
        )
        result = selectors.search(user=request.user, q=request.query_params.get("q", ""))
        body = {
            "incidents": s.IncidentListSerializer(result["incidents"], many=True).data,
            "problems": [
                {"id": p.pk, "reference": p.reference, "title": p.title, "status": p.status} for p in result["problems"]
            ],
            "known_errors": s.KnownErrorSerializer(result["known_errors"], many=True).data,
        }
        return Response(cut_rows(body, SEARCH_KINDS, wanted))


class AssignmentGroupViewSet(
    SparseFieldsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Assignment groups are the Team Model's teams, each with a manager."""

    serializer_class = s.AssignmentGroupSerializer
    queryset = Team.objects.prefetch_related("members").order_by("name")
    search_fields = ["name"]
    filterset_fields = ["role_cluster"]


class PriorityMatrixViewSet(SparseFieldsMixin, mixins.ListModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """The priority matrix (impact x urgency -> P1..P5); managers edit it; it applies to new incidents."""

    serializer_class = s.PriorityRuleSerializer
    queryset = PriorityRule.objects.order_by("impact", "urgency")
    pagination_class = None
    filter_backends = []
    http_method_names = ["get", "patch", "head", "options"]

    def update(self, request, *args, **kwargs):
        policy.require(request.user, "priority.configure")
        return super().update(request, *args, **kwargs)


class ProblemViewSet(
    SparseFieldsMixin,
    TransitionsMixin,
    HistoryMixin,
    AttachmentsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.ProblemSerializer
    sparse_actions = (*SPARSE_ACTIONS, "attachments")
    paginated_actions = ("attachments",)
    filterset_fields = ["status", "problem_manager", "services", "affected_cis"]
    search_fields = ["title", "description", "root_cause"]

    def get_queryset(self):
        if not policy.can(self.request.user, "problem.view"):
            return Problem.objects.none()
        return Problem.objects.prefetch_related("services", "affected_cis", "fixing_changes", "incidents").order_by(
            "-number"
        )

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "problem.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        problem = services.problem_create(actor=request.user, **serializer.validated_data)
        return _written(serializer, self.get_queryset().get(pk=problem.pk))

    def update(self, request, *args, **kwargs):
        problem = self.get_object()
        policy.require(request.user, "problem.change", problem)
        serializer = self.get_serializer(problem, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        services.problem_update(actor=request.user, problem=problem, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=problem.pk)).data)


class KnownErrorViewSet(SparseFieldsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Known errors published to the service desk; `?q=&service=&ci=` suggests matches with their workaround."""

    serializer_class = s.KnownErrorSerializer
    filter_backends = []

    def get_queryset(self):
        params = self.request.query_params
        if self.action == "list" and any(k in params for k in ("q", "service", "ci")):
            ids = [
                k.pk
                for k in selectors.known_error_search(
                    q=params.get("q", ""), service=params.get("service") or None, ci=params.get("ci") or None, limit=50
                )
            ]
            return (
                KnownError.objects.filter(pk__in=ids)
                .select_related("problem")
                .prefetch_related("services", "cis")
                .order_by("-published_at")
            )
        return (
            KnownError.objects.filter(active=True)
            .select_related("problem")
            .prefetch_related("services", "cis")
            .order_by("-published_at")
        )


class ProblemProposalViewSet(
    SparseFieldsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    serializer_class = s.ProblemProposalSerializer
    filterset_fields = ["status", "scope"]

    def get_queryset(self):
        if not policy.can(self.request.user, "problem.view"):
            return ProblemProposal.objects.none()
        return ProblemProposal.objects.prefetch_related("incidents").order_by("-created_at")

    @extend_schema(request=None, responses={201: s.ProblemSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        problem = services.proposal_accept(actor=request.user, proposal=self.get_object())
        return Response(s.ProblemSerializer(problem).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["post"])
    def dismiss(self, request, pk=None):
        services.proposal_dismiss(actor=request.user, proposal=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class InboundMessageViewSet(
    SparseFieldsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Mail into the service desk and what became of it (read-only; the service desk only).
    `?outcome=parked` lists the mail waiting for a person."""

    serializer_class = s.InboundMessageSerializer
    filterset_fields = {
        "outcome": ["exact"],
        "from_address": ["iexact"],
        "incident": ["exact"],
        "received_at": ["gte", "lte"],
    }
    search_fields = ["subject", "from_address"]
    ordering_fields = ["received_at", "id"]

    def get_queryset(self):
        if not policy.can(self.request.user, "inbound_mail.view"):
            return InboundMessage.objects.none()
        return InboundMessage.objects.defer("raw").order_by("-received_at", "-id")
