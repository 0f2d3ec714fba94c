"""Serializers validate shape only; writes go through mof.services. State is read-only."""

from rest_framework import serializers

from mof import policy
from mof.choices import RelationshipType, RoleCluster
from mof.models import (
    AuditEntry,
    CIClass,
    CIRelationship,
    ConfigurationItem,
    RiskAssessment,
    RiskThreshold,
    Service,
    Team,
    User,
)


class UserSerializer(serializers.ModelSerializer):
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=RoleCluster.choices), required=False, help_text="Role clusters."
    )
    teams = serializers.PrimaryKeyRelatedField(many=True, queryset=Team.objects.all(), required=False)
    password = serializers.CharField(write_only=True, required=False, style={"input_type": "password"}, min_length=8)

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_manager",
            "is_active",
            "roles",
            "teams",
            "password",
        ]

    def to_representation(self, instance):
        if "roles" not in self.fields:  # pruned by ?fields=
            return super().to_representation(instance)
        # From the prefetched assignments: User.roles would cost a query per row of a list.
        instance._roles_cache = frozenset(a.role for a in instance.role_assignments.all())
        data = super().to_representation(instance)
        data["roles"] = sorted(instance._roles_cache)
        return data


class ServiceSerializer(serializers.ModelSerializer):
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), allow_null=True, required=False)

    class Meta:
        model = Service
        fields = ["id", "name", "owner", "criticality", "hours_of_service", "description", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class CIClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = CIClass
        fields = ["id", "name", "slug", "builtin", "description"]
        read_only_fields = ["slug", "builtin"]


class ConfigurationItemSerializer(serializers.ModelSerializer):
    ci_class = serializers.SlugRelatedField(
        slug_field="slug", queryset=CIClass.objects.all(), help_text="CI class slug."
    )
    owner = serializers.PrimaryKeyRelatedField(queryset=User.objects.all(), allow_null=True, required=False)
    services = serializers.PrimaryKeyRelatedField(many=True, queryset=Service.objects.all(), required=False)
    attributes = serializers.DictField(required=False, help_text="Free attributes: a JSON object.")

    class Meta:
        model = ConfigurationItem
        fields = [
            "id",
            "name",
            "ci_class",
            "owner",
            "status",
            "environment",
            "attributes",
            "services",
            "description",
            "retired_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["status", "retired_reason", "created_at", "updated_at"]


class VisibleCIsMixin:
    """Related CIs resolve only among those the caller may see: an invisible id is 'does not exist'."""

    ci_fields: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        user = getattr(request, "user", None)
        for name in self.ci_fields:
            field = self.fields[name]
            # A list of CIs looks each id up in its child's queryset, not its own.
            getattr(field, "child_relation", field).queryset = policy.visible_cis(user)


class CIRelationshipSerializer(VisibleCIsMixin, serializers.ModelSerializer):
    ci_fields = ("source", "target")

    source = serializers.PrimaryKeyRelatedField(queryset=ConfigurationItem.objects.all(), help_text="The dependent CI.")
    target = serializers.PrimaryKeyRelatedField(
        queryset=ConfigurationItem.objects.all(), help_text="What it depends on."
    )
    type = serializers.ChoiceField(choices=RelationshipType.choices, default=RelationshipType.DEPENDS_ON)

    class Meta:
        model = CIRelationship
        fields = ["id", "source", "target", "type", "created_at"]
        read_only_fields = ["created_at"]
        validators = []  # duplicates and self edges are refused by the service, with a clear message


class RiskThresholdSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskThreshold
        fields = ["level", "min_score"]


class RiskAssessmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = RiskAssessment
        fields = ["id", "probability", "impact", "score", "level", "notes", "assessed_by", "assessed_at"]
        read_only_fields = ["score", "level", "assessed_by", "assessed_at"]


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "actor_id",
            "actor_name",
            "via",
            "action",
            "model_label",
            "object_id",
            "object_repr",
            "changes",
            "transition",
            "reason",
        ]


class TransitionSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    target = serializers.CharField()
    allowed = serializers.BooleanField(help_text="False when a condition or separation-of-duties rule blocks it now.")
    reasons = serializers.ListField(child=serializers.CharField())
    fields = serializers.ListField(child=serializers.CharField(), help_text="Input the transition takes (e.g. reason).")


class TransitionInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class ImpactPathStepSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ImpactedCISerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    ci_class = serializers.CharField()
    status = serializers.CharField()
    environment = serializers.CharField()
    depth = serializers.IntegerField()
    relationship = serializers.CharField(allow_null=True, help_text="Type of the relationship to `via`.")
    via = serializers.IntegerField(
        help_text="Id of the CI this one was reached through (an origin CI at depth 1): follow `via` to rebuild any path."
    )
    path = ImpactPathStepSerializer(
        many=True, required=False, help_text="From the analysed CI to this one; only with ?paths=1."
    )


class ImpactedServiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    criticality = serializers.CharField()
    via_ci = ImpactPathStepSerializer(help_text="The nearest affected CI that supports the service.")
    path = serializers.ListField(child=serializers.CharField(), help_text="Names from the analysed CI to the service.")


class ImpactSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=["downstream", "upstream"])
    origin = ImpactPathStepSerializer(many=True)
    cis = ImpactedCISerializer(many=True)
    services = ImpactedServiceSerializer(many=True)
