"""Who hears of an SLA warning or breach when the ticket has nobody of its own: no assignee, the
assignment group; no group, the SLA's owner; no reachable owner, the service desk's managers.
A notification nobody can receive is flagged failed and logged, never counted as sent."""

import datetime as dt
import logging

import pytest

from incidents import services as desk
from mof.models import OutgoingMail, User
from slas import services
from slas.models import ClockNotification, ServiceLevelAgreement, SLAStatus
from tests.factories import ManagerFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
T = dt.time
HOUR = 3600


@pytest.fixture
def world(db):
    owner = ManagerFactory(username="sla-owner", email="owner@example.test")
    agent = UserFactory(username="agent", email="agent@example.test", roles=["support"])
    filer = UserFactory(username="filer", email="", roles=["support"])  # files the incidents, hears nothing
    always = services.calendar_save(
        actor=owner, name="24x7", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    p1 = services.sla_create(actor=owner, name="P1 mail", priorities=[1], resolution_seconds=4 * HOUR, calendar=always)
    ServiceLevelAgreement.objects.filter(pk=p1.pk).update(status=SLAStatus.ACTIVE)
    return {"owner": owner, "agent": agent, "filer": filer, "p1": p1}


def warned(world, mailoutbox, django_capture_on_commit_callbacks, **fields) -> set:
    """File a P1 incident, sweep past 50 % of its resolution target: who got the warning."""
    incident = desk.incident_create(actor=world["filer"], title="Mail down", impact=1, urgency=1, **fields)
    with django_capture_on_commit_callbacks(execute=True):
        services.sweep(now=incident.created_at + dt.timedelta(hours=2, minutes=1))
    return {address for m in mailoutbox if "SLA warning" in m.subject for address in m.to}


def test_with_an_assignee_the_assignee_and_the_group_are_warned(world, mailoutbox, django_capture_on_commit_callbacks):
    colleague = UserFactory(email="colleague@example.test", roles=["support"])
    group = TeamFactory(members=[world["agent"], colleague])
    assert warned(
        world, mailoutbox, django_capture_on_commit_callbacks, assignment_group=group, assignee=world["agent"]
    ) == {"agent@example.test", "colleague@example.test"}


def test_without_an_assignee_the_assignment_group_is_warned(world, mailoutbox, django_capture_on_commit_callbacks):
    group = TeamFactory(members=[world["agent"]])
    assert warned(world, mailoutbox, django_capture_on_commit_callbacks, assignment_group=group) == {
        "agent@example.test"
    }


def test_without_a_group_the_slas_owner_is_warned(world, mailoutbox, django_capture_on_commit_callbacks):
    assert warned(world, mailoutbox, django_capture_on_commit_callbacks) == {"owner@example.test"}


def test_with_a_group_of_nobody_reachable_the_slas_owner_is_warned(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    group = TeamFactory(members=[UserFactory(email="", roles=["support"])])
    assert warned(world, mailoutbox, django_capture_on_commit_callbacks, assignment_group=group) == {
        "owner@example.test"
    }


def test_without_a_reachable_owner_the_service_desk_managers_are_warned(
    world, mailoutbox, django_capture_on_commit_callbacks
):
    User.objects.filter(pk=world["owner"].pk).update(is_active=False)
    ManagerFactory(username="desk-manager", email="desk-manager@example.test", roles=["support"])
    ManagerFactory(
        username="infra-manager", email="infra-manager@example.test", roles=["infrastructure"]
    )  # not the service desk
    assert warned(world, mailoutbox, django_capture_on_commit_callbacks) == {"desk-manager@example.test"}


def test_a_breach_with_no_group_manager_goes_to_the_group(world, mailoutbox, django_capture_on_commit_callbacks):
    group = TeamFactory(members=[world["agent"]])  # no manager
    incident = desk.incident_create(
        actor=world["filer"], title="Mail down", impact=1, urgency=1, assignment_group=group, assignee=world["agent"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.sweep(now=incident.created_at + dt.timedelta(hours=5))
    assert {a for m in mailoutbox if "SLA breached" in m.subject for a in m.to} == {"agent@example.test"}


def test_a_notification_nobody_can_receive_is_flagged_and_logged_never_marked_sent(
    world, mailoutbox, django_capture_on_commit_callbacks, caplog
):
    User.objects.filter(pk=world["owner"].pk).update(email="")
    with caplog.at_level(logging.ERROR, logger="mof.slas"):
        assert warned(world, mailoutbox, django_capture_on_commit_callbacks) == set()
    notification = ClockNotification.objects.get()
    assert notification.sent_at is None and notification.failed_at is not None and "No recipient" in notification.error
    assert "No recipient" in caplog.text
    assert not OutgoingMail.objects.exists()
    # A later sweep does not take a flagged notification for one a dead worker left behind.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.sweep(now=notification.created_at + dt.timedelta(minutes=10))
    assert ClockNotification.objects.get().sent_at is None and not OutgoingMail.objects.exists()
    assert services.notify_clock(notification.pk) == 0  # and a stray task does nothing
    assert callbacks is not None


def test_sla_mail_links_start_with_the_base_url(world, mailoutbox, django_capture_on_commit_callbacks, settings):
    from tests.core.test_base_url import links

    settings.MOF_BASE_URL = "https://portal.example.test/mof"
    warned(world, mailoutbox, django_capture_on_commit_callbacks)
    [mail] = [m for m in mailoutbox if "SLA warning" in m.subject]
    assert links(mail.body) and all(link.startswith("https://portal.example.test/mof/") for link in links(mail.body))
