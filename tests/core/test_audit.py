import pytest
from django.db import connection

from mof import audit, services
from mof.models import AuditEntry, ConfigurationItem, Service
from tests.factories import CIFactory, ServiceFactory, UserFactory, ci_class

pytestmark = pytest.mark.django_db


def entries_for(obj):
    return list(AuditEntry.objects.filter(model_label=obj._meta.label_lower, object_id=str(obj.pk)).order_by("id"))


def test_create_update_delete_are_recorded_with_actor_and_field_changes(manager):
    service = services.service_create(actor=manager, name="Exchange mail", criticality="critical")
    services.service_update(actor=manager, service=service, criticality="high")
    pk = service.pk
    services.service_delete(actor=manager, service=service)
    actions = [
        (e.action, e.actor_name)
        for e in AuditEntry.objects.filter(model_label="mof.service", object_id=str(pk)).order_by("id")
    ]
    assert actions == [("create", "manager"), ("update", "manager"), ("delete", "manager")]
    update = AuditEntry.objects.get(model_label="mof.service", object_id=str(pk), action="update")
    assert update.changes["criticality"] == ["critical", "high"]


def test_queryset_update_bypassing_save_is_recorded():
    cis = CIFactory.create_batch(3)
    with audit.acting_as(None, via="task:recompute"):
        ConfigurationItem.objects.filter(pk__in=[c.pk for c in cis]).update(description="patched in bulk")
    for ci in cis:
        last = entries_for(ci)[-1]
        assert last.action == "update"
        assert last.via == "task:recompute"
        assert last.changes["description"] == ["", "patched in bulk"]


def test_bulk_create_and_bulk_update_are_recorded():
    server = ci_class()
    created = ConfigurationItem.objects.bulk_create(
        [ConfigurationItem(name=f"bulk-{i}", ci_class=server) for i in range(3)]
    )
    for ci in created:
        assert entries_for(ci)[0].action == "create"
    for ci in created:
        ci.description = "bulk updated"
    ConfigurationItem.objects.bulk_update(created, ["description"])
    for ci in created:
        assert entries_for(ci)[-1].changes["description"] == ["", "bulk updated"]


def test_queryset_delete_and_cascades_are_recorded():
    a, b = CIFactory(), CIFactory()
    from mof.models import CIRelationship

    rel = CIRelationship.objects.create(source=a, target=b)
    ConfigurationItem.objects.filter(pk=a.pk).delete()
    assert entries_for(a)[-1].action == "delete"
    assert entries_for(rel)[-1].action == "delete"  # removed by cascade, still recorded


def test_many_to_many_changes_are_recorded(manager):
    ci = CIFactory()
    service = ServiceFactory()
    services.ci_update(actor=manager, ci=ci, services=[service])
    last = entries_for(ci)[-1]
    assert last.changes == {"services": {"added": [service.pk]}}


def test_audit_rows_cannot_be_changed_or_deleted_through_the_orm():
    ServiceFactory()
    entry = AuditEntry.objects.first()
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().update(reason="x")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()


def test_database_refuses_to_update_or_delete_audit_rows_on_postgresql(postgres):
    ServiceFactory()
    entry = AuditEntry.objects.first()
    from django.db import DatabaseError, transaction

    for sql in (
        "UPDATE mof_auditentry SET reason = 'forged' WHERE id = %s",
        "DELETE FROM mof_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert AuditEntry.objects.filter(pk=entry.pk, reason="").exists()


def test_failed_logins_are_logged(client):
    UserFactory(username="alice")
    client.post("/login/", {"username": "alice", "password": "wrong"})
    from rest_framework.test import APIClient

    APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"}, format="json")
    failures = AuditEntry.objects.filter(action="login_failed", actor_name="alice")
    assert failures.count() == 2
    assert {e.via for e in failures} == {"web", "api"}


def test_password_hash_is_never_copied_into_the_trail():
    user = UserFactory()
    user.set_password("another secret phrase")
    user.save()
    for entry in entries_for(user):
        assert "password" not in entry.changes


def test_service_without_changes_writes_no_update_entry(manager):
    service = ServiceFactory()
    before = AuditEntry.objects.count()
    service.save()
    assert AuditEntry.objects.count() == before
    assert isinstance(Service.objects.get(pk=service.pk), Service)
