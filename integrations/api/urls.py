from rest_framework.routers import SimpleRouter

from integrations.api import views

router = SimpleRouter(trailing_slash=True)
router.register("webhooks", views.WebhookSubscriptionViewSet, basename="webhook")
router.register("webhook-deliveries", views.WebhookDeliveryViewSet, basename="webhookdelivery")

urlpatterns = router.urls
