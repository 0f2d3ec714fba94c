"""Admin of service level management: a maintenance tool through the same doors.
Calendars save through slas.services.calendar_save (the version bumps, the clocks that use
them are recomputed); SLAs, versions, clocks, notifications and the ticket event log are
read-only here (new versions and transitions go through the pages, the API or the services),
as are service hours, availability targets, outage records, measurements, capacity
thresholds and warnings (slas.availability and slas.capacity write them, with their checks)."""

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from mof.admin import PolicyAdmin, ReadOnlyAdmin, ReadOnlyInline
from slas import services
from slas.models import (
    AvailabilityTarget,
    BusinessCalendar,
    CalendarHoliday,
    CapacityThreshold,
    CapacityWarning,
    ClockNotification,
    Measurement,
    OutageRecord,
    ServiceHours,
    ServiceLevelAgreement,
    SLAClock,
    SLAVersion,
    TicketEvent,
    WorkingInterval,
)


def _kept(formset):
    return [
        f.cleaned_data for f in formset.forms if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")
    ]


class IntervalFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        rows = [
            (d["weekday"], d["start"], d["end"])
            for d in _kept(self)
            if d.get("weekday") is not None and d.get("start") and d.get("end")
        ]
        try:
            services._validate_intervals(rows)
        except ValidationError as exc:
            raise ValidationError(
                [m for e in exc.error_dict.get("intervals", []) for m in e.messages] or exc.messages
            ) from None


class WorkingIntervalInline(admin.TabularInline):
    model = WorkingInterval
    formset = IntervalFormSet
    fields = ["weekday", "start", "end"]
    extra = 1


class CalendarHolidayInline(admin.TabularInline):
    model = CalendarHoliday
    fields = ["date", "name"]
    extra = 1


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(PolicyAdmin):
    view_action = "calendar.view"
    add_action = change_action = "calendar.edit"
    list_display = ["name", "time_zone", "country", "subdivision", "version", "updated_at"]
    search_fields = ["name"]
    readonly_fields = ["version", "updated_at"]
    fields = ["name", "time_zone", "country", "subdivision", "version", "updated_at"]
    inlines = [WorkingIntervalInline, CalendarHolidayInline]

    def save_model(self, request, obj, form, change):
        pass  # saved with its intervals and holidays in one service call (save_related)

    def save_related(self, request, form, formsets, change):
        intervals = holidays = None
        for formset in formsets:
            if formset.model is WorkingInterval:
                intervals = [
                    (d["weekday"], d["start"], d["end"]) for d in _kept(formset) if d.get("start") and d.get("end")
                ]
            elif formset.model is CalendarHoliday:
                holidays = [(d["date"], d["name"]) for d in _kept(formset) if d.get("date")]
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        fields = {name: form.cleaned_data[name] for name in services.CALENDAR_FIELDS if name in form.cleaned_data}
        calendar = BusinessCalendar.objects.get(pk=form.instance.pk) if change else None
        saved = services.calendar_save(
            actor=request.user, calendar=calendar, intervals=intervals, holidays=holidays, **fields
        )
        form.instance.pk = saved.pk
        form.instance.version = saved.version


class SLAVersionInline(ReadOnlyInline):
    model = SLAVersion
    fields = [
        "number",
        "service",
        "priorities",
        "assignment_group",
        "response_seconds",
        "resolution_seconds",
        "calendar",
        "pause_on",
        "warning_thresholds",
        "target_percentage",
        "created_by",
        "created_at",
    ]
    show_change_link = True


@admin.register(ServiceLevelAgreement)
class ServiceLevelAgreementAdmin(ReadOnlyAdmin):
    view_action = "sla.view"
    list_display = ["name", "kind", "status", "owner", "created_at"]
    list_filter = ["kind", "status"]
    search_fields = ["name"]
    readonly_fields = ["name", "kind", "description", "owner", "status", "created_at"]
    inlines = [SLAVersionInline]


@admin.register(SLAVersion)
class SLAVersionAdmin(ReadOnlyAdmin):
    view_action = "sla.view"
    list_display = [
        "sla",
        "number",
        "service",
        "response_seconds",
        "resolution_seconds",
        "calendar",
        "target_percentage",
        "created_at",
    ]
    list_filter = ["sla__kind"]
    search_fields = ["sla__name"]
    list_select_related = ["sla", "service", "calendar"]


@admin.register(SLAClock)
class SLAClockAdmin(ReadOnlyAdmin):
    view_action = "sla.view"
    list_display = [
        "id",
        "ticket_type",
        "ticket_id",
        "version",
        "metric",
        "state",
        "started_at",
        "due_at",
        "breached_at",
        "next_event_at",
        "notified_threshold",
    ]
    list_filter = ["state", "metric", "ticket_type"]
    search_fields = ["=ticket_id"]
    list_select_related = ["version__sla"]
    raw_id_fields = ["version"]


@admin.register(ClockNotification)
class ClockNotificationAdmin(ReadOnlyAdmin):
    view_action = "sla.view"
    list_display = ["id", "clock", "threshold", "crossed_at", "created_at", "sent_at", "failed_at", "error"]
    list_filter = ["threshold"]
    list_select_related = ["clock__version__sla"]
    raw_id_fields = ["clock"]


@admin.register(TicketEvent)
class TicketEventAdmin(ReadOnlyAdmin):
    view_action = "sla.view"
    list_display = [
        "at",
        "ticket_type",
        "ticket_id",
        "kind",
        "state",
        "priority",
        "hold_reason",
        "service_id",
        "group_id",
    ]
    list_filter = ["ticket_type", "kind", "state"]
    search_fields = ["=ticket_id"]


# --- availability and capacity (read-only: written through slas.availability / slas.capacity) ---


@admin.register(ServiceHours)
class ServiceHoursAdmin(ReadOnlyAdmin):
    view_action = "availability.view"
    list_display = ["service", "calendar"]
    search_fields = ["service__name"]
    list_select_related = ["service", "calendar"]


@admin.register(AvailabilityTarget)
class AvailabilityTargetAdmin(ReadOnlyAdmin):
    view_action = "availability.view"
    list_display = ["service", "target_percentage"]
    search_fields = ["service__name"]
    list_select_related = ["service"]


@admin.register(OutageRecord)
class OutageRecordAdmin(ReadOnlyAdmin):
    view_action = "availability.view"
    list_display = ["service", "start", "end", "planned", "reason", "recorded_by", "created_at"]
    list_filter = ["planned"]
    search_fields = ["service__name", "reason"]
    list_select_related = ["service", "recorded_by"]
    date_hierarchy = "start"


@admin.register(Measurement)
class MeasurementAdmin(ReadOnlyAdmin):
    view_action = "measurement.view"
    list_display = ["ci", "metric", "value", "at", "received_at"]
    search_fields = ["metric", "=ci__id"]
    list_select_related = ["ci"]
    raw_id_fields = ["ci"]


@admin.register(CapacityThreshold)
class CapacityThresholdAdmin(ReadOnlyAdmin):
    view_action = "capacity.view"
    list_display = ["ci_class", "metric", "direction", "threshold", "unit", "label", "window_days", "warn_within_days"]
    search_fields = ["metric", "ci_class__name"]
    list_select_related = ["ci_class"]


@admin.register(CapacityWarning)
class CapacityWarningAdmin(ReadOnlyAdmin):
    view_action = "capacity.view"
    list_display = [
        "ci",
        "metric",
        "current_value",
        "threshold_value",
        "direction",
        "forecast_at",
        "status",
        "change",
        "decided_by",
        "decided_at",
    ]
    list_filter = ["status", "direction"]
    search_fields = ["metric", "ci__name"]
    list_select_related = ["ci", "change", "decided_by"]
    raw_id_fields = ["ci", "change"]
