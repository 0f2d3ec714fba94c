"""What is committed stays answered as committed: when the Celery broker cannot be reached,
the work queued after the commit (e-mail to the caller and the group, SLA notices, webhook
relays) is logged as not queued, and the request still answers with what it did. The beat
tasks pick it up: the webhook outbox relay, the SLA sweep, and the notification outbox (the
mail was stored with the incident)."""

import logging

import pytest
from kombu.exceptions import OperationalError

from incidents.models import Incident
from mof import tasks
from mof.models import OutgoingMail
from tests.conftest import api_as
from tests.factories import ServiceFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def unreachable(*args, **kwargs):
    raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_filing_answers_201_and_keeps_the_incident_when_the_broker_is_down(
    monkeypatch, django_capture_on_commit_callbacks, caplog
):
    agent = UserFactory(roles=["support"])
    group = TeamFactory(role_cluster="support", members=[agent])
    monkeypatch.setattr(tasks.send_outgoing_mail, "delay", unreachable)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True) as callbacks:
        answer = api_as(agent).post(
            "/api/v1/incidents/",
            {
                "title": "Mail down",
                "description": "No mail since 9:00",
                "service": ServiceFactory().pk,
                "assignment_group": group.pk,
                "impact": 2,
                "urgency": 2,
            },
            format="json",
        )
    assert answer.status_code == 201, answer.content
    assert callbacks  # the notification really was queued after the commit, and failed
    assert Incident.objects.filter(pk=answer.json()["id"]).exists()
    assert "broker unreachable" in caplog.text
    # The group's mail is in the outbox, pending: the periodic relay sends it.
    assert list(OutgoingMail.objects.values_list("to_email", "status")) == [(agent.email, "pending")]
