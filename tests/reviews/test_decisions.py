"""Deciding agenda items: quorum, separation of duties, the gate, deferral, emergencies."""

import pytest

from changes.choices import ApprovalPath, ChangeStatus, ChangeType
from mof.choices import ReviewKind
from mof.models import AuditEntry, ReviewDecisionRecord
from mof.transitions import TransitionBlocked, perform_transition
from reviews import services
from reviews.choices import ItemState
from reviews.models import AgendaItem, Meeting
from tests.reviews.conftest import change_in, make_meeting, vote_all

pytestmark = pytest.mark.django_db


def test_cab_approves_a_change_through_the_gate(cab, people):
    change = change_in(requester=people["requester"])
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people)
    item = services.decide(item_id=item.pk, decision="approve", actor=people["chair"], reason="Worth it")
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED and change.approved_by == people["chair"]
    assert item.state == ItemState.DECIDED and item.decision == "approve"
    record = ReviewDecisionRecord.objects.get(model_label="changes.requestforchange", object_id=str(change.pk))
    assert (
        record.detail["votes"] == 3
        and record.detail["emergency"] is False
        and record.reference.startswith(cab.reference)
    )
    assert (
        AuditEntry.objects.filter(
            model_label="changes.requestforchange", object_id=str(change.pk), action="transition", transition="approve"
        ).count()
        == 1
    )


def test_decided_twice_is_refused_with_409(cab, people):
    change_in(requester=people["requester"])
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people)
    services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    with pytest.raises(services.AlreadyDecided, match="decided already"):
        services.decide(item_id=item.pk, decision="reject", actor=people["deputy"])
    assert ReviewDecisionRecord.objects.count() == 1


def test_quorum_counts_votes(cab, people):
    change_in()
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people, voters=("rel", "infra"))
    with pytest.raises(TransitionBlocked, match="2 of the 3 votes") as exc:
        services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    assert exc.value.rules == ["quorum"]
    assert not ReviewDecisionRecord.objects.exists()


def test_quorum_needs_two_role_clusters(cab, people):
    from tests.factories import UserFactory

    change_in()
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    same = [UserFactory(username=f"rel{n}", roles=["release"]) for n in range(3)]
    cab.attendees.add(*same)
    for user in same:
        services.vote(item=item, voter=user, vote="approve")
    with pytest.raises(TransitionBlocked, match="1 role cluster"):
        services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    services.vote(item=item, voter=people["infra"], vote="approve")
    assert services.decide(item_id=item.pk, decision="approve", actor=people["chair"]).state == ItemState.DECIDED


def test_critical_change_needs_managers_voting(cab, people, settings):
    from tests.factories import ManagerFactory

    settings.MOF_CAB_QUORUM_MANAGERS = 2
    change = change_in(approval_path=ApprovalPath.CAB_QUORUM)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people)  # three votes, three clusters, no manager
    with pytest.raises(TransitionBlocked, match="needs 2 managers voting, 0 did") as exc:
        services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    assert exc.value.rules == ["quorum-managers"]
    assert not ReviewDecisionRecord.objects.exists() and AgendaItem.objects.get(pk=item.pk).state == ItemState.PENDING
    services.vote(item=item, voter=people["deputy"], vote="approve")
    other = ManagerFactory(username="third-manager", roles=["support"])
    cab.attendees.add(other)
    services.vote(item=item, voter=other, vote="approve")
    services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED
    assert ReviewDecisionRecord.objects.get().detail["managers_voting"] == 2


def test_chair_cannot_decide_their_own_request(cab, people):
    change = change_in(requester=people["chair"])
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people)
    with pytest.raises(TransitionBlocked) as exc:
        services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    assert exc.value.rules == ["approver-is-not-requester"]
    with pytest.raises(TransitionBlocked):
        services.decide(item_id=item.pk, decision="reject", actor=people["chair"])
    change.refresh_from_db()
    assert change.status == ChangeStatus.ASSESSED and not ReviewDecisionRecord.objects.exists()
    assert AuditEntry.objects.filter(action="refused", object_id=str(change.pk)).count() == 2


def test_requester_does_not_vote_on_their_own_request(cab, people):
    change_in(requester=people["rel"])
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    with pytest.raises(TransitionBlocked, match="requester does not vote"):
        services.vote(item=item, voter=people["rel"], vote="approve")


def test_decisions_only_in_session(people):
    change_in()
    meeting = make_meeting(people, in_session=False)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    with pytest.raises(services.MeetingNotInSession):
        services.vote(item=item, voter=people["rel"], vote="approve")
    with pytest.raises(services.MeetingNotInSession):
        services.decide(item_id=item.pk, decision="approve", actor=people["chair"])


def test_emergency_cab_approves_an_emergency_change(people):
    change = change_in(
        approval_path=ApprovalPath.EMERGENCY_CAB, type=ChangeType.EMERGENCY, requester=people["requester"]
    )
    meeting = services.emergency_cab_convene(actor=people["chair"], attendees=[people["infra"], people["ops"]])
    assert meeting.state == "in_session" and meeting.emergency
    [item] = meeting.items.all()
    vote_all(item, people, voters=("infra", "ops"))
    services.decide(item_id=item.pk, decision="approve", actor=people["chair"], reason="Outage")
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED
    assert ReviewDecisionRecord.objects.get().detail["emergency"] is True


def test_normal_meeting_cannot_approve_an_emergency_change(cab, people):
    change = change_in(approval_path=ApprovalPath.EMERGENCY_CAB, type=ChangeType.EMERGENCY)
    assert services.agenda_refresh(actor=people["chair"], meeting=cab) == []
    item = services.agenda_add(actor=people["chair"], meeting=cab, subject=change)
    vote_all(item, people)
    with pytest.raises(TransitionBlocked, match="Release Approved Review"):
        services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    change.refresh_from_db()
    assert change.status == ChangeStatus.ASSESSED and not ReviewDecisionRecord.objects.exists()


def test_go_makes_a_change_ready_and_tells_the_implementer(people, mailoutbox, django_capture_on_commit_callbacks):
    from reviews.choices import ItemState as S

    change = change_in(ChangeStatus.TESTED, implementer=people["implementer"], requester=people["requester"])
    meeting = make_meeting(people, kind=ReviewKind.RELEASE_READINESS)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    vote_all(item, people, value="go")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.decide(item_id=item.pk, decision="go", actor=people["chair"]).state == S.DECIDED
    change.refresh_from_db()
    assert change.status == ChangeStatus.READY
    ready = [m for m in mailoutbox if "ready for deployment" in m.subject]
    assert [m.to for m in ready] == [[people["implementer"].email]]


def test_no_go_and_follow_up_are_recorded_and_move_nothing(people):
    change = change_in(ChangeStatus.TESTED)
    meeting = make_meeting(people, kind=ReviewKind.RELEASE_READINESS)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    vote_all(item, people, value="no_go")
    services.decide(item_id=item.pk, decision="no_go", actor=people["chair"], reason="Test evidence thin")
    change.refresh_from_db()
    assert change.status == ChangeStatus.TESTED
    assert ReviewDecisionRecord.objects.get().decision == "no_go"
    implemented = change_in(ChangeStatus.IMPLEMENTED)
    ops = make_meeting(people, kind=ReviewKind.OPERATIONS)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=ops)
    vote_all(item, people, value="follow_up")
    services.decide(item_id=item.pk, decision="follow_up", actor=people["chair"])
    implemented.refresh_from_db()
    assert implemented.status == ChangeStatus.IMPLEMENTED


def test_accept_closes_an_implemented_change(people):
    change = change_in(ChangeStatus.BACKED_OUT)
    ops = make_meeting(people, kind=ReviewKind.OPERATIONS)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=ops)
    vote_all(item, people, value="accept")
    services.decide(item_id=item.pk, decision="accept", actor=people["chair"], reason="Root cause known")
    change.refresh_from_db()
    assert change.status == ChangeStatus.CLOSED


def test_reject_tells_the_requester(cab, people, mailoutbox, django_capture_on_commit_callbacks):
    change = change_in(requester=people["requester"])
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people, value="reject")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.decide(
            item_id=item.pk, decision="reject", actor=people["chair"], reason="Too risky before quarter end"
        )
    assert callbacks
    change.refresh_from_db()
    assert change.status == ChangeStatus.REJECTED
    [mail] = [m for m in mailoutbox if "rejected by" in m.subject]
    assert mail.to == [people["requester"].email] and "Too risky" in mail.body


def test_no_mail_is_sent_inside_the_transaction(cab, people, mailoutbox, django_capture_on_commit_callbacks):
    change_in(requester=people["requester"])
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    assert mailoutbox == [] and callbacks


def test_unknown_decision_is_refused(cab, people):
    from django.core.exceptions import ValidationError

    change_in()
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    with pytest.raises(ValidationError, match="approve, reject, defer"):
        services.decide(item_id=item.pk, decision="go", actor=people["chair"])


def test_template_approved_at_the_cab(cab, people):
    from changes.choices import TemplateStatus
    from tests.changes.factories import TemplateFactory

    template = TemplateFactory()
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people)
    services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    template.refresh_from_db()
    assert template.status == TemplateStatus.APPROVED


def test_meeting_closes_once_every_item_is_settled(cab, people):
    change_in()
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    with pytest.raises(TransitionBlocked, match="every agenda item"):
        perform_transition(model=Meeting, actor=people["chair"], pk=cab.pk, name="close")
    services.decide(item_id=item.pk, decision="defer", actor=people["chair"])
    assert perform_transition(model=Meeting, actor=people["chair"], pk=cab.pk, name="close").state == "closed"


def test_the_gate_itself_holds_the_managers_quorum(cab, people, settings):
    """Even a decision recorded with too few managers does not move a critical change."""
    from mof import review_gate

    settings.MOF_CAB_QUORUM_MANAGERS = 2
    change = change_in(approval_path=ApprovalPath.CAB_QUORUM)
    with pytest.raises(TransitionBlocked, match="quorum its risk requires"):
        review_gate.record_decision(
            kind=ReviewKind.RELEASE_APPROVED,
            subject=change,
            decision="approve",
            actor=people["chair"],
            fire="approve",
            detail={"managers_voting": 1},
        )
    change.refresh_from_db()
    assert change.status == ChangeStatus.ASSESSED


def test_a_rejected_template_is_retired(cab, people):
    from changes.choices import TemplateStatus
    from tests.changes.factories import TemplateFactory

    template = TemplateFactory()
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people, value="reject")
    services.decide(item_id=item.pk, decision="reject", actor=people["chair"], reason="Not routine")
    template.refresh_from_db()
    assert template.status == TemplateStatus.RETIRED
