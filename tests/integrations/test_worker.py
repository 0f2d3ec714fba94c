"""End to end on the real components: PostgreSQL, Redis and a Celery worker relay the
outbox and deliver to a receiver on 127.0.0.1 that checks the signature. Skipped on a bare
machine, never in CI (.ci/run sets DATABASE_URL, CELERY_BROKER_URL and CI=1)."""

import time

import pytest

from incidents import services as desk
from integrations.choices import DeliveryStatus
from integrations.models import OutboxEvent, WebhookDelivery
from tests.factories import UserFactory
from tests.integration.test_celery_worker import (  # noqa: F401 - fixtures
    celery_worker,
    needs_postgres,
    needs_redis,
)
from tests.integrations.factories import SubscriptionFactory

pytestmark = [pytest.mark.integration, needs_postgres, needs_redis]


def wait_until(check, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True)
def test_the_worker_delivers_a_committed_incident_signed_after_one_retry(
    builtin_data, celery_worker, receiver, settings
):
    settings.MOF_WEBHOOK_BACKOFF_SECONDS = 1
    subscription = SubscriptionFactory(url=receiver.url, event_types=["incident.created"])
    receiver.secret = subscription.secret
    receiver.statuses = [500]  # the first attempt fails, the retry (1 s later) succeeds
    agent = UserFactory(username="integration-agent", roles=["support"])

    incident = desk.incident_create(
        actor=agent, title="Mail queue stuck on HUB-01"
    )  # commits: the worker takes it from here

    assert wait_until(lambda: len(receiver.requests) >= 2), (
        f"the worker sent {len(receiver.requests)} request(s) within 20 s"
    )
    first, second = receiver.requests[:2]
    assert first.verified and second.verified
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] and first.body == second.body
    assert second.json["object"]["number"] == incident.reference and second.json["type"] == "incident.created"
    assert wait_until(lambda: WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists())
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 2 and str(delivery.pk) == first.headers["idempotency-key"]
    assert [a.response_status for a in delivery.attempt_log.order_by("number")] == [500, 200]
    assert OutboxEvent.objects.get().relayed_at is not None
    time.sleep(1.5)  # and nothing more is sent
    assert len(receiver.requests) == 2
