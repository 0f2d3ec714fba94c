from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from changes import selectors, services
from changes.api import serializers as s
from changes.models import ChangeStakeholder
from mof import policy
from mof.api.attachments import AttachmentsMixin
from mof.api.fields import SPARSE_ACTIONS, SparseFieldsMixin
from mof.api.views import HistoryMixin, TransitionsMixin, _written


class ChangeViewSet(
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
    """Requests for change. `status` moves only through transitions; a standard change
    is filed with `template` and is approved automatically when submitted."""

    sparse_actions = (*SPARSE_ACTIONS, "comments", "stakeholders", "attachments")
    paginated_actions = ("attachments",)

    filterset_fields = {
        "status": ["exact", "in"],
        "type": ["exact"],
        "requester": ["exact"],
        "change_manager": ["exact"],
        "implementer": ["exact"],
        "affected_cis": ["exact"],
        "planned_start": ["gte", "lte"],
        "planned_end": ["gte", "lte"],
    }
    search_fields = ["title", "description"]
    ordering_fields = ["number", "planned_start", "updated_at"]

    def get_serializer_class(self):
        return s.ChangeListSerializer if self.action == "list" else s.ChangeSerializer

    def get_queryset(self):
        qs = selectors.change_list(user=self.request.user).order_by("-number")
        if self.action != "list":
            qs = qs.prefetch_related("affected_cis", "test_environment")
        return qs

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "change.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        change = services.change_create(actor=request.user, **serializer.validated_data)
        return _written(serializer, self.get_queryset().get(pk=change.pk))

    def update(self, request, *args, **kwargs):
        change = self.get_object()
        policy.require(request.user, "change.change", change)
        serializer = self.get_serializer(change, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("template", None)
        services.change_update(actor=request.user, change=change, **data)
        return Response(self.get_serializer(self.get_queryset().get(pk=change.pk)).data)

    @extend_schema(
        request=s.AssessSerializer,
        responses=s.ChangeSerializer,
        summary="Assess risk and impact, then take the assess transition",
    )
    @action(detail=True, methods=["post"])
    def assess(self, request, pk=None):
        change = self.get_object()
        serializer = s.AssessSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.change_assess(actor=request.user, change=change, **serializer.validated_data)
        return Response(
            s.ChangeSerializer(self.get_queryset().get(pk=change.pk), context=self.get_serializer_context()).data
        )

    @extend_schema(request=None, responses=s.ChangeSerializer, summary="Refresh the impact-analysis snapshot")
    @action(detail=True, methods=["post"])
    def impact(self, request, pk=None):
        change = self.get_object()
        services.change_analyse_impact(actor=request.user, change=change)
        return Response(
            s.ChangeSerializer(self.get_queryset().get(pk=change.pk), context=self.get_serializer_context()).data
        )

    @extend_schema(methods=["get"], responses=s.ChangeCommentSerializer(many=True))
    @extend_schema(methods=["post"], request=s.ChangeCommentSerializer, responses={201: s.ChangeCommentSerializer})
    @action(detail=True, methods=["get", "post"])
    def comments(self, request, pk=None):
        change = self.get_object()
        if request.method == "POST":
            serializer = s.ChangeCommentSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            comment = services.change_comment(actor=request.user, change=change, body=serializer.validated_data["body"])
            return Response(s.ChangeCommentSerializer(comment).data, status=status.HTTP_201_CREATED)
        return Response(self.sparse(s.ChangeCommentSerializer(change.comments.all(), many=True)).data)

    @extend_schema(
        responses=s.ChangeStakeholderSerializer(many=True), summary="Who was told of the change and who responded"
    )
    @action(detail=True, methods=["get"])
    def stakeholders(self, request, pk=None):
        change = self.get_object()
        rows = ChangeStakeholder.objects.filter(change=change).select_related("user")
        return Response(self.sparse(s.ChangeStakeholderSerializer(rows, many=True)).data)

    def get_serializer(self, *args, **kwargs):
        if self.action == "take_transition":
            kwargs.setdefault("context", self.get_serializer_context())
            return s.ChangeSerializer(*args, **kwargs)
        return super().get_serializer(*args, **kwargs)


class StandardChangeTemplateViewSet(
    SparseFieldsMixin,
    TransitionsMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The catalogue of pre-approved standard changes; each template is approved at a Release Approved Review."""

    serializer_class = s.StandardChangeTemplateSerializer
    filterset_fields = ["status"]
    search_fields = ["name", "description"]

    def get_queryset(self):
        return selectors.template_list(user=self.request.user).order_by("name")

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "changetemplate.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _written(serializer, services.template_create(actor=request.user, **serializer.validated_data))

    def update(self, request, *args, **kwargs):
        template = self.get_object()
        policy.require(request.user, "changetemplate.change", template)
        serializer = self.get_serializer(template, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        return Response(
            self.get_serializer(
                services.template_update(actor=request.user, template=template, **serializer.validated_data)
            ).data
        )


class ReleaseViewSet(
    SparseFieldsMixin,
    TransitionsMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Releases bundle changes and the versioned artifacts (definitive software library) they deploy."""

    serializer_class = s.ReleaseSerializer
    filterset_fields = ["status", "release_manager"]
    search_fields = ["name"]

    def get_queryset(self):
        return (
            selectors.release_list(user=self.request.user).prefetch_related("changes", "artifacts").order_by("-number")
        )

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "release.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        release = services.release_create(actor=request.user, **serializer.validated_data)
        return _written(serializer, self.get_queryset().get(pk=release.pk))

    def update(self, request, *args, **kwargs):
        release = self.get_object()
        policy.require(request.user, "release.change", release)
        serializer = self.get_serializer(release, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "artifacts" in data:
            raise ValidationError({"artifacts": ["Add artifacts with POST /releases/{id}/artifacts/."]})
        services.release_update(actor=request.user, release=release, **data)
        return Response(self.get_serializer(self.get_queryset().get(pk=release.pk)).data)

    @extend_schema(
        request=s.ReleaseArtifactSerializer,
        responses={201: s.ReleaseArtifactSerializer},
        summary="Add an artifact from the definitive software library",
    )
    @action(detail=True, methods=["post"])
    def artifacts(self, request, pk=None):
        release = self.get_object()
        serializer = s.ReleaseArtifactSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        artifact = services.artifact_add(actor=request.user, release=release, **serializer.validated_data)
        return Response(s.ReleaseArtifactSerializer(artifact).data, status=status.HTTP_201_CREATED)
