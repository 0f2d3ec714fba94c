"""Admin of the Operating quadrant: monitoring events, alerts and CI name mappings are
read here; they are written only through operations.events (the API and the parked
events page)."""
from django.contrib import admin

from mof.admin import ReadOnlyAdmin
from operations import events_selectors
from operations.models import EventCIMapping, MonitoringAlert, MonitoringEvent


@admin.register(MonitoringAlert)
class MonitoringAlertAdmin(ReadOnlyAdmin):
    view_action = "event.view"
    list_display = ["key", "ci", "service", "severity", "count", "first_seen", "last_seen", "incident", "closed_at", "closed_reason"]
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
