"""The reviews resource: meetings, agenda, votes, decisions, minutes; errors per DESIGN.md."""

import datetime as dt

import pytest
from django.conf import settings
from django.utils import timezone

from changes.choices import ChangeStatus
from changes.models import RequestForChange
from mof.models import AuditEntry, ReviewDecisionRecord
from reviews.models import AgendaItem, Meeting
from tests.conftest import api_as
from tests.core.test_base_url import links
from tests.reviews.conftest import change_in, make_meeting

pytestmark = pytest.mark.django_db


def url(meeting, rest=""):
    return f"/api/v1/reviews/{meeting.pk}/{rest}"


def test_manager_creates_meeting_and_requester_may_not(people):
    when = (timezone.now() + dt.timedelta(days=2)).isoformat()
    body = {"kind": "release_approved", "scheduled_at": when, "attendees": [people["rel"].pk, people["infra"].pk]}
    r = api_as(people["requester"]).post("/api/v1/reviews/", body, format="json")
    assert r.status_code == 403
    r = api_as(people["chair"]).post("/api/v1/reviews/", body, format="json")
    assert r.status_code == 201, r.json()
    data = r.json()
    assert data["state"] == "planned" and data["chair"] == people["chair"].pk and data["quorum"] == 3
    assert set(data["attendees"]) == {people["chair"].pk, people["rel"].pk, people["infra"].pk}
    bad = api_as(people["chair"]).post(
        "/api/v1/reviews/", {**body, "kind": "operations", "emergency": True}, format="json"
    )
    assert bad.status_code == 400 and "emergency" in bad.json()
    assert Meeting.objects.count() == 1


def test_meeting_transitions_through_the_api(people):
    meeting = make_meeting(people, in_session=False)
    names = [t["name"] for t in api_as(people["chair"]).get(url(meeting, "transitions/")).json()]
    assert "open" in names
    assert api_as(people["requester"]).post(url(meeting, "transitions/open/"), {}, format="json").status_code == 403
    r = api_as(people["chair"]).post(url(meeting, "transitions/open/"), {}, format="json")
    assert r.status_code == 200 and r.json()["state"] == "in_session"
    assert api_as(people["chair"]).post(url(meeting, "transitions/open/"), {}, format="json").status_code == 409
    assert api_as(people["chair"]).post(url(meeting, "transitions/nope/"), {}, format="json").status_code == 404


def test_agenda_votes_and_decision_through_the_api(cab, people, mailoutbox, django_capture_on_commit_callbacks):
    change = change_in(requester=people["requester"])
    chair = api_as(people["chair"])
    refreshed = chair.post(url(cab, "agenda/refresh/"), {}, format="json")
    assert refreshed.status_code == 200 and [i["subject_reference"] for i in refreshed.json()] == [change.reference]
    item_id = refreshed.json()[0]["id"]
    # Without quorum: 400, nothing written.
    r = chair.post(url(cab, f"agenda/{item_id}/decision/"), {"decision": "approve"}, format="json")
    assert r.status_code == 400 and r.json()["rules"] == ["quorum"], r.json()
    for name in ("rel", "infra", "ops"):
        v = api_as(people[name]).post(url(cab, f"agenda/{item_id}/votes/"), {"vote": "approve"}, format="json")
        assert v.status_code == 201, v.json()
    assert (
        api_as(people["implementer"])
        .post(url(cab, f"agenda/{item_id}/votes/"), {"vote": "approve"}, format="json")
        .status_code
        == 403
    )
    assert (
        api_as(people["rel"]).post(url(cab, f"agenda/{item_id}/votes/"), {"vote": "maybe"}, format="json").status_code
        == 400
    )
    # The requester may not decide: 403.
    assert (
        api_as(people["requester"])
        .post(url(cab, f"agenda/{item_id}/decision/"), {"decision": "approve"}, format="json")
        .status_code
        == 403
    )
    with django_capture_on_commit_callbacks(execute=True):
        r = chair.post(
            url(cab, f"agenda/{item_id}/decision/"), {"decision": "approve", "reason": "Fixes the leak"}, format="json"
        )
    assert r.status_code == 200, r.json()
    assert (
        r.json()["state"] == "decided"
        and r.json()["subject_state"] == "approved"
        and r.json()["tally"] == {"approve": 3}
    )
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.APPROVED
    assert [m.to for m in mailoutbox if "approved by" in m.subject] == [[people["requester"].email]]
    again = api_as(people["deputy"]).post(
        url(cab, f"agenda/{item_id}/decision/"), {"decision": "reject"}, format="json"
    )
    assert again.status_code == 409 and "already" in again.json()["detail"]
    assert (
        api_as(people["chair"])
        .post(url(cab, "agenda/999999/decision/"), {"decision": "approve"}, format="json")
        .status_code
        == 404
    )
    # Minutes come from the decisions.
    minutes = chair.get(url(cab, "minutes/")).json()
    assert minutes["items"][0]["decision"] == "approve" and minutes["items"][0]["votes"] == {"approve": 3}


def test_chair_cannot_decide_their_own_request_through_the_api(cab, people):
    change = change_in(requester=people["chair"])
    [item] = api_as(people["chair"]).post(url(cab, "agenda/refresh/"), {}, format="json").json()
    for name in ("rel", "infra", "ops"):
        api_as(people[name]).post(url(cab, f"agenda/{item['id']}/votes/"), {"vote": "approve"}, format="json")
    r = api_as(people["chair"]).post(url(cab, f"agenda/{item['id']}/decision/"), {"decision": "approve"}, format="json")
    assert r.status_code == 400 and r.json()["rules"] == ["approver-is-not-requester"], r.json()
    # Nothing half-written: no decision, item pending, change assessed; the refusal is on record.
    assert not ReviewDecisionRecord.objects.exists()
    assert AgendaItem.objects.get(pk=item["id"]).state == "pending"
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED
    assert AuditEntry.objects.filter(
        action="refused", object_id=str(change.pk), reason__icontains="approver-is-not-requester"
    ).exists()
    # Another manager may.
    r = api_as(people["deputy"]).post(
        url(cab, f"agenda/{item['id']}/decision/"), {"decision": "approve"}, format="json"
    )
    assert r.status_code == 200, r.json()


def test_agenda_add_by_hand_remove_and_bad_input(cab, people):
    change = change_in(requester=people["requester"], approval_path="change_manager")
    chair = api_as(people["chair"])
    assert chair.post(url(cab, "agenda/"), {"subject": "CHG-999999"}, format="json").status_code == 400
    assert chair.post(url(cab, "agenda/"), {"subject": "nonsense"}, format="json").status_code == 400
    assert (
        api_as(people["rel"]).post(url(cab, "agenda/"), {"subject": change.reference}, format="json").status_code == 403
    )
    r = chair.post(url(cab, "agenda/"), {"subject": change.reference}, format="json")
    assert r.status_code == 201 and r.json()["subject_reference"] == change.reference
    assert chair.post(url(cab, "agenda/"), {"subject": change.reference}, format="json").status_code == 400
    item_id = r.json()["id"]
    assert chair.delete(url(cab, f"agenda/{item_id}/")).status_code == 204
    assert not AgendaItem.objects.exists()


def test_approval_without_a_review_decision_is_impossible_through_the_api(people):
    change = change_in(requester=people["requester"])
    r = api_as(people["chair"]).post(
        f"/api/v1/changes/{change.pk}/transitions/approve/", {"reason": "just do it"}, format="json"
    )
    assert r.status_code == 400 and "Release Approved Review" in " ".join(r.json()["reasons"])
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED


def test_publish_agenda_mails_the_attendees(people, mailoutbox, django_capture_on_commit_callbacks):
    meeting = make_meeting(people, in_session=False)
    change_in(requester=people["requester"])
    api_as(people["chair"]).post(url(meeting, "agenda/refresh/"), {}, format="json")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        r = api_as(people["chair"]).post(url(meeting, "publish/"), {}, format="json")
    assert r.status_code == 200 and r.json()["agenda_published_at"]
    assert len(callbacks) == 1
    agenda_mails = [m for m in mailoutbox if m.subject == f"[{meeting.reference}] {meeting.name}: agenda"]
    assert sorted(m.to[0] for m in agenda_mails) == sorted(u.email for u in meeting.attendees.all())
    assert "CHG-" in agenda_mails[0].body
    assert links(agenda_mails[0].body) and all(
        link.startswith(f"{settings.MOF_BASE_URL}/") for link in links(agenda_mails[0].body)
    )
    assert api_as(people["requester"]).post(url(meeting, "publish/"), {}, format="json").status_code == 403


def test_reviews_are_internal(people, partner_user):
    meeting = make_meeting(people)
    assert api_as(partner_user).get(url(meeting)).status_code == 404
    assert (
        api_as(partner_user).get("/api/v1/reviews/").json()["results"] == []
        if "results" in api_as(partner_user).get("/api/v1/reviews/").json()
        else True
    )
    assert api_as(None).get("/api/v1/reviews/").status_code in (401, 403)


def test_publishing_the_agenda_invites_everyone_the_changes_affect(
    people, mailoutbox, django_capture_on_commit_callbacks
):
    from changes.models import ChangeStakeholder
    from tests.factories import UserFactory

    meeting = make_meeting(people, in_session=False)
    change = change_in(requester=people["requester"])
    exchange = UserFactory(username="exchange-owner", email="exchange@example.test")
    ChangeStakeholder.objects.create(change=change, user=exchange, reasons=["owner of service Exchange mail"])
    api_as(people["chair"]).post(url(meeting, "agenda/refresh/"), {}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        api_as(people["chair"]).post(url(meeting, "publish/"), {}, format="json")
    [invitation] = [m for m in mailoutbox if m.to == ["exchange@example.test"]]
    assert (
        invitation.subject == f"[{meeting.reference}] {meeting.name}: you are invited"
        and "owner of service Exchange mail" in invitation.body
    )


def test_an_agenda_item_with_votes_cast_is_not_removed(cab, people):
    from tests.reviews.conftest import vote_all

    change = change_in(requester=people["requester"], approval_path="change_manager")
    chair = api_as(people["chair"])
    item_id = chair.post(url(cab, "agenda/"), {"subject": change.reference}, format="json").json()["id"]
    vote_all(AgendaItem.objects.get(pk=item_id), people, voters=("rel",))
    response = chair.delete(url(cab, f"agenda/{item_id}/"))
    assert (
        response.status_code == 409
        and "1 vote cast" in response.json()["detail"]
        and "defer it instead" in response.json()["detail"]
    )
    assert AgendaItem.objects.filter(pk=item_id).exists() and AgendaItem.objects.get(pk=item_id).votes.count() == 1
