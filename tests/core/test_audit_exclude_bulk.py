"""A model's audit_exclude holds for bulk updates as for saves."""

import pytest

from mof.models import AuditEntry
from tests.factories import UserFactory


@pytest.mark.django_db
def test_bulk_update_of_an_excluded_field_leaves_no_trail():
    from integrations.models import WebhookSubscription

    assert "secret" in getattr(WebhookSubscription, "audit_exclude", ()), (
        "the subscription secret is excluded from the trail"
    )
    owner = UserFactory(is_manager=True)
    sub = WebhookSubscription.objects.create(
        name="hook", url="https://example.com/hook", owner=owner, secret="old-secret", event_types=["ping"]
    )
    before = AuditEntry.objects.count()
    WebhookSubscription.objects.filter(pk=sub.pk).update(secret="new-secret-value")
    assert AuditEntry.objects.count() == before
    assert not AuditEntry.objects.filter(changes__icontains="new-secret-value").exists()


@pytest.mark.django_db
def test_bulk_update_still_records_audited_fields_beside_excluded_ones():
    from integrations.models import WebhookSubscription

    owner = UserFactory(is_manager=True)
    sub = WebhookSubscription.objects.create(
        name="hook", url="https://example.com/hook", owner=owner, secret="s1", event_types=["ping"]
    )
    WebhookSubscription.objects.filter(pk=sub.pk).update(secret="s2-hidden", name="renamed")
    entry = AuditEntry.objects.filter(object_id=str(sub.pk), action="update").latest("id")
    assert entry.changes == {"name": ["hook", "renamed"]}
