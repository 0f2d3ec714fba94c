from django.urls import path
from rest_framework.routers import SimpleRouter

from operations.api import events, jobs, views

router = SimpleRouter(trailing_slash=True)
router.register("freeze-windows", views.FreezeWindowViewSet, basename="freezewindow")
router.register("maintenance-windows", views.MaintenanceWindowViewSet, basename="maintenancewindow")
router.register("events", events.EventViewSet, basename="event")
router.register("alerts", events.AlertViewSet, basename="alert")
router.register("jobs", jobs.JobViewSet, basename="job")

urlpatterns = [
    path("changes/<int:pk>/conflicts/", views.ChangeConflictsView.as_view(), name="change_conflicts"),
    path("schedule/", views.ScheduleView.as_view(), name="schedule"),
    path("jobs/<int:job_pk>/runs/<int:pk>/", jobs.JobRunView.as_view(), name="job_run"),
    path("backup-coverage/", jobs.BackupCoverageView.as_view(), name="backup_coverage_api"),
    *router.urls,
]
