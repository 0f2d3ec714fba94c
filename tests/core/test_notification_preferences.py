"""Notification preferences per person and kind of event (immediately, daily digest, portal
only, off), the daily digest, the in-portal list with its unread badge, and the API."""

import pytest
from django.conf import settings
from django.test import Client, override_settings
from rest_framework.test import APIClient

from incidents import services as desk
from mof import notifications
from mof.models import Notification, NotificationPreference, OutgoingMail
from mof.tasks import send_notification_digest
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    agent = UserFactory(username="agent", email="agent@example.test", roles=["support"])
    caller = UserFactory(username="caller", email="caller@example.test")
    group = TeamFactory(name="Service desk", members=[agent])
    return {"agent": agent, "caller": caller, "group": group}


def assign(world, title="Printer down"):
    incident = desk.incident_create(
        actor=world["agent"], caller=world["caller"], title=title, assignment_group=world["group"]
    )
    return desk.incident_assign(
        actor=world["agent"], incident=incident, assignment_group=world["group"], assignee=world["agent"]
    )


def mails_to(user, kind):
    return OutgoingMail.objects.filter(to_email=user.email, kind=kind)


def test_by_default_a_person_is_mailed_at_once_and_sees_it_in_the_portal(world):
    incident = assign(world)
    assert mails_to(world["caller"], "incidents.assigned").count() == 1
    [note] = Notification.objects.filter(user=world["caller"], kind="incidents.assigned")
    assert note.title == f"[{incident.reference}] Printer down: assigned" and note.url == incident.get_absolute_url()
    assert not note.digest and note.read_at is None


def test_portal_only_writes_no_mail_and_off_writes_nothing(world):
    notifications.set_preferences(world["caller"], {"incidents.assigned": "portal", "incidents.landed_in_queue": "off"})
    notifications.set_preferences(world["agent"], {"incidents.landed_in_queue": "off"})
    assign(world)
    assert not mails_to(world["caller"], "incidents.assigned").exists()
    assert Notification.objects.filter(user=world["caller"], kind="incidents.assigned").count() == 1
    assert not mails_to(world["agent"], "incidents.landed_in_queue").exists()
    assert not Notification.objects.filter(user=world["agent"], kind="incidents.landed_in_queue").exists()


def test_a_status_change_follows_the_transition_preference(world):
    notifications.set_preferences(world["caller"], {"transition": "off"})
    incident = assign(world)
    from mof.transitions import transition_mail

    transition_mail(incident, "start", "assigned", "in_progress")
    assert not OutgoingMail.objects.filter(to_email=world["caller"].email, kind="incidents.incident.start").exists()
    assert OutgoingMail.objects.filter(to_email=world["agent"].email, kind="incidents.incident.start").exists()


def test_the_daily_digest_sends_one_mail_with_the_days_items(world, mailoutbox, django_capture_on_commit_callbacks):
    notifications.set_preferences(
        world["caller"], {"incidents.assigned": "digest", "incidents.commented": "digest", "transition": "digest"}
    )
    first = assign(world, "Printer down")
    second = assign(world, "Scanner down")
    desk.incident_note(actor=world["agent"], incident=first, kind="comment", body="Toner ordered.")
    assert not OutgoingMail.objects.filter(to_email=world["caller"].email).exists()
    assert (
        Notification.objects.filter(user=world["caller"], digest=True, digested_at__isnull=True).count() == 5
    )  # 2 x (assigned, New → Assigned), 1 comment

    with override_settings(MOF_NOTIFICATION_DIGEST_HOUR=(notifications.timezone.localtime().hour + 1) % 24):
        assert send_notification_digest() == 0  # not the hour yet
    with django_capture_on_commit_callbacks(execute=True):
        assert send_notification_digest(force=True) == 1
    [digest] = [m for m in mailoutbox if m.to == [world["caller"].email]]
    assert digest.subject == "[MOF] Your notifications: 5 since the last digest"
    assert (
        first.reference in digest.body
        and second.reference in digest.body
        and "new comment" in digest.body
        and "New → Assigned" in digest.body
    )
    assert f"{settings.MOF_BASE_URL.rstrip('/')}{first.get_absolute_url()}" in digest.body
    assert [a[1] for a in digest.alternatives] == ["text/html"]
    assert not Notification.objects.filter(user=world["caller"], digest=True, digested_at__isnull=True).exists()
    assert notifications.send_digests() == 0  # sent once


def test_an_invitation_is_never_held_for_the_digest(world):
    from django.utils import timezone

    from reviews import services as reviews
    from tests.factories import ManagerFactory

    notifications.set_preferences(world["agent"], {"reviews.invitation": "digest"})
    chair = ManagerFactory(email="chair@example.test")
    reviews.meeting_create(
        actor=chair,
        kind="release_approved",
        scheduled_at=timezone.now() + timezone.timedelta(days=1),
        attendees=[world["agent"]],
    )
    assert mails_to(world["agent"], "reviews.invitation").count() == 1


def test_preferences_refuse_unknown_events_and_deliveries(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        notifications.set_preferences(world["caller"], {"incidents.assigned": "hourly", "nonsense": "off"})
    assert set(exc.value.message_dict) == {"incidents.assigned", "nonsense"}
    notifications.set_preferences(world["caller"], {"incidents.assigned": "off"})
    notifications.set_preferences(world["caller"], {"incidents.assigned": "immediately"})
    assert not NotificationPreference.objects.filter(user=world["caller"]).exists()  # the default needs no row


def login(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_preferences_page_saves_choices_and_answers_bad_input_with_400(world):
    client = login(world["caller"])
    page = client.get("/notifications/preferences/")
    assert page.status_code == 200 and "Your incident is assigned" in page.content.decode()
    r = client.post("/notifications/preferences/", {"incidents.assigned": "digest", "slas.warning": "off"})
    assert r.status_code == 302
    assert dict(NotificationPreference.objects.filter(user=world["caller"]).values_list("event", "delivery")) == {
        "incidents.assigned": "digest",
        "slas.warning": "off",
    }
    bad = client.post("/notifications/preferences/", {"incidents.assigned": "hourly"})
    assert bad.status_code == 400 and "Choose one of" in bad.content.decode()
    assert Client().get("/notifications/preferences/").status_code == 302  # sign in first


def test_the_notification_list_shows_only_ones_own_and_marks_them_read(world):
    notifications.set_preferences(world["caller"], {"transition": "off"})
    incident = assign(world)
    client = login(world["caller"])
    page = client.get("/notifications/").content.decode()
    assert f"[{incident.reference}] Printer down: assigned" in page
    assert 'class="badge notify-count" aria-label="1 unread">1<' in page  # the header's badge
    assert "new in Service desk" not in page  # the agent's, not the caller's
    mine = Notification.objects.get(user=world["caller"])
    theirs = Notification.objects.filter(user=world["agent"]).first()
    assert client.post(f"/notifications/{theirs.pk}/read/").status_code == 302
    theirs.refresh_from_db()
    assert theirs.read_at is None
    client.post(f"/notifications/{mine.pk}/read/")
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert "notify-count" not in client.get("/notifications/").content.decode()
    assert "No notifications unread" in client.get("/notifications/?unread=1").content.decode()
    other = login(world["agent"])
    other.post("/notifications/read/")
    assert not Notification.objects.filter(user=world["agent"], read_at__isnull=True).exists()


def test_the_header_badge_costs_one_query(world, django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assign(world)
    client = login(world["caller"])
    client.get("/notifications/preferences/")
    with CaptureQueriesContext(connection) as queries:
        client.get("/notifications/preferences/")
    counts = [
        q["sql"] for q in queries.captured_queries if "mof_notification" in q["sql"] and "COUNT" in q["sql"].upper()
    ]
    assert len(counts) == 1


def test_the_api_lists_ones_own_notifications_and_marks_them_read(world):
    notifications.set_preferences(world["caller"], {"transition": "off"})
    incident = assign(world)
    api = APIClient()
    assert api.get("/api/v1/notifications/").status_code == 401
    api.force_authenticate(world["caller"])
    r = api.get("/api/v1/notifications/")
    assert r.status_code == 200
    [row] = r.json()["results"]
    assert row["title"] == f"[{incident.reference}] Printer down: assigned" and row["unread"] is True
    assert (
        row["url"] == f"{settings.MOF_BASE_URL.rstrip('/')}{incident.get_absolute_url()}"
        and row["event"] == "Your incident is assigned"
    )
    theirs = Notification.objects.filter(user=world["agent"]).first()
    assert api.get(f"/api/v1/notifications/{theirs.pk}/").status_code == 404
    assert api.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    assert api.get("/api/v1/notifications/?unread=maybe").status_code == 400
    read = api.post(f"/api/v1/notifications/{row['id']}/read/")
    assert read.status_code == 200 and read.json()["unread"] is False
    assert api.get("/api/v1/notifications/?unread=true").json()["results"] == []
    assert api.get("/api/v1/notifications/?fields=id,title").json()["results"][0].keys() == {"id", "title"}
    api.force_authenticate(world["agent"])
    assert api.post("/api/v1/notifications/read-all/").json() == {
        "marked": Notification.objects.filter(user=world["agent"]).count()
    }


def test_old_notifications_are_forgotten_but_not_those_waiting_for_a_digest(world):
    from django.utils import timezone

    notifications.set_preferences(world["caller"], {"incidents.assigned": "digest"})
    assign(world)
    old = timezone.now() - timezone.timedelta(days=settings.MOF_NOTIFICATION_RETENTION_DAYS + 1)
    Notification.objects.update(created_at=old)
    before = Notification.objects.count()
    assert before > 1 and notifications.purge_notifications() == before - 1
    [left] = Notification.objects.all()
    assert left.kind == "incidents.assigned" and left.digest and left.digested_at is None
