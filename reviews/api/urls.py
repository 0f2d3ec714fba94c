from rest_framework.routers import DefaultRouter

from reviews.api import views

router = DefaultRouter(trailing_slash=True)
router.register("reviews", views.ReviewViewSet, basename="review")

urlpatterns = router.urls
