from django.urls import path

from changes import views

urlpatterns = [
    path("", views.landing, name="changing"),
    path("changes/", views.change_list, name="change_list"),
    path("changes/<int:pk>/", views.change_detail, name="change_detail"),
    path("changes/<int:pk>/transitions/<str:name>/", views.change_transition, name="change_transition"),
    path("releases/", views.release_list, name="release_list"),
    path("releases/<int:pk>/", views.release_detail, name="release_detail"),
    path("releases/<int:pk>/transitions/<str:name>/", views.release_transition, name="release_transition"),
    path("templates/", views.change_template_list, name="change_template_list"),
    path("templates/<int:pk>/", views.change_template_detail, name="change_template_detail"),
    path("templates/<int:pk>/transitions/<str:name>/", views.change_template_transition, name="change_template_transition"),
]
