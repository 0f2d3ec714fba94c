"""/api/v1/notifications/: the caller's own in-portal notifications (mof.notifications).
List (?unread=true for the unread ones only) and read one; POST {id}/read/ marks one read,
POST read-all/ marks all of them read. Another person's notification is a 404."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mof import notifications
from mof.api.fields import SparseFieldsMixin
from mof.links import absolute_url
from mof.models_mail import Notification

ERRORS = {400: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT}


class NotificationSerializer(serializers.ModelSerializer):
    event = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    unread = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "event",
            "title",
            "body",
            "url",
            "created_at",
            "read_at",
            "unread",
            "digest",
            "digested_at",
        ]
        read_only_fields = fields

    def get_event(self, n) -> str:
        return notifications.EVENTS.get(notifications.event_of(n.kind), "")

    def get_url(self, n) -> str:
        return absolute_url(n.url) if n.url else ""

    def get_unread(self, n) -> bool:
        return n.read_at is None


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField()


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("unread", OpenApiTypes.BOOL, description="Only the unread ones.")])
)
class NotificationViewSet(SparseFieldsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your notifications, newest first: the same as the portal's mail, or instead of it."""

    serializer_class = NotificationSerializer
    filter_backends = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema: no person
            return Notification.objects.none()
        unread = self.request.query_params.get("unread", "").lower() if self.action == "list" else ""
        if unread not in ("", "true", "false", "1", "0"):
            raise ValidationError({"unread": ["true or false."]})
        return notifications.inbox(self.request.user, unread=unread in ("true", "1"))

    @extend_schema(
        request=None, responses={200: NotificationSerializer, **ERRORS}, summary="Mark one of your notifications read"
    )
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        n = self.get_object()
        notifications.mark_read(request.user, [n.pk])
        n.refresh_from_db()
        return Response(NotificationSerializer(n).data)

    @extend_schema(
        request=None, responses={200: MarkedSerializer, **ERRORS}, summary="Mark all your notifications read"
    )
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        return Response({"marked": notifications.mark_read(request.user)})
