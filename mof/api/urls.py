from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from mof.api import views, views_accounts, views_notifications

router = DefaultRouter(trailing_slash=True)
router.register("users", views.UserViewSet, basename="user")
router.register("services", views.ServiceViewSet, basename="service")
router.register("ci-classes", views.CIClassViewSet, basename="ciclass")
router.register("cis", views.ConfigurationItemViewSet, basename="ci")
router.register("relationships", views.CIRelationshipViewSet, basename="relationship")
router.register("risk-thresholds", views.RiskThresholdViewSet, basename="riskthreshold")
router.register("risk-assessments", views.RiskAssessmentViewSet, basename="riskassessment")
router.register("service-accounts", views_accounts.ServiceAccountViewSet, basename="serviceaccount")
router.register("tokens", views_accounts.MyTokenViewSet, basename="apitoken")
router.register("notifications", views_notifications.NotificationViewSet, basename="notification")

urlpatterns = [
    # First: incidents are the API's busiest resources, and the resolver tries every pattern
    # before the match in order (~300 of them, a tenth of a detail GET's CPU, when they came fifth).
    path("", include("incidents.api.urls")),
    path("auth/token/", views_accounts.ObtainTokenView.as_view(), name="api_token"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves its start-up script as a file: no inline script (mof.csp).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api_schema"), name="api_docs"),
    path("", include(router.urls)),
    # Each quadrant's app routes its own resources.
    path("", include("changes.api.urls")),
    path("", include("operations.api.urls")),
    path("", include("reviews.api.urls")),
    path("", include("slas.api.urls")),
    path("", include("integrations.api.urls")),
]
