from django.urls import path
from rest_framework.routers import DefaultRouter

from slas.api import measurements, reports, views

router = DefaultRouter(trailing_slash=True)
router.register("calendars", views.CalendarViewSet, basename="calendar")
router.register("slas", views.SLAViewSet, basename="sla")
router.register("olas", views.OLAViewSet, basename="ola")
router.register("capacity/thresholds", measurements.ThresholdViewSet, basename="capacitythreshold")
router.register("capacity/warnings", measurements.WarningViewSet, basename="capacitywarning")
router.register("outages", measurements.OutageViewSet, basename="outage")

urlpatterns = router.urls + [
    path("incidents/<int:pk>/clocks/", views.IncidentClocksView.as_view(), name="incident_clocks"),
    path("reports/compliance/", reports.ComplianceReportView.as_view(), name="report_compliance"),
]
urlpatterns += [
    path("measurements/", measurements.MeasurementView.as_view(), name="measurements"),
    path("reports/availability/", measurements.AvailabilityReportView.as_view(), name="availability_report"),
    path(
        "services/<int:pk>/availability/",
        measurements.ServiceAvailabilitySettingsView.as_view(),
        name="service_availability",
    ),
]
