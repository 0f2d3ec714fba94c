"""Availability and capacity pages, included under /optimizing/ by slas/urls.py."""

from django.urls import path

from slas import views_ops as v

urlpatterns = [
    path("availability/", v.availability_summary, name="availability_summary"),
    path("availability.csv", v.availability_csv, name="availability_csv"),
    path("availability/services/<int:pk>/", v.availability_service, name="availability_service"),
    path("availability/outages/<int:pk>/delete/", v.outage_delete, name="outage_delete"),
    path("capacity/", v.capacity_dashboard, name="capacity_dashboard"),
    path("capacity.csv", v.capacity_csv, name="capacity_csv"),
    path("capacity/thresholds/<int:pk>/delete/", v.threshold_delete, name="capacity_threshold_delete"),
    path("capacity/warnings/", v.capacity_warnings, name="capacity_warnings"),
    path("capacity/warnings/<int:pk>/convert/", v.warning_convert, name="capacity_warning_convert"),
    path("capacity/warnings/<int:pk>/dismiss/", v.warning_dismiss, name="capacity_warning_dismiss"),
]
