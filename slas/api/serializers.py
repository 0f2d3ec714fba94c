import datetime as dt

from rest_framework import serializers

from slas.models import (
    BusinessCalendar,
    ServiceLevelAgreement,
    SLAClock,
    SLAVersion,
    TicketType,
)


class WholeItemSerializer(serializers.Serializer):
    """An item of a list is replaced whole, even in a PATCH (DRF's partial reaches nested
    lists; found by fuzzing: an interval without its end was a 500)."""

    def validate(self, attrs):
        missing = {
            name: ["This field is required."]
            for name, field in self.fields.items()
            if field.required and name not in attrs
        }
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class IntervalSerializer(WholeItemSerializer):
    weekday = serializers.IntegerField(min_value=0, max_value=6)
    start = serializers.TimeField()
    end = serializers.TimeField(help_text="00:00 means midnight at the end of the day.")


class HolidaySerializer(WholeItemSerializer):
    date = serializers.DateField()
    name = serializers.CharField(max_length=120)


class CalendarSerializer(serializers.ModelSerializer):
    intervals = IntervalSerializer(many=True, required=False)
    holidays = HolidaySerializer(many=True, required=False, source="own_holidays")

    class Meta:
        model = BusinessCalendar
        fields = ["id", "name", "time_zone", "country", "subdivision", "version", "intervals", "holidays", "updated_at"]
        read_only_fields = ["version", "updated_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # Each only when not pruned by ?fields=.
        if "intervals" in self.fields:
            data["intervals"] = [
                {"weekday": i.weekday, "start": i.start.strftime("%H:%M"), "end": i.end.strftime("%H:%M")}
                for i in instance.intervals.all()
            ]
        if "holidays" in self.fields:
            data["holidays"] = [{"date": h.date.isoformat(), "name": h.name} for h in instance.own_holidays.all()]
        return data


class VersionSerializer(serializers.ModelSerializer):
    ticket_type = serializers.ChoiceField(
        choices=TicketType.choices,
        default=TicketType.INCIDENT,
        help_text="The tickets it applies to.",
        error_messages={
            "invalid_choice": f'"{{input}}" is not a ticket type an SLA can apply to. Allowed: {", ".join(TicketType.values)}.'
        },
    )
    priorities = serializers.ListField(child=serializers.IntegerField(), required=False)
    pause_on = serializers.ListField(child=serializers.CharField(), required=False)
    warning_thresholds = serializers.ListField(child=serializers.IntegerField(), required=False)

    class Meta:
        model = SLAVersion
        fields = [
            "number",
            "ticket_type",
            "service",
            "priorities",
            "assignment_group",
            "response_seconds",
            "resolution_seconds",
            "calendar",
            "pause_on",
            "warning_thresholds",
            "carry_pauses",
            "target_percentage",
            "created_at",
        ]
        read_only_fields = ["number", "created_at"]


class SLASerializer(serializers.ModelSerializer):
    versions = VersionSerializer(many=True, read_only=True)

    class Meta:
        model = ServiceLevelAgreement
        fields = ["id", "name", "kind", "description", "owner", "status", "versions", "created_at"]
        read_only_fields = ["owner", "status", "created_at"]


class SLACreateSerializer(VersionSerializer):
    name = serializers.CharField(max_length=150)
    kind = serializers.ChoiceField(choices=ServiceLevelAgreement.KINDS, default="sla")
    description = serializers.CharField(required=False, allow_blank=True)

    class Meta(VersionSerializer.Meta):
        fields = ["name", "kind", "description"] + VersionSerializer.Meta.fields


class NewVersionSerializer(VersionSerializer):
    retarget_running = serializers.BooleanField(
        default=False, help_text="Move running clocks to the new targets (completed ones are never rewritten)."
    )

    class Meta(VersionSerializer.Meta):
        fields = VersionSerializer.Meta.fields + ["retarget_running"]
        extra_kwargs = {"calendar": {"required": False}}


class ClockSerializer(serializers.ModelSerializer):
    sla = serializers.CharField(source="version.sla.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    elapsed_now_seconds = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()

    class Meta:
        model = SLAClock
        fields = [
            "id",
            "sla",
            "version",
            "metric",
            "state",
            "started_at",
            "stopped_at",
            "target_seconds",
            "elapsed_seconds",
            "elapsed_now_seconds",
            "due_at",
            "breached_at",
            "next_event_at",
            "notified_threshold",
            "timeline",
        ]

    def get_elapsed_now_seconds(self, clock) -> int:
        return self.context["figures"][clock.pk].elapsed_seconds

    def get_timeline(self, clock) -> list[dict]:
        return [
            {
                **row,
                "start": row["start"].isoformat(),
                "end": row["end"].isoformat() if isinstance(row["end"], dt.datetime) else None,
            }
            for row in self.context["timelines"][clock.pk]
        ]
