from rest_framework import serializers

from changes.choices import ChangeType, TemplateStatus
from changes.models import (
    ChangeComment,
    ChangeStakeholder,
    Release,
    ReleaseArtifact,
    RequestForChange,
    StandardChangeTemplate,
)
from mof.api.serializers import VisibleCIsMixin
from mof.models import ConfigurationItem, User


class ChangeSerializer(VisibleCIsMixin, serializers.ModelSerializer):
    ci_fields = ("affected_cis", "test_environment")

    reference = serializers.CharField(read_only=True)
    type = serializers.ChoiceField(
        choices=ChangeType.choices, required=False, help_text="normal unless filed from a template (standard)."
    )
    template = serializers.PrimaryKeyRelatedField(
        queryset=StandardChangeTemplate.objects.filter(status=TemplateStatus.APPROVED), required=False, allow_null=True
    )
    change_manager = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    developer = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    tester = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    implementer = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )
    affected_cis = serializers.PrimaryKeyRelatedField(
        many=True, queryset=ConfigurationItem.objects.all(), required=False
    )
    test_environment = serializers.PrimaryKeyRelatedField(
        many=True, queryset=ConfigurationItem.objects.all(), required=False
    )
    risk_level = serializers.CharField(source="risk_assessment.level", read_only=True, default=None, allow_null=True)
    risk_score = serializers.IntegerField(source="risk_assessment.score", read_only=True, default=None, allow_null=True)

    class Meta:
        model = RequestForChange
        fields = [
            "id",
            "reference",
            "number",
            "title",
            "description",
            "business_justification",
            "type",
            "template",
            "status",
            "requester",
            "change_manager",
            "developer",
            "tester",
            "implementer",
            "approved_by",
            "approved_at",
            "affected_cis",
            "affected_services",
            "impact_analysed_at",
            "risk_assessment",
            "risk_level",
            "risk_score",
            "approval_path",
            "cost_estimate",
            "expected_benefit",
            "expected_benefit_value",
            "implementation_plan",
            "backout_plan",
            "test_plan",
            "test_results",
            "test_environment",
            "planned_start",
            "planned_end",
            "actual_start",
            "actual_end",
            "outcome",
            "pir_notes",
            "freeze_warning",
            "decision_reason",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"title": {"required": False}}
        read_only_fields = [
            "number",
            "status",
            "requester",
            "approved_by",
            "approved_at",
            "affected_services",
            "impact_analysed_at",
            "risk_assessment",
            "approval_path",
            "actual_start",
            "actual_end",
            "outcome",
            "freeze_warning",
            "decision_reason",
            "created_at",
            "updated_at",
        ]

    def validate(self, data):
        if self.instance is None and not data.get("template") and not (data.get("title") or "").strip():
            raise serializers.ValidationError({"title": "Give the change a title (or file it from a template)."})
        start = data.get("planned_start", getattr(self.instance, "planned_start", None))
        end = data.get("planned_end", getattr(self.instance, "planned_end", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"planned_end": "The end must be after the start."})
        return data


class ChangeListSerializer(serializers.ModelSerializer):
    """The list row: no many-to-many, so the query count stays flat."""

    reference = serializers.CharField(read_only=True)
    risk_level = serializers.CharField(source="risk_assessment.level", read_only=True, default=None, allow_null=True)

    class Meta:
        model = RequestForChange
        fields = [
            "id",
            "reference",
            "number",
            "title",
            "type",
            "status",
            "requester",
            "change_manager",
            "implementer",
            "risk_level",
            "approval_path",
            "planned_start",
            "planned_end",
            "updated_at",
        ]


class AssessSerializer(serializers.Serializer):
    probability = serializers.IntegerField(min_value=1, max_value=5)
    impact = serializers.IntegerField(min_value=1, max_value=5)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ChangeCommentSerializer(serializers.ModelSerializer):
    class Meta:
        model = ChangeComment
        fields = ["id", "author", "body", "created_at"]
        read_only_fields = ["author", "created_at"]


class ChangeStakeholderSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ChangeStakeholder
        fields = ["user", "username", "reasons", "notified_at", "responded_at"]


class StandardChangeTemplateSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)

    class Meta:
        model = StandardChangeTemplate
        fields = [
            "id",
            "reference",
            "name",
            "description",
            "implementation_plan",
            "backout_plan",
            "test_plan",
            "risk_probability",
            "risk_impact",
            "owner",
            "status",
            "created_at",
        ]
        read_only_fields = ["owner", "status", "created_at"]


class ReleaseArtifactSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReleaseArtifact
        fields = ["id", "name", "version", "checksum", "location"]
        validators = []


class ReleaseSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    changes = serializers.PrimaryKeyRelatedField(many=True, queryset=RequestForChange.objects.all(), required=False)
    artifacts = ReleaseArtifactSerializer(many=True, required=False)

    class Meta:
        model = Release
        fields = [
            "id",
            "reference",
            "name",
            "description",
            "release_manager",
            "changes",
            "artifacts",
            "status",
            "planned_start",
            "planned_end",
            "deployed_at",
            "created_at",
        ]
        read_only_fields = ["release_manager", "status", "deployed_at", "created_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            from changes.selectors import visible_changes

            self.fields["changes"].child_relation.queryset = visible_changes(request.user)
