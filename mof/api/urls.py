from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from changes.api import views as change_views
from mof.api import views

router = DefaultRouter(trailing_slash=True)
router.register("users", views.UserViewSet, basename="user")
router.register("services", views.ServiceViewSet, basename="service")
router.register("ci-classes", views.CIClassViewSet, basename="ciclass")
router.register("cis", views.ConfigurationItemViewSet, basename="ci")
router.register("relationships", views.CIRelationshipViewSet, basename="relationship")
router.register("risk-thresholds", views.RiskThresholdViewSet, basename="riskthreshold")
router.register("risk-assessments", views.RiskAssessmentViewSet, basename="riskassessment")
router.register("changes", change_views.ChangeViewSet, basename="change")
router.register("change-templates", change_views.StandardChangeTemplateViewSet, basename="changetemplate")
router.register("releases", change_views.ReleaseViewSet, basename="release")

urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="api_token"),
    path("schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("", include(router.urls)),
]
