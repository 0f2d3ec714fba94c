"""The iCalendar feed at the site root: include at "calendar/" in mof/web_urls.py:

    path("calendar/", include("operations.feed_urls")),

which serves GET /calendar/<secret>.ics (no login: the secret is the key)."""

from django.urls import path

from operations import views

urlpatterns = [
    path("<str:secret>.ics", views.calendar_feed, name="calendar_feed"),
]
