from django.urls import path

from operations import views

urlpatterns = [
    path("", views.landing, name="operating"),
    path("windows/", views.windows, name="operations_windows"),
    path("freezes/<int:pk>/", views.freeze_detail, name="freeze_detail"),
    path("freezes/<int:pk>/transitions/<str:name>/", views.freeze_transition, name="freeze_transition"),
]
