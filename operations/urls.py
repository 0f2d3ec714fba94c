from django.urls import path

from operations import views

urlpatterns = [
    path("", views.landing, name="operating"),
]
