import zoneinfo

from rest_framework import serializers

from mof.models import ConfigurationItem, Service
from operations.models import FreezeWindow, MaintenanceWindow


class FreezeWindowSerializer(serializers.ModelSerializer):
    services = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Service.objects.all(), required=False, help_text="Empty: the freeze applies to everything."
    )
    in_force = serializers.SerializerMethodField()

    class Meta:
        model = FreezeWindow
        fields = [
            "id",
            "name",
            "start",
            "end",
            "reason",
            "services",
            "status",
            "in_force",
            "proposed_by",
            "approved_by",
        ]
        read_only_fields = ["status", "proposed_by", "approved_by"]

    def get_in_force(self, obj) -> bool:
        return obj.status in ("approved", "active")

    def validate(self, data):
        start = data.get("start", getattr(self.instance, "start", None))
        end = data.get("end", getattr(self.instance, "end", None))
        if start and end and end <= start:
            raise serializers.ValidationError({"end": "The end must be after the start."})
        return data


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    service = serializers.PrimaryKeyRelatedField(queryset=Service.objects.all(), required=False, allow_null=True)
    ci = serializers.PrimaryKeyRelatedField(queryset=ConfigurationItem.objects.all(), required=False, allow_null=True)
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=7),
        allow_empty=False,
        help_text="ISO weekdays: 1 (Monday) to 7 (Sunday).",
    )
    duration_minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60)
    time_zone = serializers.CharField(max_length=60, help_text="An IANA time zone, e.g. Europe/London.")

    class Meta:
        model = MaintenanceWindow
        fields = ["id", "name", "service", "ci", "weekdays", "start_time", "duration_minutes", "time_zone"]

    def validate_time_zone(self, value):
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"Unknown time zone {value!r}: use an IANA name such as Europe/London.")
        return value

    def validate_weekdays(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Name each weekday once.")
        return sorted(value)

    def validate(self, data):
        service = data.get("service", getattr(self.instance, "service", None))
        ci = data.get("ci", getattr(self.instance, "ci", None))
        if service is None and ci is None:
            raise serializers.ValidationError(
                {"service": "Name the IT service or the configuration item (ci) the window applies to."}
            )
        return data


class ConflictSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["same_ci", "impact", "shared_impact", "implementer", "freeze", "maintenance"]
    )
    severity = serializers.ChoiceField(choices=["blocking", "conflict", "warning"])
    message = serializers.CharField()
    other_reference = serializers.CharField(allow_blank=True)
    other_url = serializers.CharField(allow_blank=True)
    detail = serializers.DictField()


class FreeSlotSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    outside_maintenance_window = serializers.BooleanField()


class ChangeConflictsSerializer(serializers.Serializer):
    change = serializers.DictField()
    conflicts = ConflictSerializer(many=True)
    free_slots = FreeSlotSerializer(many=True)


class ScheduleItemSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["change", "release", "maintenance", "freeze"])
    id = serializers.IntegerField(source="object_id")
    uid = serializers.CharField()
    reference = serializers.CharField(allow_blank=True)
    title = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    status = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)
    conflicts = serializers.ListField(child=serializers.CharField())


class ScheduleSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    truncated = serializers.BooleanField()
    changes = ScheduleItemSerializer(many=True)
    releases = ScheduleItemSerializer(many=True)
    maintenance = ScheduleItemSerializer(many=True)
    freezes = ScheduleItemSerializer(many=True)
