"""Admin of the Operating quadrant: monitoring events, alerts and CI name mappings are
read here; they are written only through operations.events (the API and the parked
events page)."""

from django.contrib import admin

from mof.admin import ReadOnlyAdmin
from operations import events_selectors
from operations.models import EventCIMapping, Job, JobRun, MonitoringAlert, MonitoringEvent


@admin.register(MonitoringAlert)
class MonitoringAlertAdmin(ReadOnlyAdmin):
    view_action = "event.view"
    list_display = [
        "key",
        "ci",
        "service",
        "severity",
        "count",
        "first_seen",
        "last_seen",
        "incident",
        "closed_at",
        "closed_reason",
    ]
    list_filter = ["severity", "closed_reason"]
    search_fields = ["key"]
    list_select_related = ["ci", "service", "incident"]

    def get_queryset(self, request):
        return events_selectors.alert_list(user=request.user)


@admin.register(MonitoringEvent)
class MonitoringEventAdmin(ReadOnlyAdmin):
    view_action = "event.view"
    list_display = ["received_at", "severity", "source", "ci_name", "key", "message", "alert", "parked"]
    list_filter = ["severity", "parked"]
    search_fields = ["key", "ci_name"]

    def get_queryset(self, request):
        return events_selectors.event_list(user=request.user, parked=None)


@admin.register(EventCIMapping)
class EventCIMappingAdmin(ReadOnlyAdmin):
    view_action = "event.view"
    list_display = ["name", "ci", "mapped_by", "created_at"]
    search_fields = ["name"]
    list_select_related = ["ci", "mapped_by"]


# --- the job schedule: read here; written through operations.jobs (pages and API) ----------


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    view_action = "job.view"
    list_display = [
        "name",
        "kind",
        "schedule",
        "time_zone",
        "expected_duration_minutes",
        "owner_group",
        "active",
        "backup_max_age_hours",
        "incident",
    ]
    list_filter = ["kind", "active"]
    search_fields = ["name"]
    list_select_related = ["owner_group", "incident"]
    raw_id_fields = ["target_cis"]


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    view_action = "job.view"
    list_display = [
        "job",
        "planned_for",
        "start",
        "end",
        "status",
        "bytes_processed",
        "items_processed",
        "reported_by",
        "incident",
    ]
    list_filter = ["status", "job__kind"]
    search_fields = ["job__name"]
    list_select_related = ["job", "reported_by", "incident"]
    date_hierarchy = "start"
