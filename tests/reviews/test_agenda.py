"""Agendas fill themselves with what awaits each kind of review; items are added, removed
and deferred by hand; a deferred item rolls to the next meeting of that kind."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from changes.choices import (
    ApprovalPath,
    ChangeStatus,
    ChangeType,
    ReleaseStatus,
    TemplateStatus,
)
from mof.choices import ReviewKind
from mof.transitions import perform_transition
from reviews import services
from reviews.choices import ItemState
from reviews.models import AgendaItem, Meeting
from tests.changes.factories import TemplateFactory
from tests.reviews.conftest import change_in, make_meeting, release_in

pytestmark = pytest.mark.django_db


def subjects(items):
    return {(i.model_label, i.object_id) for i in items}


def key(obj):
    return (obj._meta.label_lower, str(obj.pk))


def test_release_approved_review_takes_cab_changes_and_proposed_templates(people):
    cab_change = change_in(approval_path=ApprovalPath.CAB)
    quorum_change = change_in(approval_path=ApprovalPath.CAB_QUORUM)
    change_in(approval_path=ApprovalPath.CHANGE_MANAGER)  # the change manager decides alone
    emergency = change_in(approval_path=ApprovalPath.EMERGENCY_CAB, type=ChangeType.EMERGENCY)
    change_in(ChangeStatus.SUBMITTED)  # not assessed yet
    template = TemplateFactory()
    TemplateFactory(status=TemplateStatus.APPROVED)
    meeting = make_meeting(people, in_session=False)
    added = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    assert subjects(added) == {key(cab_change), key(quorum_change), key(template)}
    assert [i.position for i in added] == [1, 2, 3]
    # Refreshing again adds nothing; an emergency CAB takes the emergency change only.
    assert services.agenda_refresh(actor=people["chair"], meeting=meeting) == []
    ecab = make_meeting(people, emergency=True)
    assert subjects(services.agenda_refresh(actor=people["chair"], meeting=ecab)) == {key(emergency)}
    assert ecab.quorum == 2 and ecab.quorum_role_clusters == 1


def test_subject_pending_on_another_open_meeting_is_not_taken_twice(people):
    change = change_in()
    first = make_meeting(people, in_session=False)
    second = make_meeting(people, in_session=False, when=timezone.now() + dt.timedelta(days=7))
    assert subjects(services.agenda_refresh(actor=people["chair"], meeting=first)) == {key(change)}
    assert services.agenda_refresh(actor=people["chair"], meeting=second) == []
    with pytest.raises(ValidationError, match="agenda of"):
        services.agenda_add(actor=people["chair"], meeting=second, subject=change)


def test_release_readiness_review_takes_tested_changes_and_releases(people):
    change = change_in(ChangeStatus.TESTED)
    release = release_in(ReleaseStatus.TESTED, people["chair"])
    release_in(ReleaseStatus.BUILT, people["chair"])
    change_in(ChangeStatus.IN_TEST)
    meeting = make_meeting(people, kind=ReviewKind.RELEASE_READINESS, in_session=False)
    assert subjects(services.agenda_refresh(actor=people["chair"], meeting=meeting)) == {key(change), key(release)}


def test_operations_review_takes_implemented_backed_out_and_deployed(people):
    implemented = change_in(ChangeStatus.IMPLEMENTED)
    backed_out = change_in(ChangeStatus.BACKED_OUT)
    template = TemplateFactory(status=TemplateStatus.APPROVED)
    change_in(ChangeStatus.IMPLEMENTED, type=ChangeType.STANDARD, template=template)  # routine: closes when done
    standard_backed_out = change_in(ChangeStatus.BACKED_OUT, type=ChangeType.STANDARD, template=template)
    deployed = release_in(ReleaseStatus.DEPLOYED, people["chair"])
    meeting = make_meeting(people, kind=ReviewKind.OPERATIONS, in_session=False)
    assert subjects(services.agenda_refresh(actor=people["chair"], meeting=meeting)) == {
        key(implemented),
        key(backed_out),
        key(standard_backed_out),
        key(deployed),
    }


def test_sla_review_with_nothing_in_review(people):
    meeting = make_meeting(people, kind=ReviewKind.SLA, in_session=False)
    assert services.agenda_refresh(actor=people["chair"], meeting=meeting) == []


def test_add_by_hand_refuses_a_subject_this_review_does_not_decide(people):
    meeting = make_meeting(people, kind=ReviewKind.RELEASE_READINESS, in_session=False)
    template = TemplateFactory()
    with pytest.raises(ValidationError, match="decides nothing"):
        services.agenda_add(actor=people["chair"], meeting=meeting, subject=template)
    item = services.agenda_add(actor=people["chair"], meeting=meeting, subject=change_in(ChangeStatus.TESTED))
    assert item.added_by_hand and item.added_by == people["chair"]


def test_deferral_rolls_to_the_next_planned_meeting_of_that_kind(people):
    change = change_in()
    now = make_meeting(people)
    make_meeting(people, kind=ReviewKind.OPERATIONS, in_session=False, when=timezone.now() + dt.timedelta(days=1))
    later = make_meeting(people, in_session=False, when=timezone.now() + dt.timedelta(days=14))
    sooner = make_meeting(people, in_session=False, when=timezone.now() + dt.timedelta(days=7))
    [item] = services.agenda_refresh(actor=people["chair"], meeting=now)
    item = services.decide(item_id=item.pk, decision="defer", actor=people["chair"], reason="Needs the network team")
    assert item.state == ItemState.DEFERRED and item.deferred_to.meeting == sooner
    assert not AgendaItem.objects.filter(meeting=later).exists()
    change.refresh_from_db()
    assert change.status == ChangeStatus.ASSESSED  # deferral needs no quorum and moves nothing
    # The rolled item is pending on the next meeting; it can be decided there.
    rolled = AgendaItem.objects.get(meeting=sooner)
    assert rolled.state == ItemState.PENDING and rolled.subject == change


def test_deferral_without_a_next_meeting_leaves_it_for_autofill(people):
    change = change_in()
    now = make_meeting(people)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=now)
    item = services.decide(item_id=item.pk, decision="defer", actor=people["chair"])
    assert item.deferred_to is None
    nxt = make_meeting(people, in_session=False, when=timezone.now() + dt.timedelta(days=7))
    assert subjects(services.agenda_refresh(actor=people["chair"], meeting=nxt)) == {key(change)}


def test_closed_meeting_agenda_is_fixed(people):
    meeting = make_meeting(people)
    perform_transition(model=Meeting, actor=people["chair"], pk=meeting.pk, name="close")
    with pytest.raises(ValidationError):
        services.agenda_refresh(actor=people["chair"], meeting=meeting)


def test_sla_review_activates_an_sla_in_review(people):
    import datetime as _dt

    from slas import services as sla_services
    from slas.models import BusinessCalendar, ServiceLevelAgreement, WorkingInterval
    from tests.reviews.conftest import place, vote_all

    calendar = BusinessCalendar.objects.create(name="24x7 reviews")
    for day in range(7):
        WorkingInterval.objects.create(calendar=calendar, weekday=day, start=_dt.time(0), end=_dt.time(0))
    sla = sla_services.sla_create(
        actor=people["chair"], name="Exchange mail", resolution_seconds=3600, calendar=calendar
    )
    sla = place(sla, status="in_review")
    meeting = make_meeting(people, kind=ReviewKind.SLA)
    [item] = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    assert item.subject == sla
    vote_all(item, people, value="activate")
    services.decide(
        item_id=item.pk, decision="activate", actor=people["chair"], reason="Targets agreed with the business"
    )
    assert ServiceLevelAgreement.objects.get(pk=sla.pk).status == "active"
