"""Fixtures of the review-meeting tests: a CAB with attendees from several role clusters,
and subjects placed in the states that await each review."""

import datetime as dt

import pytest
from django.utils import timezone

from changes.choices import ApprovalPath, ChangeStatus, ChangeType, ReleaseStatus
from changes.models import Release, RequestForChange
from mof.choices import ReviewKind, RoleCluster
from mof.transitions import perform_transition
from reviews import services
from reviews.models import Meeting
from tests.changes.factories import ChangeFactory
from tests.factories import ManagerFactory, UserFactory


def place(obj, **fields):
    """Put a subject in a lifecycle state for set-up (bypassing transitions)."""
    type(obj).objects.filter(pk=obj.pk).update(**fields)
    return type(obj).objects.get(pk=obj.pk)


def change_in(status=ChangeStatus.ASSESSED, *, approval_path=ApprovalPath.CAB, type=ChangeType.NORMAL, **kwargs):
    change = ChangeFactory(type=type, **kwargs)
    return place(change, status=status, approval_path=approval_path)


@pytest.fixture
def people(db):
    return {
        "chair": ManagerFactory(username="chair", roles=[RoleCluster.OPERATIONS]),
        "deputy": ManagerFactory(username="deputy", roles=[RoleCluster.SECURITY]),
        "rel": UserFactory(username="rel", roles=[RoleCluster.RELEASE]),
        "infra": UserFactory(username="infra-voter", roles=[RoleCluster.INFRASTRUCTURE]),
        "ops": UserFactory(username="ops-voter", roles=[RoleCluster.OPERATIONS]),
        "requester": UserFactory(username="requester", roles=[RoleCluster.RELEASE]),
        "implementer": UserFactory(username="implementer", roles=[RoleCluster.OPERATIONS]),
    }


def make_meeting(people, *, kind=ReviewKind.RELEASE_APPROVED, in_session=True, when=None, **kwargs):
    meeting = services.meeting_create(
        actor=people["chair"],
        kind=kind,
        scheduled_at=when or timezone.now() + dt.timedelta(hours=1),
        attendees=[people["rel"], people["infra"], people["ops"], people["deputy"]],
        **kwargs,
    )
    if in_session:
        meeting = perform_transition(model=Meeting, actor=people["chair"], pk=meeting.pk, name="open")
    return meeting


@pytest.fixture
def cab(people):
    return make_meeting(people)


def vote_all(item, people, value="approve", voters=("rel", "infra", "ops")):
    for name in voters:
        services.vote(item=item, voter=people[name], vote=value)


def release_in(status, manager):
    release = Release.objects.create(name="Exchange CU14", release_manager=manager)
    return place(release, status=status)


__all__ = [
    "ApprovalPath",
    "ChangeStatus",
    "ChangeType",
    "ReleaseStatus",
    "RequestForChange",
    "change_in",
    "make_meeting",
    "place",
    "release_in",
    "vote_all",
]
