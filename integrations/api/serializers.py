from rest_framework import serializers

from integrations.choices import EventType
from integrations.models import DeliveryAttempt, WebhookDelivery, WebhookSubscription


class WebhookSubscriptionSerializer(serializers.ModelSerializer):
    url = serializers.CharField(
        max_length=500,
        help_text="http or https only, with a host that is or resolves to a public address (internal ones only if MOF_WEBHOOK_ALLOWED_NETWORKS names them).",
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        allow_empty=False,
        error_messages={"empty": "Choose at least one event type."},
        help_text="The event types to receive (not `ping`: a ping goes to the subscription it tests).",
    )
    owner = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "status",
            "owner",
            "consecutive_failures",
            "disabled_reason",
            "disabled_at",
            "secret_rotated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "consecutive_failures",
            "disabled_reason",
            "disabled_at",
            "secret_rotated_at",
            "created_at",
            "updated_at",
        ]


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="Shown this once: store it where the receiver verifies signatures."
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = WebhookSubscriptionSerializer.Meta.fields + ["secret"]


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(
        read_only=True, help_text="The new signing secret, shown this once; the old one stops signing now."
    )
    secret_rotated_at = serializers.DateTimeField(read_only=True)


class PingSerializer(serializers.Serializer):
    event_id = serializers.UUIDField(read_only=True)
    detail = serializers.CharField(read_only=True)


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "replay",
            "requested_by",
            "started_at",
            "duration_ms",
            "succeeded",
            "response_status",
            "response_excerpt",
            "error",
        ]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    idempotency_key = serializers.CharField(
        read_only=True, help_text="Sent as the Idempotency-Key header on every attempt."
    )
    subscription_name = serializers.CharField(source="subscription.name", read_only=True)
    event_id = serializers.UUIDField(read_only=True)
    event_type = serializers.ChoiceField(source="event.event_type", choices=EventType.choices, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "idempotency_key",
            "subscription",
            "subscription_name",
            "event_id",
            "event_type",
            "status",
            "manual",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "response_status",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    body = serializers.JSONField(source="event.body", read_only=True, help_text="The JSON body sent on every attempt.")
    attempt_log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta(WebhookDeliverySerializer.Meta):
        fields = WebhookDeliverySerializer.Meta.fields + ["body", "attempt_log"]
        read_only_fields = fields
