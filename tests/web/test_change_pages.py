"""Changing quadrant pages: requests for change, releases and templates, through the
same generic transition view as the CMDB."""

import pytest
from django.urls import reverse

from changes import services as change_services
from mof.models import AuditEntry
from tests.factories import CIFactory, RelationshipFactory, ServiceFactory

pytestmark = pytest.mark.django_db

PLANS = {
    "implementation_plan": "Upgrade firmware.",
    "backout_plan": "Reload the old image.",
    "test_plan": "Ping the core.",
}


@pytest.fixture
def change(infra_user):
    router = CIFactory(name="router")
    hub = CIFactory(name="hub transport", services=[ServiceFactory(name="Exchange mail", criticality="critical")])
    RelationshipFactory(source=hub, target=router)
    return change_services.change_create(
        actor=infra_user, title="Router firmware 15.2", type="normal", affected_cis=[router]
    )


def test_change_list_and_detail(client, infra_user, change):
    client.force_login(infra_user)
    content = client.get(reverse("change_list")).content.decode()
    assert change.reference in content and "Router firmware 15.2" in content
    assert change.reference in client.get(reverse("change_list"), {"q": change.reference}).content.decode()
    content = client.get(reverse("change_detail", args=[change.pk])).content.decode()
    assert "Router firmware 15.2" in content and "router" in content
    assert 'data-transition="submit"' in content and "needs the implementation" in content
    assert 'data-transition="pre_approve"' not in content  # automatic: fired by the system, never a button


def test_change_invisible_to_an_employee_is_404(client, employee, change):
    client.force_login(employee)
    assert client.get(reverse("change_detail", args=[change.pk])).status_code == 404
    assert client.post(reverse("change_transition", args=[change.pk, "submit"])).status_code == 404
    assert change.reference not in client.get(reverse("change_list")).content.decode()


def test_change_transition_blocked_then_ok(client, infra_user, change):
    client.force_login(infra_user)
    response = client.post(reverse("change_transition", args=[change.pk, "submit"]))
    assert response.status_code == 400
    assert "Submitting needs the implementation, backout and test plans." in response.content.decode()
    change_services.change_update(actor=infra_user, change=change, **PLANS)
    response = client.post(reverse("change_transition", args=[change.pk, "submit"]))
    assert response.status_code == 302 and response["Location"] == change.get_absolute_url()
    change.refresh_from_db()
    assert change.status == "submitted"
    assert AuditEntry.objects.filter(
        model_label="changes.requestforchange", object_id=str(change.pk), transition="submit"
    ).exists()
    response = client.post(reverse("change_transition", args=[change.pk, "submit"]))
    assert response.status_code == 409


def test_change_transition_refused_is_403(client, support_user, infra_user, change):
    change_services.change_update(actor=infra_user, change=change, **PLANS)
    client.force_login(support_user)
    assert client.post(reverse("change_transition", args=[change.pk, "submit"])).status_code == 403


@pytest.mark.parametrize("url_name", ["change_list", "release_list", "change_template_list"])
@pytest.mark.parametrize("who", ["manager", "infra_user", "partner_user", "employee"])
def test_change_lists_render(client, request, url_name, who):
    client.force_login(request.getfixturevalue(who))
    assert client.get(reverse(url_name)).status_code == 200


def test_changing_landing_links_change_pages(client, infra_user):
    client.force_login(infra_user)
    content = client.get(reverse("changing")).content.decode()
    for name in ("change_list", "change_template_list", "release_list"):
        assert reverse(name) in content


def test_release_and_template_detail(client, manager, infra_user):
    from changes.models import Release, StandardChangeTemplate

    release = Release.objects.create(name="Exchange SP3 rollout", release_manager=manager)
    template = StandardChangeTemplate.objects.create(name="Add a mailbox database", owner=manager, **PLANS)
    client.force_login(infra_user)
    content = client.get(reverse("release_detail", args=[release.pk])).content.decode()
    assert "Exchange SP3 rollout" in content and 'id="transitions-panel"' in content
    content = client.get(reverse("change_template_detail", args=[template.pk])).content.decode()
    assert "Add a mailbox database" in content
    client.force_login(manager)
    content = client.get(reverse("change_template_detail", args=[template.pk])).content.decode()
    assert 'data-transition="approve"' in content


def test_operations_windows_and_freeze_transition(client, manager, infra_user, employee):
    from datetime import timedelta

    from django.utils import timezone

    from operations.models import FreezeWindow

    now = timezone.now()
    freeze = FreezeWindow.objects.create(
        name="Year-end freeze", start=now, end=now + timedelta(days=7), proposed_by=infra_user
    )
    client.force_login(employee)
    assert "Year-end freeze" not in client.get(reverse("operations_windows")).content.decode()
    assert client.get(reverse("freeze_detail", args=[freeze.pk])).status_code == 404
    client.force_login(infra_user)
    assert "Year-end freeze" in client.get(reverse("operations_windows")).content.decode()
    assert client.post(reverse("freeze_transition", args=[freeze.pk, "approve"])).status_code == 403
    client.force_login(manager)
    assert reverse("operations_windows") in client.get(reverse("operating")).content.decode()
    response = client.post(reverse("freeze_transition", args=[freeze.pk, "approve"]))
    assert response.status_code == 302 and response["Location"] == reverse("freeze_detail", args=[freeze.pk])
    freeze.refresh_from_db()
    assert freeze.status == "approved"
    assert "change freezes in force" in client.get(reverse("operating")).content.decode()


def test_partner_party_to_a_change_sees_no_cmdb_paths(client, infra_user, partner_user, change):
    from changes.models import RequestForChange

    change_services.change_analyse_impact(actor=infra_user, change=change)
    RequestForChange.objects.filter(pk=change.pk).update(implementer=partner_user)
    client.force_login(partner_user)
    content = client.get(reverse("change_detail", args=[change.pk])).content.decode()
    assert "Exchange mail" in content
    assert "hub transport" not in content
    client.force_login(infra_user)
    assert (
        "router → hub transport → Exchange mail"
        in client.get(reverse("change_detail", args=[change.pk])).content.decode()
    )


def test_reviews_show_what_waits_at_each_milestone(client, infra_user, employee, change):
    from changes.models import RequestForChange

    RequestForChange.objects.filter(pk=change.pk).update(status="assessed")
    client.force_login(infra_user)
    content = client.get(reverse("reviews")).content.decode()
    assert "1 requests for change assessed" in content
    home = client.get(reverse("home")).content.decode()
    assert "1 waiting" in home
    client.force_login(employee)
    assert "1 requests for change assessed" not in client.get(reverse("reviews")).content.decode()
