from django.urls import path
from rest_framework.routers import DefaultRouter

from slas.api import views

router = DefaultRouter(trailing_slash=True)
router.register("calendars", views.CalendarViewSet, basename="calendar")
router.register("slas", views.SLAViewSet, basename="sla")
router.register("olas", views.OLAViewSet, basename="ola")

urlpatterns = router.urls + [
    path("incidents/<int:pk>/clocks/", views.IncidentClocksView.as_view(), name="incident_clocks"),
]
