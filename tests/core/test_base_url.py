"""MOF_BASE_URL: defined from the environment, checked, required with DEBUG off, and the start of
every link in a mail and in a webhook body (mof.links.absolute_url)."""

import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from incidents import services as desk
from integrations import outbox
from integrations.services import disabled_notice_mail
from mof.checks import base_url_check
from mof.config import base_url, require_base_url
from mof.links import absolute_url
from mof.models import ConfigurationItem, OutgoingMail
from mof.transitions import perform_transition
from tests.factories import CIFactory, ManagerFactory, TeamFactory, UserFactory

BASE = "https://portal.example.test/mof"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("https://portal.example.com", "https://portal.example.com"),
        ("https://portal.example.com/", "https://portal.example.com"),
        ("http://10.0.0.5:8080/itsm/", "http://10.0.0.5:8080/itsm"),
        ("  https://portal.example.com  ", "https://portal.example.com"),
    ],
)
def test_a_base_url_is_an_absolute_http_url_with_an_optional_prefix(value, expected):
    assert base_url(value, debug=False) == expected


@pytest.mark.parametrize(
    "value",
    [
        "portal.example.com",
        "/mof",
        "ftp://portal.example.com",
        "https://",
        "https://portal.example.com/?next=1",
        "https://portal.example.com/#top",
        "https://user:secret@portal.example.com",
        "https://portal.example.com:port",
    ],
)
def test_a_malformed_base_url_is_refused(value):
    with pytest.raises(ImproperlyConfigured, match="MOF_BASE_URL"):
        base_url(value, debug=True)


def test_unset_it_defaults_to_the_development_server_with_debug_on_and_is_empty_otherwise():
    assert base_url("", debug=True) == "http://127.0.0.1:8000"
    assert base_url("", debug=False) == ""


def test_debug_off_without_a_base_url_fails_the_deploy_check_and_start_up(settings):
    settings.DEBUG = False
    settings.MOF_BASE_URL = ""
    assert [e.id for e in base_url_check(None)] == ["mof.E001"]
    with pytest.raises(ImproperlyConfigured, match="MOF_BASE_URL must be set"):
        require_base_url()
    settings.MOF_BASE_URL = "https://portal.example.com"
    assert base_url_check(None) == []
    require_base_url()


def test_absolute_url_joins_base_and_path_with_one_slash(settings):
    settings.MOF_BASE_URL = BASE
    assert absolute_url("/supporting/incidents/5/") == f"{BASE}/supporting/incidents/5/"
    assert absolute_url("supporting/") == f"{BASE}/supporting/"
    assert absolute_url("") == ""


LINK = re.compile(r"(?:https?://|(?<![\w.])/)[^\s'\"()]+")


def links(text: str) -> list[str]:
    """Anything that looks like a URL or a site path in a text."""
    return [m for m in LINK.findall(text) if not m.startswith("//")]


@pytest.mark.django_db
def test_every_mail_and_webhook_link_starts_with_the_base_url(settings, django_capture_on_commit_callbacks):
    settings.MOF_BASE_URL = BASE
    manager = ManagerFactory(username="boss", email="boss@example.test")
    agent = UserFactory(username="agent", email="agent@example.test", roles=["support"])
    caller = UserFactory(username="caller", email="caller@example.test")
    group = TeamFactory(members=[agent], manager=manager, role_cluster="support")
    with django_capture_on_commit_callbacks(execute=True):
        incident = desk.incident_create(
            actor=agent, caller=caller, title="Mail down", assignment_group=group
        )  # the group's mail
        desk.incident_assign(actor=agent, incident=incident, assignment_group=group, assignee=agent)  # the caller's
        desk.incident_note(actor=agent, incident=incident, kind="comment", body="Looking into it")
        desk.incident_escalate(actor=agent, incident=incident, reason="Needs a decision")
        incident = desk.incident_declare_major(actor=manager, incident=incident, major_incident_manager=manager)
        desk.major_incident_communicate(
            actor=manager, incident=incident, body="Mail is down for all.", recipients=["all@example.test"]
        )
        perform_transition(
            model=type(incident),
            pk=incident.pk,
            name="resolve",
            actor=agent,
            data={"resolution_code": "workaround", "resolution_notes": "Restarted the queue"},
        )
        ci = CIFactory(name="EX-MBX-01", owner=UserFactory(username="ci-owner", email="ci-owner@example.test"))
        perform_transition(model=ConfigurationItem, pk=ci.pk, name="commission", actor=manager)
    from tests.integrations.factories import SubscriptionFactory

    subscription = SubscriptionFactory(owner=manager, disabled_reason="Receiver gone")
    disabled_notice_mail(subscription)

    mails = list(OutgoingMail.objects.all())
    kinds = {m.kind for m in mails}
    assert {
        "incidents.landed_in_queue",
        "incidents.assigned",
        "incidents.commented",
        "incidents.escalated",
        "incidents.major_update",
        "incidents.resolved",
        "mof.configurationitem.commission",
        "integrations.subscription_disabled",
    } <= kinds, kinds
    for mail in mails:
        found = [
            link for link in links(mail.body) if not link.startswith(subscription.url)
        ]  # the receiver's own address
        assert found, f"{mail.kind}: no link in {mail.body!r}"
        assert all(link.startswith(BASE + "/") for link in found), f"{mail.kind}: {found}"

    body = outbox.build("incident.created", {}, subject=incident).body
    assert body["object"]["url"] == f"{BASE}{incident.get_absolute_url()}"
