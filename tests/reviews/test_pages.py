"""Pages: meetings, meeting mode (htmx and without JavaScript), minutes, the invitation,
the admin; the meeting page in a constant number of queries."""

import datetime as dt
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from changes.choices import ChangeStatus, ReleaseStatus
from changes.models import RequestForChange
from mof.models import ReviewDecisionRecord
from mof.transitions import perform_transition
from reviews import services
from reviews.models import AgendaItem, Meeting
from tests.changes.factories import TemplateFactory
from tests.reviews.conftest import change_in, make_meeting, release_in, vote_all

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def logged_in(client, user):
    client.force_login(user)
    return client


def item_on(meeting, people, **change_kwargs):
    change = change_in(**change_kwargs)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    return change, item


def test_meeting_list_create_and_emergency(client, people):
    c = logged_in(client, people["chair"])
    assert c.get("/reviews/").status_code == 200
    assert c.get("/reviews/meetings/").status_code == 200
    assert c.get("/reviews/meetings/new/").status_code == 200
    when = (timezone.now() + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    r = c.post(
        "/reviews/meetings/new/",
        {"kind": "release_readiness", "scheduled_at": when, "duration_minutes": 45, "attendees": [people["rel"].pk]},
    )
    assert r.status_code == 302
    meeting = Meeting.objects.get()
    assert meeting.kind == "release_readiness" and meeting.chair == people["chair"]
    assert c.get(r.url).status_code == 200
    r = c.post("/reviews/meetings/emergency/")
    assert r.status_code == 302 and Meeting.objects.filter(emergency=True, state="in_session").exists()


def test_non_managers_cannot_plan_meetings(client, people):
    c = logged_in(client, people["requester"])
    assert c.get("/reviews/meetings/new/").status_code == 403
    assert c.post("/reviews/meetings/emergency/").status_code == 403


def test_manager_decides_in_meeting_mode_with_one_htmx_click(client, cab, people):
    change, item = item_on(cab, people, requester=people["requester"])
    vote_all(item, people)
    c = logged_in(client, people["chair"])
    page = c.get(f"/reviews/meetings/{cab.pk}/mode/")
    assert page.status_code == 302 and page.url.endswith(f"/mode/{item.pk}/")
    page = c.get(page.url)
    assert page.status_code == 200
    html = page.content.decode()
    assert (
        change.reference in html
        and 'data-decision="approve"' in html
        and "Cost and benefit" in html
        and "Implementation plan" in html
    )
    r = c.post(
        f"/reviews/meetings/{cab.pk}/items/{item.pk}/decide/", {"decision": "approve", "reason": "Go ahead"}, **HTMX
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="mode-item"' in html and "<html" not in html and "data-result" in html and "Approved" in html
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.APPROVED


def test_meeting_mode_without_javascript(client, cab, people):
    change, item = item_on(cab, people)
    vote_all(item, people)
    c = logged_in(client, people["chair"])
    r = c.post(f"/reviews/meetings/{cab.pk}/items/{item.pk}/decide/", {"decision": "reject", "reason": "No"})
    assert r.status_code == 302 and r.url.endswith(f"/mode/{item.pk}/")
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.REJECTED
    # Deciding again: 409 with a clear message, nothing changed.
    r = c.post(f"/reviews/meetings/{cab.pk}/items/{item.pk}/decide/", {"decision": "approve"})
    assert r.status_code == 409 and "decided already" in r.content.decode()
    assert ReviewDecisionRecord.objects.count() == 1


def test_chair_cannot_decide_their_own_request_through_the_page(client, cab, people):
    change, item = item_on(cab, people, requester=people["chair"])
    vote_all(item, people)
    c = logged_in(client, people["chair"])
    r = c.post(f"/reviews/meetings/{cab.pk}/items/{item.pk}/decide/", {"decision": "approve"}, **HTMX)
    assert r.status_code == 400
    html = r.content.decode()
    assert "approver-is-not-requester" in html and "is not its requester" in html
    r = c.post(f"/reviews/meetings/{cab.pk}/items/{item.pk}/decide/", {"decision": "approve"})
    assert r.status_code == 400 and "approver-is-not-requester" in r.content.decode()
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED
    assert not ReviewDecisionRecord.objects.exists()


def test_without_quorum_the_page_says_so(client, cab, people):
    change, item = item_on(cab, people)
    r = logged_in(client, people["chair"]).post(
        f"/reviews/meetings/{cab.pk}/items/{item.pk}/decide/", {"decision": "approve"}, **HTMX
    )
    assert r.status_code == 400 and "No quorum" in r.content.decode()


def test_requester_cannot_open_meeting_mode_or_decide(client, cab, people):
    change, item = item_on(cab, people, requester=people["requester"])
    vote_all(item, people)
    c = logged_in(client, people["requester"])
    assert c.get(f"/reviews/meetings/{cab.pk}/mode/{item.pk}/").status_code == 403
    assert c.post(f"/reviews/meetings/{cab.pk}/items/{item.pk}/decide/", {"decision": "approve"}).status_code == 403
    assert (
        c.post(f"/reviews/meetings/{cab.pk}/items/{item.pk}/decide/", {"decision": "approve"}, **HTMX).status_code
        == 403
    )
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED


def test_approval_without_a_review_decision_is_impossible_through_the_page(client, people):
    change = change_in()
    r = logged_in(client, people["chair"]).post(
        f"/changing/changes/{change.pk}/transitions/approve/", {"reason": "just do it"}
    )
    assert r.status_code == 400
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED


def test_approval_without_a_review_decision_is_impossible_through_the_admin(client, people):
    from tests.factories import AdminFactory

    change = change_in()
    admin = AdminFactory(username="root", is_manager=True)
    c = logged_in(client, admin)
    r = c.post(
        "/admin/changes/requestforchange/", {"action": "approve_selected", "_selected_action": [change.pk]}, follow=True
    )
    assert r.status_code == 200
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED
    # No decision can be forged in the admin either.
    assert c.get("/admin/mof/reviewdecisionrecord/add/").status_code == 403
    assert (
        c.post("/admin/mof/reviewdecisionrecord/add/", {"kind": "release_approved", "decision": "approve"}).status_code
        == 403
    )
    meeting = make_meeting(people)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    assert c.get(f"/admin/reviews/meeting/{meeting.pk}/change/").status_code == 200
    assert (
        c.post(f"/admin/reviews/agendaitem/{item.pk}/change/", {"decision": "approve", "state": "decided"}).status_code
        == 403
    )
    assert c.get("/admin/reviews/vote/add/").status_code == 403
    assert AgendaItem.objects.get(pk=item.pk).state == "pending" and not ReviewDecisionRecord.objects.exists()


def test_attendee_votes_from_the_meeting_page(client, cab, people):
    change, item = item_on(cab, people)
    c = logged_in(client, people["rel"])
    page = c.get(f"/reviews/meetings/{cab.pk}/")
    assert page.status_code == 200 and 'name="vote"' in page.content.decode()
    assert "Meeting mode" not in page.content.decode()
    assert c.post(f"/reviews/meetings/{cab.pk}/items/{item.pk}/vote/", {"vote": "approve"}).status_code == 302
    assert item.votes.get().voter == people["rel"]
    assert c.get(f"/reviews/meetings/{cab.pk}/mode/").status_code == 403


def test_add_by_hand_and_refresh_from_the_page(client, people):
    meeting = make_meeting(people, in_session=False)
    manual = change_in(approval_path="change_manager")
    c = logged_in(client, people["chair"])
    assert c.post(f"/reviews/meetings/{meeting.pk}/agenda/add/", {"subject": "CHG-424242"}).status_code == 400
    assert c.post(f"/reviews/meetings/{meeting.pk}/agenda/add/", {"subject": manual.reference}).status_code == 302
    change_in()
    assert c.post(f"/reviews/meetings/{meeting.pk}/agenda/refresh/").status_code == 302
    assert meeting.items.count() == 2


def test_minutes_printable_page(client, cab, people):
    change, item = item_on(cab, people)
    vote_all(item, people)
    services.decide(item_id=item.pk, decision="approve", actor=people["chair"], reason="Fixes the BGP leak")
    perform_transition(model=Meeting, actor=people["chair"], pk=cab.pk, name="close")
    r = logged_in(client, people["rel"]).get(f"/reviews/meetings/{cab.pk}/minutes/")
    html = r.content.decode()
    assert r.status_code == 200 and "@media print" in html and "Fixes the BGP leak" in html and change.reference in html
    assert "approve 3" in html and 'class="draft"' not in html


def unfold(text):
    return text.replace("\r\n ", "")


def test_ics_invitation_is_valid_rfc5545(client, people):
    when = timezone.now().replace(microsecond=0) + dt.timedelta(days=2)
    meeting = make_meeting(people, in_session=False, when=when, location="Room 4.12; building B, floor 4")
    r = logged_in(client, people["rel"]).get(f"/reviews/meetings/{meeting.pk}/invite.ics")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/calendar")
    raw = r.content.decode("utf-8")
    assert raw.endswith("\r\n") and "\n" not in raw.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in raw.split("\r\n"))
    lines = unfold(raw).split("\r\n")[:-1]
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-1] == "END:VCALENDAR" and "VERSION:2.0" in lines
    assert any(line.startswith("PRODID:") for line in lines)
    props = {line.split(":", 1)[0].split(";", 1)[0]: line for line in lines}
    # The same UID as the invitation mailed to the attendees: from MOF_BASE_URL, not the request.
    assert props["UID"] == f"UID:review-meeting-{meeting.pk}@{urlparse(settings.MOF_BASE_URL).hostname}"
    utc = when.astimezone(dt.timezone.utc)
    assert props["DTSTART"] == f"DTSTART:{utc:%Y%m%dT%H%M%SZ}"
    assert props["DTEND"] == f"DTEND:{utc + dt.timedelta(minutes=60):%Y%m%dT%H%M%SZ}"
    assert props["DTSTAMP"].endswith("Z")
    assert props["LOCATION"] == r"LOCATION:Room 4.12\; building B\, floor 4"
    assert props["ORGANIZER"].endswith(f":mailto:{people['chair'].email}")
    attendees = [line for line in lines if line.startswith("ATTENDEE")]
    assert sorted(a.rsplit("mailto:", 1)[1] for a in attendees) == sorted(u.email for u in meeting.attendees.all())


def _agenda(people, meeting, n):
    for _ in range(n):
        change_in()
    TemplateFactory()
    release_in(ReleaseStatus.TESTED, people["chair"])
    return services.agenda_refresh(actor=people["chair"], meeting=meeting)


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        r = client.get(url)
    assert r.status_code == 200
    return len(ctx)


def test_meeting_page_queries_do_not_grow_with_the_agenda(client, people):
    from mof.choices import ReviewKind

    small = make_meeting(people)
    _agenda(people, small, 2)
    c = logged_in(client, people["chair"])
    for item in small.items.all()[:1]:
        services.vote(item=item, voter=people["rel"], vote="approve")
    big = make_meeting(people, when=timezone.now() + dt.timedelta(days=3))
    _agenda(people, big, 200)
    for item in big.items.all()[:50]:
        services.vote(item=item, voter=people["rel"], vote="approve")
    assert big.items.count() == 201
    _count(c, f"/reviews/meetings/{small.pk}/")  # warm caches (content types, sessions)
    small_n = _count(c, f"/reviews/meetings/{small.pk}/")
    big_n = _count(c, f"/reviews/meetings/{big.pk}/")
    assert big_n == small_n, (small_n, big_n)
    assert _count(c, f"/reviews/meetings/{big.pk}/minutes/") == _count(c, f"/reviews/meetings/{small.pk}/minutes/")
    assert ReviewKind.RELEASE_APPROVED == big.kind


def test_reviews_landing_lists_open_meetings(client, people, partner_user):
    meeting = make_meeting(people, in_session=False)
    html = logged_in(client, people["rel"]).get("/reviews/").content.decode()
    assert meeting.reference in html and 'data-list="open-meetings"' in html
    client.logout()
    html = logged_in(client, partner_user).get("/reviews/").content.decode()
    assert meeting.reference not in html
    assert client.get("/reviews/meetings/").status_code == 403
    assert client.get(f"/reviews/meetings/{meeting.pk}/").status_code == 404
