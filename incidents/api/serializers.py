from rest_framework import serializers

from incidents.choices import Channel, NoteKind, Scale
from incidents.models import Incident, IncidentNote, KnownError, MajorIncidentUpdate, PriorityRule, Problem, ProblemProposal
from mof.api.serializers import VisibleCIsMixin
from mof.models import ConfigurationItem, Service, Team, User


class IncidentSerializer(VisibleCIsMixin, serializers.ModelSerializer):
    ci_fields = ("affected_cis",)
    reference = serializers.CharField(read_only=True)
    caller = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True), required=False, help_text="Defaults to you; filing for someone else is for the service desk.")
    channel = serializers.ChoiceField(choices=Channel.choices, default=Channel.API)
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.all(), required=False, allow_null=True)
    affected_cis = serializers.PrimaryKeyRelatedField(many=True, queryset=ConfigurationItem.objects.all(), required=False)
    impact = serializers.ChoiceField(choices=Scale.choices, required=False)
    urgency = serializers.ChoiceField(choices=Scale.choices, required=False)
    assignment_group = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False, allow_null=True)
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True), required=False, allow_null=True)
    reason = serializers.CharField(write_only=True, required=False, allow_blank=True, help_text="Why the incident moves to another group.")

    class Meta:
        model = Incident
        fields = [
            "id", "reference", "number", "title", "description", "caller", "channel", "service", "affected_cis", "impact",
            "urgency", "priority", "category", "assignment_group", "assignee", "status", "hold_reason", "resolution_code",
            "resolution_notes", "resolved_at", "closed_at", "reopen_count", "problem", "known_error", "is_major",
            "major_incident_manager", "parent", "outage_start", "outage_end", "created_at", "updated_at", "reason",
        ]
        read_only_fields = [
            "number", "priority", "status", "hold_reason", "resolution_code", "resolution_notes", "resolved_at", "closed_at",
            "reopen_count", "problem", "is_major", "major_incident_manager", "parent", "created_at", "updated_at",
        ]


class CallerIncidentSerializer(serializers.ModelSerializer):
    """What a caller sees of their own incident: no internal fields."""

    reference = serializers.CharField(read_only=True)

    class Meta:
        model = Incident
        fields = ["id", "reference", "number", "title", "description", "service", "urgency", "priority", "status", "resolution_code", "resolution_notes", "resolved_at", "created_at", "updated_at"]
        read_only_fields = fields


class IncidentListSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)

    class Meta:
        model = Incident
        fields = ["id", "reference", "number", "title", "status", "priority", "caller", "service", "assignment_group", "assignee", "is_major", "created_at", "updated_at"]


class IncidentNoteSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=NoteKind.choices, default=NoteKind.COMMENT)

    class Meta:
        model = IncidentNote
        fields = ["id", "kind", "author", "body", "created_at"]
        read_only_fields = ["author", "created_at"]


class AssignSerializer(serializers.Serializer):
    assignment_group = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all())
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class EscalateSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class DeclareMajorSerializer(serializers.Serializer):
    major_incident_manager = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True))
    outage_start = serializers.DateTimeField(required=False)


class CommunicationSerializer(serializers.ModelSerializer):
    recipients = serializers.ListField(child=serializers.CharField(max_length=254), allow_empty=False)

    class Meta:
        model = MajorIncidentUpdate
        fields = ["id", "author", "body", "recipients", "created_at", "sent_at"]
        read_only_fields = ["author", "created_at", "sent_at"]


class BulkSerializer(serializers.Serializer):
    incidents = serializers.ListField(child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=500)
    action = serializers.ChoiceField(choices=["assign", "set_priority", "resolve_duplicate"])
    assignment_group = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False)
    assignee = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True), required=False)
    impact = serializers.ChoiceField(choices=Scale.choices, required=False)
    urgency = serializers.ChoiceField(choices=Scale.choices, required=False)
    duplicate_of = serializers.PrimaryKeyRelatedField(queryset=Incident.objects.all(), required=False)
    reason = serializers.CharField(required=False, allow_blank=True)

    def validate(self, data):
        needs = {"assign": ["assignment_group", "assignee"], "set_priority": ["impact", "urgency"], "resolve_duplicate": ["duplicate_of"]}[data["action"]]
        missing = {name: "This field is required for this action." for name in needs if name not in data}
        if missing:
            raise serializers.ValidationError(missing)
        return data


class PriorityRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriorityRule
        fields = ["id", "impact", "urgency", "priority"]
        read_only_fields = ["impact", "urgency"]
        extra_kwargs = {"priority": {"min_value": 1, "max_value": 5}}


class AssignmentGroupSerializer(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "role_cluster", "manager", "members"]
        read_only_fields = fields


class ProblemSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    incidents = serializers.PrimaryKeyRelatedField(many=True, queryset=Incident.objects.all(), required=False)

    class Meta:
        model = Problem
        fields = [
            "id", "reference", "number", "title", "description", "problem_manager", "services", "affected_cis", "incidents",
            "rca_notes", "root_cause", "workaround", "fixing_changes", "status", "known_error_published_at", "resolved_at",
            "closure_reason", "created_at", "updated_at",
        ]
        read_only_fields = ["number", "status", "known_error_published_at", "resolved_at", "closure_reason", "created_at", "updated_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if "incidents" in self.fields:  # pruned by ?fields=
            data["incidents"] = [i.pk for i in instance.incidents.all()]
        return data


class KnownErrorSerializer(serializers.ModelSerializer):
    problem_reference = serializers.CharField(source="problem.reference", read_only=True)

    class Meta:
        model = KnownError
        fields = ["id", "problem", "problem_reference", "title", "symptoms", "root_cause", "workaround", "services", "cis", "published_at", "active"]
        read_only_fields = fields


class ProblemProposalSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProblemProposal
        fields = ["id", "scope", "ci", "service", "incidents", "incident_count", "window_start", "window_end", "status", "decided_by", "problem", "created_at"]
        read_only_fields = fields
