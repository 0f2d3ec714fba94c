"""API of service monitoring: monitoring tools post events (one or a batch); people and
integrations read events and alerts. Thin: operations.events writes, operations.events_selectors reads."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from mof import policy
from mof.api.fields import SparseFieldsMixin
from mof.models import ConfigurationItem, Service
from operations import events, events_selectors
from operations.models_events import SEVERITY_NAMES, MonitoringAlert, MonitoringEvent

SEVERITIES = list(SEVERITY_NAMES)


# --- serializers --------------------------------------------------------------------


class EventInSerializer(serializers.Serializer):
    """The shape of a posted event (operations.events.validate_event checks it)."""

    source = serializers.CharField(max_length=100, help_text="The monitoring tool, e.g. nagios.")
    ci = serializers.CharField(max_length=150, help_text="The configuration item's name, or its id as a number.")
    severity = serializers.ChoiceField(choices=SEVERITIES, required=False, help_text="Required unless `clear` is true.")
    message = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    time = serializers.DateTimeField(required=False, help_text="When the tool saw it, with a time zone; default: now.")
    key = serializers.CharField(max_length=200, required=False, help_text="Deduplication key; default: source:ci.")
    clear = serializers.BooleanField(required=False, default=False, help_text="The condition behind the key is over.")


class IngestAlertSerializer(serializers.Serializer):
    key = serializers.CharField()
    alert = serializers.IntegerField(
        allow_null=True, help_text="The open alert now holding the key; null once cleared."
    )
    incident = serializers.IntegerField(allow_null=True)


class IngestResultSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    parked = serializers.IntegerField(help_text="Events for CIs nobody knows yet, waiting for a person to map them.")
    alerts = IngestAlertSerializer(many=True)
    incidents_opened = serializers.ListField(child=serializers.CharField())
    incidents_resolved = serializers.ListField(child=serializers.CharField())


class EventSerializer(serializers.ModelSerializer):
    severity = serializers.ChoiceField(choices=SEVERITIES, source="severity_name", read_only=True)

    class Meta:
        model = MonitoringEvent
        fields = [
            "id",
            "received_at",
            "occurred_at",
            "source",
            "ci",
            "ci_name",
            "severity",
            "message",
            "key",
            "alert",
            "parked",
        ]
        read_only_fields = fields


class AlertSerializer(serializers.ModelSerializer):
    severity = serializers.ChoiceField(choices=SEVERITIES, source="severity_name", read_only=True)
    ci_name = serializers.CharField(source="ci.name", read_only=True)
    incident_reference = serializers.CharField(
        source="incident.reference", read_only=True, allow_null=True, default=None
    )
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = MonitoringAlert
        fields = [
            "id",
            "key",
            "ci",
            "ci_name",
            "service",
            "source",
            "severity",
            "message",
            "count",
            "first_seen",
            "last_seen",
            "incident",
            "incident_reference",
            "is_open",
            "created_at",
            "closed_at",
            "closed_reason",
        ]
        read_only_fields = fields


class EventQuerySerializer(serializers.Serializer):
    strict_input = False  # the query string: ?fields=, ?page= are the view's (mof.api.strict)
    ci = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.all(), required=False, help_text="A CI id."
    )
    service = serializers.PrimaryKeyRelatedField(
        queryset=Service.objects.all(), required=False, help_text="A service id: events of its CIs."
    )
    key = serializers.CharField(max_length=200, required=False)
    since = serializers.DateTimeField(required=False, help_text="Received at or after this time.")
    severity = serializers.ChoiceField(choices=SEVERITIES, required=False)
    parked = serializers.BooleanField(
        required=False, default=False, help_text="Parked events (unknown CI) instead of processed ones."
    )


class AlertQuerySerializer(serializers.Serializer):
    strict_input = False  # the query string: ?fields=, ?page= are the view's (mof.api.strict)
    ci = serializers.PrimaryKeyRelatedField(queryset=ConfigurationItem.objects.all(), required=False)
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.all(), required=False)
    key = serializers.CharField(max_length=200, required=False)
    since = serializers.DateTimeField(required=False, help_text="Last seen at or after this time.")
    open = serializers.BooleanField(required=False, default=False, help_text="Only alerts still open.")


def _query(serializer_class, request) -> dict:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


# --- views --------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(parameters=[EventQuerySerializer], summary="Monitoring events, newest first"),
    retrieve=extend_schema(summary="One monitoring event"),
)
class EventViewSet(SparseFieldsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Monitoring events. Monitoring tools (service accounts with the Partner or Operations
    role) post them; the same key adds to one alert while it is open."""

    serializer_class = EventSerializer
    parser_classes = [JSONParser]
    filter_backends = []  # filters are the query parameters below, applied by the selector

    def get_queryset(self):
        if self.action == "retrieve":
            return events_selectors.event_list(user=self.request.user, parked=None)
        query = _query(EventQuerySerializer, self.request)
        severity = query.get("severity")
        return events_selectors.event_list(
            user=self.request.user,
            ci=query.get("ci"),
            service=query.get("service"),
            key=query.get("key", ""),
            since=query.get("since"),
            severity=events.SEVERITY_NAMES[severity] if severity else None,
            parked=query["parked"],
        )

    @property
    def throttle_scope(self):
        # Posting is bulk ingestion (its own, higher rate); reading is rated like any read.
        return "ingest" if self.action == "create" else None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action in ("list", "retrieve"):
            policy.require(request.user, "event.view")

    @extend_schema(
        summary="Post one event or a batch",
        description=(
            "One event (a JSON object) or a batch (a JSON list, at most MOF_EVENTS_BATCH_LIMIT). "
            "A batch is all or nothing: any invalid event refuses it, with each error under `events` "
            "by the event's position. Unknown CIs are refused or parked (MOF_EVENTS_UNKNOWN_CI)."
        ),
        request=PolymorphicProxySerializer(
            component_name="EventPost",
            serializers=[EventInSerializer, EventInSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={201: IngestResultSerializer, 400: OpenApiTypes.OBJECT, 403: OpenApiTypes.OBJECT},
    )
    def create(self, request, *args, **kwargs):
        try:
            result = events.ingest(actor=request.user, payload=request.data)
        except events.EventBatchInvalid as exc:
            if exc.single:
                return Response(exc.item_errors[0], status=status.HTTP_400_BAD_REQUEST)
            body = {
                "detail": "The batch was refused; nothing was stored.",
                "events": {str(i): errors for i, errors in sorted(exc.item_errors.items())},
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        body = {
            "accepted": result.accepted,
            "parked": result.parked,
            "alerts": [
                {"key": key, "alert": alert.pk if alert else None, "incident": alert.incident_id if alert else None}
                for key, alert in sorted(result.alerts.items())
            ],
            "incidents_opened": [i.reference for i in result.incidents_opened],
            "incidents_resolved": [i.reference for i in result.incidents_resolved],
        }
        return Response(IngestResultSerializer(body).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(parameters=[AlertQuerySerializer], summary="Monitoring alerts, most recently active first"),
    retrieve=extend_schema(summary="One monitoring alert"),
)
class AlertViewSet(SparseFieldsMixin, viewsets.ReadOnlyModelViewSet):
    """Alerts: the events of one deduplication key while its condition lasts, with their
    count, first and last seen, and the incident they opened."""

    serializer_class = AlertSerializer
    filter_backends = []

    def get_queryset(self):
        if self.action == "retrieve":
            return events_selectors.alert_list(user=self.request.user)
        query = _query(AlertQuerySerializer, self.request)
        return events_selectors.alert_list(
            user=self.request.user,
            ci=query.get("ci"),
            service=query.get("service"),
            key=query.get("key", ""),
            since=query.get("since"),
            open_only=query["open"],
        )

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        policy.require(request.user, "event.view")
