from django.urls import path

from changes import views

urlpatterns = [
    path("", views.landing, name="changing"),
    path("changes/", views.change_list, name="change_list"),
    path("changes/new/", views.change_create, name="change_create"),
    path("changes/<int:pk>/", views.change_detail, name="change_detail"),
    path("changes/<int:pk>/edit/", views.change_edit, name="change_edit"),
    path("changes/<int:pk>/assess/", views.change_assess, name="change_assess"),
    path("changes/<int:pk>/impact/", views.change_analyse_impact, name="change_analyse_impact"),
    path("changes/<int:pk>/comments/", views.change_comment, name="change_comment"),
    path("changes/<int:pk>/attachments/", views.change_attach, name="change_attach"),
    path("changes/<int:pk>/test-evidence/", views.change_test_evidence, name="change_test_evidence"),
    path("changes/<int:pk>/transitions/<str:name>/", views.change_transition, name="change_transition"),
    path("releases/", views.release_list, name="release_list"),
    path("releases/new/", views.release_create, name="release_create"),
    path("releases/<int:pk>/", views.release_detail, name="release_detail"),
    path("releases/<int:pk>/edit/", views.release_edit, name="release_edit"),
    path("releases/<int:pk>/artifacts/", views.release_artifact_add, name="release_artifact_add"),
    path("releases/<int:pk>/transitions/<str:name>/", views.release_transition, name="release_transition"),
    path("templates/", views.change_template_list, name="change_template_list"),
    path("templates/new/", views.change_template_create, name="change_template_create"),
    path("templates/<int:pk>/", views.change_template_detail, name="change_template_detail"),
    path("templates/<int:pk>/edit/", views.change_template_edit, name="change_template_edit"),
    path("templates/<int:pk>/use/", views.change_create_from_template, name="change_create_from_template"),
    path(
        "templates/<int:pk>/transitions/<str:name>/",
        views.change_template_transition,
        name="change_template_transition",
    ),
]
