"""Deciding agenda items: quorum, separation of duties, the gate, deferral, emergencies."""
import datetime as dt

import pytest
from django.utils import timezone

from changes.choices import ApprovalPath, ChangeStatus, ChangeType
from changes.models import RequestForChange
from mof.choices import ReviewKind
from mof.models import AuditEntry, ReviewDecisionRecord
from mof.transitions import TransitionBlocked
from reviews import services
from reviews.choices import ItemState
from reviews.models import AgendaItem
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
    assert record.detail["votes"] == 3 and record.detail["emergency"] is False and record.reference.startswith(cab.reference)
    assert AuditEntry.objects.filter(model_label="changes.requestforchange", object_id=str(change.pk), action="transition", transition="approve").count() == 1


def test_decided_twice_is_refused_with_409(cab, people):
    change_in(requester=people["requester"])
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people)
    services.decide(item_id=item.pk, decision="approve", actor=people["chair"])
    with pytest.raises(services.AlreadyDecided, match="decided already"):
        services.decide(item_id=item.pk, decision="reject", actor=people["deputy"])
    assert ReviewDecisionRecord.objects.count() == 1
