"""Action panels: one primary next step, the others secondary, destructive ones apart, red
and confirmed; a reason box only where the transition requires one; a transition whose form
is the page's own (a change's assessment) leads to that form."""

import re

import pytest
from django.urls import reverse

from changes import services as change_services
from changes.models import RequestForChange
from tests.factories import CIFactory, ManagerFactory

pytestmark = pytest.mark.django_db

PLANS = {
    "implementation_plan": "Upgrade firmware.",
    "backout_plan": "Reload the old image.",
    "test_plan": "Ping the core.",
}


def _section(content: str, group: str) -> str:
    """The HTML of one group of the panel (primary, secondary, danger)."""
    match = re.search(rf'<div class="actions-{group}" data-actions="{group}">(.*?)\n  </div>', content, re.DOTALL)
    return match.group(1) if match else ""


@pytest.fixture
def submitted(infra_user):
    change = change_services.change_create(
        actor=infra_user, title="Router firmware 15.2", type="normal", affected_cis=[CIFactory(name="router")], **PLANS
    )
    RequestForChange.objects.filter(pk=change.pk).update(status="submitted")
    return RequestForChange.objects.get(pk=change.pk)


def test_a_submitted_change_offers_assess_as_the_one_primary_step_and_cancel_apart_confirmed(client, submitted):
    client.force_login(ManagerFactory())
    response = client.get(reverse("change_detail", args=[submitted.pk]))
    content = response.content.decode()
    assert response.context["transition_primary"]["option"].name == "assess"
    primary = _section(content, "primary")
    # Assessing is the page's risk form: the primary button leads to it, right under the panel.
    assert 'data-elsewhere="assess"' in primary and 'href="#assess"' in primary and "btn-primary" in primary
    assert content.index('id="transitions-panel"') < content.index('id="assess"') < content.index('id="schedule"')
    danger = _section(content, "danger")
    assert 'data-transition="cancel"' in danger and "hx-confirm=" in danger and "btn-danger" in danger
    assert 'data-transition="cancel"' not in primary + _section(content, "secondary")
    # Cancel needs a reason: its box opens with its button, nowhere else.
    assert content.count('name="reason"') == 1 and 'name="reason"' in danger
    assert "<details" in danger and "</summary>" in danger


def test_a_transition_without_a_required_reason_has_no_reason_box(client, submitted, infra_user):
    RequestForChange.objects.filter(pk=submitted.pk).update(status="in_development", developer=infra_user)
    client.force_login(infra_user)
    content = client.get(reverse("change_detail", args=[submitted.pk])).content.decode()
    primary = _section(content, "primary")
    assert 'data-transition="hand_over_to_test"' in primary
    assert "<textarea" not in primary and "<details" not in primary  # one click, no reason asked


def test_an_optional_note_is_folded_not_offered_as_a_reason_box(client):
    from tests.incidents.factories import IncidentFactory

    manager = ManagerFactory()
    incident = IncidentFactory(assignee=manager, status="in_progress")
    client.force_login(manager)
    content = client.get(incident.get_absolute_url()).content.decode()
    hold = re.search(r'<form[^>]*data-transition="hold".*?</form>', content, re.DOTALL).group(0)
    assert 'name="hold_reason"' in hold
    assert re.search(r'<details class="optional-fields">.*name="reason".*</details>', hold, re.DOTALL)


def test_a_workflow_declares_its_primary_step_per_state(client):
    """An incident in progress: Resolve is the next step (not Put on hold, declared first);
    once resolved, Close is (not Reopen); Cancel is always apart."""
    from incidents.models import Incident
    from tests.incidents.factories import IncidentFactory

    manager = ManagerFactory()
    incident = IncidentFactory(assignee=manager, status="in_progress")
    client.force_login(manager)
    response = client.get(incident.get_absolute_url())
    assert response.context["transition_primary"]["option"].name == "resolve"
    assert [o["option"].name for o in response.context["transition_danger"]] == ["cancel"]
    Incident.objects.filter(pk=incident.pk).update(status="resolved", resolved_at=incident.created_at)
    response = client.get(incident.get_absolute_url())
    assert response.context["transition_primary"]["option"].name == "close"
