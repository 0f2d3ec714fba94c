"""API of outbound webhooks: subscriptions (`webhooks`) and the delivery log
(`webhook-deliveries`, with a hand replay). Managers only, asked of mof.policy."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from integrations import selectors, services
from integrations.api import serializers as s
from integrations.filtersets import DeliveryFilterSet
from integrations.models import DeliveryAttempt, WebhookDelivery, WebhookSubscription
from mof import policy
from mof.api.fields import SparseFieldsMixin
from mof.api.views import HistoryMixin, TransitionsMixin


class WebhookSubscriptionViewSet(
    SparseFieldsMixin,
    TransitionsMixin,
    HistoryMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Webhook subscriptions: a URL told about the event types it chose, each body signed
    with its secret. The secret is returned once, on creation (and by rotate-secret).
    `status` moves only through transitions (disable, enable)."""

    serializer_class = s.WebhookSubscriptionSerializer
    filterset_fields = ["status"]
    search_fields = ["name", "url"]
    ordering_fields = ["name", "id", "created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user to ask
            return WebhookSubscription.objects.none()
        policy.require(self.request.user, "webhook.view")
        return selectors.subscription_list(user=self.request.user).order_by("name", "id")

    @extend_schema(responses={201: s.WebhookSubscriptionCreatedSerializer})
    def create(self, request, *args, **kwargs):
        policy.require(request.user, "webhook.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscription = services.subscription_create(actor=request.user, **serializer.validated_data)
        return Response(s.WebhookSubscriptionCreatedSerializer(subscription).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        subscription = self.get_object()
        policy.require(request.user, "webhook.change", subscription)
        serializer = self.get_serializer(subscription, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        services.subscription_update(actor=request.user, subscription=subscription, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=subscription.pk)).data)

    @extend_schema(
        request=None, responses=s.SecretSerializer, summary="Rotate the signing secret (the new one is shown once)"
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        subscription = self.get_object()
        secret = services.rotate_secret(actor=request.user, subscription=subscription)
        return Response(
            s.SecretSerializer({"secret": secret, "secret_rotated_at": subscription.secret_rotated_at}).data
        )

    @extend_schema(request=None, responses={202: s.PingSerializer}, summary="Send a test ping to this subscription")
    @action(detail=True, methods=["post"])
    def ping(self, request, pk=None):
        event = services.send_ping(actor=request.user, subscription=self.get_object())
        body = {"event_id": event.pk, "detail": "A ping is on its way; the delivery log shows its answer."}
        return Response(s.PingSerializer(body).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryViewSet(SparseFieldsMixin, viewsets.ReadOnlyModelViewSet):
    """The delivery log: each event sent to each subscription, with every attempt's answer."""

    serializer_class = s.WebhookDeliverySerializer
    filterset_class = DeliveryFilterSet
    ordering_fields = ["created_at", "last_attempt_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        policy.require(self.request.user, "webhook.view")
        qs = selectors.delivery_list(user=self.request.user)
        if self.action != "list":
            qs = qs.prefetch_related(
                Prefetch(
                    "attempt_log", queryset=DeliveryAttempt.objects.select_related("requested_by").order_by("number")
                )
            )
        return qs

    def get_serializer_class(self):
        return s.WebhookDeliverySerializer if self.action == "list" else s.WebhookDeliveryDetailSerializer

    @extend_schema(
        request=None,
        responses={202: s.WebhookDeliveryDetailSerializer},
        summary="Send this delivery again now (same body and idempotency key)",
    )
    @action(detail=True, methods=["post"])
    def replay(self, request, pk=None):
        delivery = self.get_object()
        services.replay_delivery(actor=request.user, delivery=delivery)
        return Response(
            s.WebhookDeliveryDetailSerializer(self.get_queryset().get(pk=delivery.pk)).data,
            status=status.HTTP_202_ACCEPTED,
        )
