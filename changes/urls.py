from django.urls import path

from changes import views

urlpatterns = [
    path("", views.landing, name="changing"),
]
