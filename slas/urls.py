from django.urls import include, path

from slas import views

urlpatterns = [
    path("", views.landing, name="optimizing"),
    # Business calendars.
    path("calendars/", views.calendar_list, name="calendar_list"),
    path("calendars/new/", views.calendar_create, name="calendar_create"),
    path("calendars/<int:pk>/", views.calendar_detail, name="calendar_detail"),
    path("calendars/<int:pk>/edit/", views.calendar_edit, name="calendar_edit"),
    path("recomputations/<int:pk>/", views.recompute_progress, name="recompute_progress"),
    # SLAs and OLAs.
    path("slas/", views.sla_list, name="sla_list"),
    path("slas/new/", views.sla_create, name="sla_create"),
    path("slas/<int:pk>/", views.sla_detail, name="sla_detail"),
    path("slas/<int:pk>/edit/", views.sla_edit, name="sla_edit"),
    path("slas/<int:pk>/what-if/", views.sla_whatif, name="sla_whatif"),
    path("slas/<int:pk>/transitions/<str:name>/", views.sla_transition, name="sla_transition"),
    # Compliance reports.
    path("reports/", views.report_page, name="sla_reports"),
    path("reports/<str:table>.csv", views.report_csv, name="sla_report_csv"),
    # Availability and capacity.
    path("", include("slas.urls_ops")),
]
