from rest_framework import serializers

from mof.choices import ReviewKind
from mof.models import User
from reviews.models import AgendaItem, Meeting, Vote


class MeetingSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=ReviewKind.choices)
    chair = serializers.PrimaryKeyRelatedField(queryset=User.objects.filter(is_active=True), required=False, help_text="A manager; you by default.")
    attendees = serializers.PrimaryKeyRelatedField(many=True, queryset=User.objects.filter(is_active=True), required=False)
    quorum = serializers.IntegerField(required=False, min_value=1, help_text="Votes needed; 3 by default, 2 for an emergency CAB.")
    quorum_role_clusters = serializers.IntegerField(required=False, min_value=0, help_text="Distinct role clusters among the voters; 2 by default, 1 for an emergency CAB.")

    class Meta:
        model = Meeting
        fields = [
            "id", "reference", "name", "kind", "title", "emergency", "scheduled_at", "duration_minutes", "location", "chair",
            "attendees", "quorum", "quorum_role_clusters", "state", "agenda_published_at", "opened_at", "closed_at", "created_at",
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
            "id", "meeting", "position", "model_label", "object_id", "subject", "subject_reference", "subject_state", "state",
            "decision", "reason", "decided_by", "decided_at", "deferred_to", "added_by_hand", "tally",
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
    decision = serializers.CharField(max_length=30, help_text="approve/reject, go/no_go, accept/follow_up, or defer.")
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


class MinutesSerializer(serializers.Serializer):
    meeting = MeetingSerializer()
    attendees = serializers.ListField(child=serializers.CharField())
    items = MinutesItemSerializer(many=True)
