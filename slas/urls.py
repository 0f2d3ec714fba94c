from django.urls import path

from slas import views

urlpatterns = [
    path("", views.landing, name="optimizing"),
]
