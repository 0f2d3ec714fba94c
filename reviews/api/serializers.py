from rest_framework import serializers

from mof.choices import ReviewKind
from mof.models import User
from reviews.models import AgendaItem, Meeting, Vote


class MeetingSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=ReviewKind.choices)
    chair = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, help_text="A manager; you by default."
    )
    attendees = serializers.PrimaryKeyRelatedField(
        many=True, queryset=User.objects.filter(is_active=True), required=False
    )
    quorum = serializers.IntegerField(
        required=False, min_value=1, help_text="Votes needed; 3 by default, 2 for an emergency CAB."
    )
    quorum_role_clusters = serializers.IntegerField(
        required=False,
        min_value=0,
        help_text="Distinct role clusters among the voters; 2 by default, 1 for an emergency CAB.",
    )

    class Meta:
        model = Meeting
        fields = [
            "id",
            "reference",
            "name",
            "kind",
            "title",
            "emergency",
            "scheduled_at",
            "duration_minutes",
            "location",
            "chair",
            "attendees",
            "quorum",
            "quorum_role_clusters",
            "state",
            "agenda_published_at",
            "opened_at",
            "closed_at",
            "created_at",
        ]
        read_only_fields = ["state", "agenda_published_at", "opened_at", "closed_at", "created_at"]


class AgendaItemSerializer(serializers.ModelSerializer):
    subject = serializers.SerializerMethodField()
    subject_reference = serializers.SerializerMethodField()
    subject_state = serializers.SerializerMethodField()
    tally = serializers.SerializerMethodField()

    class Meta:
        model = AgendaItem
        fields = [
            "id",
            "meeting",
            "position",
            "model_label",
            "object_id",
            "subject",
            "subject_reference",
            "subject_state",
            "state",
            "decision",
            "reason",
            "decided_by",
            "decided_at",
            "deferred_to",
            "added_by_hand",
            "tally",
        ]
        read_only_fields = fields

    def get_subject(self, item) -> str:
        subject = item.get_subject()
        return str(subject) if subject is not None else item.subject_repr

    def get_subject_reference(self, item) -> str:
        return getattr(item.get_subject(), "reference", "")

    def get_subject_state(self, item) -> str:
        subject = item.get_subject()
        return str(getattr(subject, "status", "") or getattr(subject, "state", "")) if subject is not None else ""

    def get_tally(self, item) -> dict:
        return getattr(item, "tally", None) or {}


class AgendaAddSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=40, help_text="The subject as people say it: CHG-12, REL-3, STD-4.")


class VoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Vote
        fields = ["id", "item", "voter", "vote", "role_clusters", "is_manager", "cast_at"]
        read_only_fields = ["id", "item", "voter", "role_clusters", "is_manager", "cast_at"]


class DecisionSerializer(serializers.Serializer):
    decision = serializers.CharField(
        max_length=30,
        help_text="approve/reject, go/no_go, accept/follow_up (follow_up_problem/follow_up_rfc on a health report), or defer.",
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class MinutesItemSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    subject = serializers.CharField()
    subject_reference = serializers.CharField()
    state = serializers.CharField()
    decision = serializers.CharField()
    reason = serializers.CharField()
    decided_by = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)
    votes = serializers.DictField(child=serializers.IntegerField())
    deferred_to = serializers.CharField(allow_blank=True)


# --- the Operations Review's operational health report (reviews.operations_review) -------


class HealthJobSerializer(serializers.Serializer):
    job_id = serializers.IntegerField()
    name = serializers.CharField()
    runs = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    missed = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True, help_text="Percentage of the runs that succeeded.")


class HealthJobsSerializer(serializers.Serializer):
    runs = serializers.IntegerField()
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()
    missed = serializers.IntegerField()
    success_rate = serializers.FloatField(allow_null=True)
    jobs = HealthJobSerializer(many=True, help_text="The jobs that went worst first (at most 50).")
    jobs_total = serializers.IntegerField()


class HealthServiceSerializer(serializers.Serializer):
    service_id = serializers.IntegerField(allow_null=True)
    service_name = serializers.CharField()
    events = serializers.IntegerField()
    alerts = serializers.IntegerField()
    incidents_from_events = serializers.IntegerField()
    incidents = serializers.IntegerField()
    major_incidents = serializers.IntegerField()
    sla_breached = serializers.IntegerField(help_text="Incidents opened in the period that breached an SLA.")


class HealthTotalsSerializer(serializers.Serializer):
    events = serializers.IntegerField()
    alerts = serializers.IntegerField()
    incidents_from_events = serializers.IntegerField()
    incidents = serializers.IntegerField()
    major_incidents = serializers.IntegerField()
    sla_breached = serializers.IntegerField()
    sla_breached_clocks = serializers.IntegerField()


class HealthChangeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    outcome = serializers.CharField()
    actual_end = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField()


class HealthChangesSerializer(serializers.Serializer):
    implemented = serializers.IntegerField()
    successful = serializers.IntegerField()
    with_issues = serializers.IntegerField()
    failed = serializers.IntegerField(help_text="Failed and backed out.")
    backed_out = serializers.IntegerField(help_text="Backed out and not yet reviewed.")
    failure_rate = serializers.FloatField(allow_null=True)
    failed_changes = HealthChangeSerializer(many=True)


class HealthIncidentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    title = serializers.CharField()
    service = serializers.CharField(allow_blank=True)
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    url = serializers.CharField()


class HealthWarningSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ci = serializers.CharField()
    metric = serializers.CharField()
    summary = serializers.CharField()
    current_value = serializers.FloatField()
    threshold_value = serializers.FloatField()
    forecast_at = serializers.DateTimeField()


class HealthCapacitySerializer(serializers.Serializer):
    open = serializers.IntegerField()
    raised = serializers.IntegerField()
    warnings = HealthWarningSerializer(many=True)


class HealthReportSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    as_of = serializers.DateTimeField()
    frozen = serializers.BooleanField(help_text="True once the meeting decided it: the figures as they were decided.")
    frozen_at = serializers.DateTimeField(allow_null=True, required=False)
    jobs = HealthJobsSerializer()
    services = HealthServiceSerializer(many=True)
    totals = HealthTotalsSerializer()
    changes = HealthChangesSerializer()
    major_incidents = HealthIncidentSerializer(many=True)
    capacity = HealthCapacitySerializer()


class HealthReportItemSerializer(serializers.Serializer):
    item = serializers.IntegerField(help_text="The agenda item that carries the report.")
    state = serializers.CharField()
    decision = serializers.CharField(allow_blank=True)
    stated = serializers.BooleanField(
        help_text="Whether the chair stated the period (else: since the last Operations Review)."
    )
    follow_up_reference = serializers.CharField(allow_blank=True)
    report = HealthReportSerializer()


class HealthPeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()


class MinutesHealthReportSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    report = HealthReportSerializer()


class MinutesSerializer(serializers.Serializer):
    meeting = MeetingSerializer()
    attendees = serializers.ListField(child=serializers.CharField())
    items = MinutesItemSerializer(many=True)
    health_report = MinutesHealthReportSerializer(
        allow_null=True, help_text="An Operations Review's operational health report."
    )
