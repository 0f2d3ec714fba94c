"""Serializers of service accounts, API tokens and the token endpoint: shape only; the
writes go through mof.tokens. A key appears in exactly one response: its creation's."""

from rest_framework import serializers

from mof.choices import RoleCluster
from mof.models import ApiToken, User
from mof.models_access import TokenScope, TokenStatus
from mof.tokens import DEFAULT_SERVICE_ACCOUNT_ROLES, MAX_GRACE_MINUTES


class ServiceAccountSerializer(serializers.ModelSerializer):
    roles = serializers.ListField(
        child=serializers.ChoiceField(choices=RoleCluster.choices),
        required=False,
        default=list(DEFAULT_SERVICE_ACCOUNT_ROLES),
        help_text="Role clusters it acts with (default: partner).",
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, help_text="Display name.")
    live_tokens = serializers.IntegerField(read_only=True, help_text="Tokens that authenticate now.")

    class Meta:
        model = User
        fields = ["id", "username", "first_name", "email", "is_active", "roles", "live_tokens", "date_joined"]
        read_only_fields = ["date_joined"]

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, (list, tuple)) and hasattr(self.instance, "pk"):
            fields["username"].read_only = True  # its logs and trail know it by this name
        return fields

    def to_representation(self, instance):
        # Roles from the prefetched assignments (User.roles would query once per account).
        instance._roles_cache = frozenset(a.role for a in instance.role_assignments.all())
        data = super().to_representation(instance)
        if "roles" in self.fields:  # pruned by ?fields=
            data["roles"] = sorted(instance._roles_cache)
        if "live_tokens" in self.fields:
            data["live_tokens"] = getattr(instance, "live_tokens", None)
        return data


class ApiTokenSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True, default=None)
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scope",
            "status",
            "user",
            "created_by",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "rotated_from",
        ]
        read_only_fields = fields

    def get_status(self, token) -> TokenStatus:
        return token.status()


class ApiTokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="What uses it.")
    scope = serializers.ChoiceField(choices=TokenScope.choices, default=TokenScope.READ_WRITE)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class IssuedTokenSerializer(ApiTokenSerializer):
    key = serializers.CharField(read_only=True, help_text="The key: shown this once, never stored in clear.")

    class Meta(ApiTokenSerializer.Meta):
        fields = ApiTokenSerializer.Meta.fields + ["key"]
        read_only_fields = fields


class RotateSerializer(serializers.Serializer):
    grace_minutes = serializers.IntegerField(
        min_value=0,
        max_value=MAX_GRACE_MINUTES,
        default=0,
        help_text="Minutes the old token keeps working (0: revoked at once).",
    )


class SignInSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, style={"input_type": "password"}, trim_whitespace=False)


class SignInTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    expires_at = serializers.DateTimeField()
