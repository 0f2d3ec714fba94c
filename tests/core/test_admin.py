"""The admin passes the same doors: read-only state, read-only audit, policy permissions."""

import pytest

from mof.choices import CIStatus
from mof.models import AuditEntry, ConfigurationItem
from tests.factories import CIFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_manager(db):
    return UserFactory(username="boss", is_manager=True, is_staff=True)


def test_audit_entries_cannot_be_changed_or_deleted_in_the_admin(admin_client):
    ServiceFactory()
    entry = AuditEntry.objects.first()
    page = admin_client.get(f"/admin/mof/auditentry/{entry.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.post(f"/admin/mof/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.post(f"/admin/mof/auditentry/{entry.pk}/change/", {"reason": "forged"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk, reason="").exists()


def test_ci_state_is_read_only_in_the_admin(admin_client):
    ci = CIFactory()
    page = admin_client.get(f"/admin/mof/configurationitem/{ci.pk}/change/")
    assert page.status_code == 200
    assert b'name="status"' not in page.content


def test_admin_transition_action_goes_through_the_service(client, staff_manager):
    client.force_login(staff_manager)
    with_owner = CIFactory(owner=staff_manager)
    without_owner = CIFactory(owner=None)
    response = client.post(
        "/admin/mof/configurationitem/",
        {"action": "commission_selected", "_selected_action": [with_owner.pk, without_owner.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert ConfigurationItem.objects.get(pk=with_owner.pk).status == CIStatus.IN_SERVICE
    assert ConfigurationItem.objects.get(pk=without_owner.pk).status == CIStatus.PLANNED  # its condition held
    entry = AuditEntry.objects.get(transition="commission")
    assert entry.actor_name == "boss"


def test_admin_writes_are_attributed_to_the_admin_user(client, staff_manager):
    client.force_login(staff_manager)
    service = ServiceFactory(name="OWA")
    response = client.post(
        f"/admin/mof/service/{service.pk}/change/",
        {"name": "Outlook Web Access", "criticality": "high", "hours_of_service": "", "description": ""},
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(model_label="mof.service", action="update").latest("id")
    assert entry.actor_name == "boss" and entry.via == "admin"
    assert entry.changes["name"] == ["OWA", "Outlook Web Access"]


def test_staff_without_the_role_cannot_provision_users_in_the_admin(client, staff_manager):
    client.force_login(staff_manager)
    assert client.get("/admin/mof/user/").status_code == 403
