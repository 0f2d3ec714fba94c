from rest_framework.routers import DefaultRouter

from changes.api import views

router = DefaultRouter(trailing_slash=True)
router.register("changes", views.ChangeViewSet, basename="change")
router.register("change-templates", views.StandardChangeTemplateViewSet, basename="changetemplate")
router.register("releases", views.ReleaseViewSet, basename="release")

urlpatterns = router.urls
