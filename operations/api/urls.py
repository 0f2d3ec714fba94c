from django.urls import path
from rest_framework.routers import SimpleRouter

from operations.api import views

router = SimpleRouter(trailing_slash=True)
router.register("freeze-windows", views.FreezeWindowViewSet, basename="freezewindow")
router.register("maintenance-windows", views.MaintenanceWindowViewSet, basename="maintenancewindow")

urlpatterns = [
    path("changes/<int:pk>/conflicts/", views.ChangeConflictsView.as_view(), name="change_conflicts"),
    path("schedule/", views.ScheduleView.as_view(), name="schedule"),
    *router.urls,
]
