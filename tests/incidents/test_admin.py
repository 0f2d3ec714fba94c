"""The admin passes the same doors: state read-only, edits through the services, no delete."""

import pytest
from django.urls import reverse

from incidents import services
from incidents.choices import IncidentStatus
from incidents.models import Incident, IncidentNote
from tests.factories import AdminFactory, ServiceFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(db):
    admin_user = AdminFactory(username="root", is_manager=True)
    agent = UserFactory(username="agent", roles=["support"])
    outsider = UserFactory(username="outsider", roles=["support"])
    group = TeamFactory(name="Messaging", role_cluster="support", members=[agent])
    employee = UserFactory(username="employee")
    incident = services.incident_create(actor=agent, caller=employee, title="Mail down", service=ServiceFactory())
    services.incident_note(actor=agent, incident=incident, kind="work_note", body="internal")
    return {"admin": admin_user, "agent": agent, "outsider": outsider, "group": group, "incident": incident}


def _form(incident, **changes):
    data = {
        "title": incident.title,
        "description": incident.description,
        "channel": incident.channel,
        "service": incident.service_id or "",
        "impact": incident.impact,
        "urgency": incident.urgency,
        "category": "",
        "assignment_group": incident.assignment_group_id or "",
        "assignee": incident.assignee_id or "",
        "affected_cis": "",
        "related_incidents": "",
        "related_changes": "",
        "known_error": "",
        "outage_start_0": "",
        "outage_start_1": "",
        "outage_end_0": "",
        "outage_end_1": "",
        "notes-TOTAL_FORMS": 1,
        "notes-INITIAL_FORMS": 1,
        "notes-MIN_NUM_FORMS": 0,
        "notes-MAX_NUM_FORMS": 1000,
        "notes-0-id": IncidentNote.objects.get(incident=incident).pk,
        "notes-0-incident": incident.pk,
    }
    data.update(changes)
    return data


def test_state_and_notes_are_read_only(client, setup):
    client.force_login(setup["admin"])
    incident = setup["incident"]
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "status" not in form.fields and "priority" not in form.fields and "resolution_code" not in form.fields
    assert client.get(reverse("admin:incidents_incident_add")).status_code == 403
    assert (
        client.get(reverse("admin:incidents_incidentnote_change", args=[IncidentNote.objects.get().pk])).context[
            "has_change_permission"
        ]
        is False
    )
    assert (
        client.post(reverse("admin:incidents_incident_delete", args=[incident.pk]), {"post": "yes"}).status_code == 403
    )
    assert Incident.objects.filter(pk=incident.pk).exists()


def test_edits_pass_through_the_service(client, setup):
    client.force_login(setup["admin"])
    incident = setup["incident"]
    url = reverse("admin:incidents_incident_change", args=[incident.pk])
    client.post(url, _form(incident, assignment_group=setup["group"].pk, assignee=setup["outsider"].pk))
    incident.refresh_from_db()
    assert incident.assignee_id is None  # not a member of the group: refused, nothing written
    response = client.post(url, _form(incident, impact=1, urgency=1))
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.priority == 1  # the matrix, through incident_update


def test_transitions_only_as_actions_through_the_lifecycle(client, setup):
    client.force_login(setup["admin"])
    incident = setup["incident"]
    client.post(
        reverse("admin:incidents_incident_changelist"),
        {"action": "start_work_selected", "_selected_action": [incident.pk]},
    )
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.NEW  # no assignee in a group: the condition holds it back
