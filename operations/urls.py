from django.urls import path

from operations import views, views_events, views_jobs

urlpatterns = [
    path("", views.landing, name="operating"),
    path("windows/", views.windows, name="operations_windows"),
    path("windows/maintenance/new/", views.maintenance_create, name="maintenance_create"),
    path("windows/maintenance/<int:pk>/edit/", views.maintenance_edit, name="maintenance_edit"),
    path("windows/maintenance/<int:pk>/delete/", views.maintenance_delete, name="maintenance_delete"),
    path("freezes/new/", views.freeze_create, name="freeze_create"),
    path("freezes/<int:pk>/", views.freeze_detail, name="freeze_detail"),
    path("freezes/<int:pk>/transitions/<str:name>/", views.freeze_transition, name="freeze_transition"),
    path("calendar/", views.calendar_page, name="operations_calendar"),
    path("calendar/feed/", views.feed_settings, name="operations_calendar_feed"),
    # The feed itself also answers here until /calendar/ is routed (operations.feed_urls).
    path("calendar/feed/<str:secret>.ics", views.calendar_feed, name="calendar_feed_operating"),
    # Service monitoring: events per CI and per service, parked events to map.
    path("events/ci/<int:pk>/", views_events.ci_events, name="events_ci"),
    path("events/service/<int:pk>/", views_events.service_events, name="events_service"),
    path("events/parked/", views_events.parked_events, name="events_parked"),
    path("events/parked/map/", views_events.parked_map, name="events_parked_map"),
    path("events/parked/discard/", views_events.parked_discard, name="events_parked_discard"),
    # Job scheduling and storage management.
    path("jobs/", views_jobs.job_list, name="job_list"),
    path("jobs/new/", views_jobs.job_create, name="job_create"),
    path("jobs/<int:pk>/", views_jobs.job_detail, name="job_detail"),
    path("jobs/<int:pk>/edit/", views_jobs.job_edit, name="job_edit"),
    path("jobs/<int:pk>/delete/", views_jobs.job_delete, name="job_delete"),
    path("backups/", views_jobs.backup_coverage, name="backup_coverage"),
]
