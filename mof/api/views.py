"""API views: thin; reads through selectors, writes through services, state through
the transition service. Unknown or invisible ids are 404."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mof import impact, policy, selectors, services
from mof.api import serializers as s
from mof.api.csv_import import CIImportMixin, RelationshipImportMixin
from mof.api.fields import SPARSE_ACTIONS, SparseFieldsMixin
from mof.models import (
    CIClass,
    CIRelationship,
    RiskAssessment,
    RiskThreshold,
    User,
)
from mof.transitions import (
    available_transitions,
    perform_transition,
    transition_input_names,
)


class TransitionsMixin:
    """GET {id}/transitions/ and POST {id}/transitions/{name}/ for any lifecycle model."""

    @extend_schema(responses=s.TransitionSerializer(many=True), summary="Transitions you may take now")
    @action(detail=True, methods=["get"], url_path="transitions")
    def transitions(self, request, pk=None):
        obj = self.get_object()
        options = [
            {
                "name": o.name,
                "label": o.label,
                "target": o.target,
                "allowed": o.allowed,
                "reasons": o.reasons,
                "fields": list(o.form_class.base_fields) if o.form_class else [],
            }
            for o in available_transitions(obj, request.user)
        ]
        return Response(self.sparse(s.TransitionSerializer(options, many=True)).data)

    @extend_schema(
        request=s.TransitionInputSerializer,
        responses={
            200: None,
            400: OpenApiTypes.OBJECT,
            403: OpenApiTypes.OBJECT,
            404: OpenApiTypes.OBJECT,
            409: OpenApiTypes.OBJECT,
        },
        summary="Take a transition",
    )
    @action(detail=True, methods=["post"], url_path=r"transitions/(?P<name>[a-z_]+)")
    def take_transition(self, request, pk=None, name=None):
        obj = self.get_object()
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        data = dict(request.data)
        accepted = transition_input_names(obj, name)
        unknown = sorted(set(data) - set(accepted)) if accepted is not None else []
        if unknown:  # a transition's form would ignore them: never silently
            raise ValidationError({n: [f"Unknown field. Allowed: {', '.join(accepted) or 'none'}."] for n in unknown})
        updated = self.run_transition(obj, name, data)
        return Response(self.get_serializer(self.get_queryset().get(pk=updated.pk)).data)

    def run_transition(self, obj, name, data):
        """The one door; cascades (a standard change's pre-approval) are its receivers' business."""
        return perform_transition(model=type(obj), pk=obj.pk, name=name, actor=self.request.user, data=data)


class HistoryMixin:
    @extend_schema(responses=s.AuditEntrySerializer(many=True), summary="The object's audit trail")
    @action(detail=True, methods=["get"], url_path="history")
    def history(self, request, pk=None):
        page = self.paginate_queryset(selectors.history(self.get_object()))
        return self.get_paginated_response(self.sparse(s.AuditEntrySerializer(page, many=True)).data)


def _written(serializer, instance):
    serializer.instance = instance
    return Response(serializer.data, status=status.HTTP_201_CREATED)


class UserViewSet(
    SparseFieldsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """People and service accounts. Admins provision; internal staff may look colleagues up."""

    serializer_class = s.UserSerializer
    sparse_actions = (*SPARSE_ACTIONS, "me")
    search_fields = ["username", "first_name", "last_name", "email"]
    ordering_fields = ["username", "id"]
    filterset_fields = ["is_manager", "is_active"]

    def get_queryset(self):
        return selectors.user_list(user=self.request.user).order_by("username")

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "user.provision")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_provision(actor=request.user, **serializer.validated_data)
        return _written(serializer, User.objects.prefetch_related("role_assignments", "teams").get(pk=user.pk))

    def update(self, request, *args, **kwargs):
        target = self.get_object()
        policy.require(request.user, "user.provision", target)
        serializer = self.get_serializer(target, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        services.user_update(actor=request.user, user=target, **data)
        return Response(self.get_serializer(self.get_queryset().get(pk=target.pk)).data)

    @action(detail=False, methods=["get"])
    def me(self, request):
        return Response(
            self.get_serializer(
                self.get_queryset().model.objects.prefetch_related("role_assignments", "teams").get(pk=request.user.pk)
            ).data
        )


class ServiceViewSet(SparseFieldsMixin, HistoryMixin, viewsets.ModelViewSet):
    serializer_class = s.ServiceSerializer
    search_fields = ["name", "description"]
    ordering_fields = ["name", "criticality", "id"]
    filterset_fields = ["criticality", "owner"]

    def get_queryset(self):
        return selectors.service_list(user=self.request.user).order_by("name")

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "service.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _written(serializer, services.service_create(actor=request.user, **serializer.validated_data))

    def update(self, request, *args, **kwargs):
        service = self.get_object()
        policy.require(request.user, "service.change", service)
        serializer = self.get_serializer(service, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        return Response(
            self.get_serializer(
                services.service_update(actor=request.user, service=service, **serializer.validated_data)
            ).data
        )

    def destroy(self, request, *args, **kwargs):
        services.service_delete(actor=request.user, service=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CIClassViewSet(
    SparseFieldsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = s.CIClassSerializer
    queryset = CIClass.objects.order_by("name")
    search_fields = ["name"]
    lookup_field = "slug"

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "ciclass.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _written(serializer, services.ci_class_create(actor=request.user, **serializer.validated_data))


@extend_schema_view(
    impact=extend_schema(
        parameters=[
            OpenApiParameter(
                "direction",
                enum=list(impact.DIRECTIONS),
                default="downstream",
                description="downstream: what depends on this CI (its blast radius); upstream: what it depends on.",
            ),
            OpenApiParameter(
                "paths",
                bool,
                default=False,
                description="1: also the full path of every CI (services always carry theirs); otherwise follow `via`.",
            ),
        ],
        responses=s.ImpactSerializer,
        summary="Impact analysis",
    )
)
class ConfigurationItemViewSet(CIImportMixin, SparseFieldsMixin, TransitionsMixin, HistoryMixin, viewsets.ModelViewSet):
    """Configuration items. `status` moves only through transitions."""

    serializer_class = s.ConfigurationItemSerializer
    sparse_actions = (*SPARSE_ACTIONS, "impact")
    search_fields = ["name", "description"]
    ordering_fields = ["name", "id", "updated_at"]
    filterset_fields = {
        "status": ["exact"],
        "environment": ["exact"],
        "ci_class__slug": ["exact"],
        "owner": ["exact"],
        "services": ["exact"],
    }

    def get_queryset(self):
        qs = selectors.ci_list(user=self.request.user).order_by("name", "id")
        if self.action in ("list", "retrieve", "create", "update", "partial_update", "take_transition"):
            qs = qs.prefetch_related("services")
        return qs

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "ci.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _written(serializer, services.ci_create(actor=request.user, **serializer.validated_data))

    def update(self, request, *args, **kwargs):
        ci = self.get_object()
        policy.require(request.user, "ci.change", ci)
        serializer = self.get_serializer(ci, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        services.ci_update(actor=request.user, ci=ci, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=ci.pk)).data)

    def destroy(self, request, *args, **kwargs):
        services.ci_delete(actor=request.user, ci=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["get"])
    def impact(self, request, pk=None):
        ci = self.get_object()
        direction = request.query_params.get("direction", impact.DOWNSTREAM)
        if direction not in impact.DIRECTIONS:
            raise ValidationError({"direction": [f"Choose one of: {', '.join(impact.DIRECTIONS)}."]})
        paths = request.query_params.get("paths", "").lower() in ("1", "true", "yes")
        result = impact.analyse([ci.pk], direction)
        # Plain dicts in the shape of ImpactSerializer (kept for the schema): DRF fields cost
        # about a second for a core router's tens of thousands of CIs.
        cis = [
            {
                "id": c.id,
                "name": c.name,
                "ci_class": c.ci_class,
                "status": c.status,
                "environment": c.environment,
                "depth": c.depth,
                "relationship": c.relationship,
                "via": c.via,
            }
            for c in result.cis
        ]
        if paths:
            for row, c in zip(cis, result.cis):
                row["path"] = [{"id": step["id"], "name": step["name"]} for step in c.path]
        return Response(
            self.sparse_object(
                {
                    "direction": result.direction,
                    "origin": [{"id": o["id"], "name": o["name"]} for o in result.origin],
                    "cis": cis,
                    "services": [
                        {
                            "id": sv.id,
                            "name": sv.name,
                            "criticality": sv.criticality,
                            "via_ci": {"id": sv.via_ci["id"], "name": sv.via_ci["name"]},
                            "path": list(sv.path),
                        }
                        for sv in result.services
                    ],
                },
                s.ImpactSerializer(),
            )
        )


class CIRelationshipViewSet(
    RelationshipImportMixin,
    SparseFieldsMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Directed, typed dependencies between CIs: source <type> target."""

    serializer_class = s.CIRelationshipSerializer
    filterset_fields = ["source", "target", "type"]
    ordering_fields = ["id"]

    def get_queryset(self):
        visible = policy.visible_cis(self.request.user)
        return CIRelationship.objects.filter(source__in=visible, target__in=visible).order_by("id")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _written(serializer, services.relationship_create(actor=request.user, **serializer.validated_data))

    def destroy(self, request, *args, **kwargs):
        services.relationship_delete(actor=request.user, relationship=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RiskThresholdViewSet(SparseFieldsMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """The configured risk levels (edited in the admin by managers)."""

    serializer_class = s.RiskThresholdSerializer
    queryset = RiskThreshold.objects.order_by("min_score")
    pagination_class = None
    filter_backends = []


class RiskAssessmentViewSet(
    SparseFieldsMixin, mixins.CreateModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Assess probability and impact of failure (1-5 each) into a scored risk level."""

    serializer_class = s.RiskAssessmentSerializer

    def get_queryset(self):
        if policy.can(self.request.user, "risk.assess"):
            return RiskAssessment.objects.all()
        return RiskAssessment.objects.none()

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "risk.assess")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        assessment = services.risk_assess(actor=request.user, **serializer.validated_data)
        return _written(serializer, assessment)
