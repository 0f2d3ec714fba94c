from rest_framework.routers import DefaultRouter

from changes.api import views
from mof.api import attachments

router = DefaultRouter(trailing_slash=True)
router.register("changes", views.ChangeViewSet, basename="change")
router.register("change-templates", views.StandardChangeTemplateViewSet, basename="changetemplate")
router.register("releases", views.ReleaseViewSet, basename="release")

urlpatterns = [*attachments.urls("changes", "changes.requestforchange", "change"), *router.urls]
