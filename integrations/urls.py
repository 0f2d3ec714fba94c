from django.urls import path

from integrations import views

urlpatterns = [
    path("webhooks/", views.subscription_list, name="webhook_list"),
    path("webhooks/new/", views.subscription_create, name="webhook_create"),
    path("webhooks/<int:pk>/", views.subscription_detail, name="webhook_detail"),
    path("webhooks/<int:pk>/edit/", views.subscription_edit, name="webhook_edit"),
    path("webhooks/<int:pk>/rotate-secret/", views.subscription_rotate_secret, name="webhook_rotate_secret"),
    path("webhooks/<int:pk>/ping/", views.subscription_ping, name="webhook_ping"),
    path("webhooks/<int:pk>/transitions/<str:name>/", views.subscription_transition, name="webhook_transition"),
    path("webhooks/deliveries/", views.delivery_list, name="webhook_delivery_list"),
    path("webhooks/deliveries/<uuid:pk>/", views.delivery_detail, name="webhook_delivery_detail"),
    path("webhooks/deliveries/<uuid:pk>/replay/", views.delivery_replay, name="webhook_delivery_replay"),
]
