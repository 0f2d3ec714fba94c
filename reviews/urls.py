from django.urls import path

from reviews import views

urlpatterns = [
    path("", views.landing, name="reviews"),
    path("meetings/", views.meeting_list, name="review_meeting_list"),
    path("meetings/new/", views.meeting_create, name="review_meeting_create"),
    path("meetings/emergency/", views.emergency_convene, name="review_emergency"),
    path("meetings/<int:pk>/", views.meeting_detail, name="review_meeting"),
    path("meetings/<int:pk>/transitions/<str:name>/", views.meeting_transition, name="review_meeting_transition"),
    path("meetings/<int:pk>/agenda/refresh/", views.agenda_refresh, name="review_agenda_refresh"),
    path("meetings/<int:pk>/agenda/add/", views.agenda_add, name="review_agenda_add"),
    path("meetings/<int:pk>/publish/", views.agenda_publish, name="review_publish"),
    path("meetings/<int:pk>/health-report/period/", views.health_period, name="review_health_period"),
    path("meetings/<int:pk>/mode/", views.meeting_mode, name="review_mode"),
    path("meetings/<int:pk>/mode/<int:item_id>/", views.meeting_mode, name="review_mode_item"),
    path("meetings/<int:pk>/items/<int:item_id>/decide/", views.item_decide, name="review_item_decide"),
    path("meetings/<int:pk>/items/<int:item_id>/vote/", views.item_vote, name="review_item_vote"),
    path("meetings/<int:pk>/items/<int:item_id>/remove/", views.item_remove, name="review_item_remove"),
    path("meetings/<int:pk>/minutes/", views.meeting_minutes, name="review_minutes"),
    path("meetings/<int:pk>/invite.ics", views.meeting_ics, name="review_meeting_ics"),
]
