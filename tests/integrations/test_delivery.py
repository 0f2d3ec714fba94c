"""Deliveries: signed, verified by a real receiver on 127.0.0.1, retried with exponential
backoff, logged, disabled after repeated failure (owner told), replayed by hand with the
same idempotency key."""

import time

import pytest

from integrations import outbox, services
from integrations.choices import DeliveryStatus, EventType, SubscriptionStatus
from integrations.models import DeliveryAttempt, WebhookDelivery, WebhookSubscription
from mof.models import AuditEntry
from tests.conftest import api_as
from tests.integrations.conftest import verify
from tests.integrations.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscription(receiver):
    subscription = SubscriptionFactory(
        url=receiver.url, event_types=["incident.created"], owner__email="hooks-owner@example.test"
    )
    receiver.secret = subscription.secret
    return subscription


@pytest.fixture
def countdowns(monkeypatch):
    """The countdowns the retries were queued with (eager Celery runs them at once)."""
    seen = []
    original = outbox.queue_deliveries

    def spy(ids, *, countdown=None):
        seen.append(countdown)
        return original(ids, countdown=countdown)

    monkeypatch.setattr(outbox, "queue_deliveries", spy)
    return seen


def publish(capture, n=1):
    events = []
    for i in range(n):
        with capture(execute=True):
            events.append(outbox.publish(EventType.INCIDENT_CREATED, {"title": f"event {i}"}))
    return events


def test_the_receiver_verifies_signature_and_timestamp(subscription, receiver, django_capture_on_commit_callbacks):
    publish(django_capture_on_commit_callbacks)
    [request] = receiver.requests
    assert request.verified
    header = request.headers["mof-signature"]
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert abs(time.time() - timestamp) < 60
    # The same check refuses another secret, a changed body and a replayed old timestamp.
    assert not verify("whsec_someone-else", header, request.body)
    assert not verify(subscription.secret, header, request.body + b" ")
    assert not verify(subscription.secret, header, request.body, now=timestamp + 3600)
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("MOF-Portal-Webhooks/")


def test_a_receiver_with_the_wrong_secret_refuses_and_the_refusal_is_logged(
    subscription, receiver, webhook_settings, django_capture_on_commit_callbacks
):
    receiver.secret = "whsec_not-the-one"
    publish(django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 3 and not any(r.verified for r in receiver.requests)
    attempts = list(DeliveryAttempt.objects.order_by("number"))
    assert [a.response_status for a in attempts] == [401, 401, 401]
    assert '"verified": false' in attempts[0].response_excerpt and attempts[0].error == "HTTP 401 Unauthorized"


def test_a_failing_receiver_gets_retries_with_exponential_backoff_then_the_delivery_fails(
    subscription, receiver, webhook_settings, countdowns, django_capture_on_commit_callbacks
):
    receiver.statuses = [500, 500, 500]
    publish(django_capture_on_commit_callbacks)
    assert countdowns == [None, 10, 20]  # first at once, then 10 s, then 20 s (MOF_WEBHOOK_BACKOFF_SECONDS=10)
    assert len(receiver.requests) == 3  # MOF_WEBHOOK_MAX_ATTEMPTS=3: bounded
    keys = {r.headers["idempotency-key"] for r in receiver.requests}
    delivery = WebhookDelivery.objects.get()
    assert keys == {str(delivery.pk)}  # one key for every attempt
    assert [r.headers["mof-delivery-attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r.body for r in receiver.requests}) == 1  # the same bytes each time
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3 and delivery.next_attempt_at is None
    assert delivery.response_status == 500
    log = list(delivery.attempt_log.order_by("number"))
    assert [(a.number, a.response_status, a.succeeded) for a in log] == [
        (1, 500, False),
        (2, 500, False),
        (3, 500, False),
    ]
    assert all(
        a.duration_ms >= 0 and a.error == "HTTP 500 Internal Server Error" and "verified" in a.response_excerpt
        for a in log
    )
    subscription.refresh_from_db()
    assert subscription.consecutive_failures == 1 and subscription.status == SubscriptionStatus.ACTIVE


def test_the_backoff_doubles_after_each_failure(webhook_settings):
    assert [services.backoff_seconds(n) for n in (1, 2, 3, 4)] == [10, 20, 40, 80]


def test_a_retry_that_succeeds_delivers_and_resets_the_failure_count(
    subscription, receiver, webhook_settings, django_capture_on_commit_callbacks
):
    WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=1)
    receiver.statuses = [503]
    publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2 and delivery.delivered_at
    assert WebhookSubscription.objects.get(pk=subscription.pk).consecutive_failures == 0


def test_repeated_failed_deliveries_disable_the_subscription_and_tell_its_owner(
    subscription, receiver, webhook_settings, mailoutbox, django_capture_on_commit_callbacks, client
):
    receiver.statuses = [500] * 6
    publish(django_capture_on_commit_callbacks, n=2)  # MOF_WEBHOOK_DISABLE_AFTER=2 failed deliveries
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.DISABLED and subscription.consecutive_failures == 2
    assert (
        "2 consecutive failed deliveries" in subscription.disabled_reason and "HTTP 500" in subscription.disabled_reason
    )
    [mail] = [m for m in mailoutbox if "Webhook subscription disabled" in m.subject]
    assert mail.to == ["hooks-owner@example.test"] and subscription.disabled_reason in mail.body
    entry = AuditEntry.objects.get(
        model_label="integrations.webhooksubscription", action="transition", transition="disable"
    )
    assert entry.actor_name == "mof-system"
    # A disabled subscription is sent nothing more.
    publish(django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 6 and WebhookDelivery.objects.count() == 2
    # Its page says so, to its manager.
    client.force_login(subscription.owner)
    page = client.get(subscription.get_absolute_url())
    assert page.status_code == 200 and "consecutive failed deliveries" in page.content.decode()


def test_a_replay_is_a_new_attempt_with_the_same_idempotency_key(
    subscription, receiver, webhook_settings, django_capture_on_commit_callbacks
):
    receiver.statuses = [500, 500, 500]
    publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    manager = subscription.owner
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(manager).post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/")
    assert response.status_code == 202, response.content
    assert len(receiver.requests) == 4
    assert (
        receiver.requests[-1].headers["idempotency-key"]
        == receiver.requests[0].headers["idempotency-key"]
        == str(delivery.pk)
    )
    assert receiver.requests[-1].body == receiver.requests[0].body and receiver.requests[-1].verified
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 4
    replay = delivery.attempt_log.get(number=4)
    assert replay.replay and replay.requested_by == manager and replay.response_status == 200


def test_a_replay_from_the_delivery_page(subscription, receiver, client, django_capture_on_commit_callbacks):
    publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    client.force_login(subscription.owner)
    page = client.get(delivery.get_absolute_url())
    assert (
        page.status_code == 200 and "Replay now" in page.content.decode() and str(delivery.pk) in page.content.decode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{delivery.get_absolute_url()}replay/")
    assert response.status_code == 302
    assert len(receiver.requests) == 2 and receiver.requests[1].headers["idempotency-key"] == str(delivery.pk)
    assert client.get(f"{delivery.get_absolute_url()}replay/").status_code == 405


def test_a_redirect_is_logged_as_a_failure_not_followed(
    subscription, receiver, webhook_settings, django_capture_on_commit_callbacks
):
    receiver.statuses = [302, 302, 302]
    publish(django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 3
    assert WebhookDelivery.objects.get().response_status == 302


def test_an_unreachable_receiver_is_logged_with_the_error(webhook_settings, django_capture_on_commit_callbacks):
    import socket

    webhook_settings.MOF_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # a loopback receiver, allowed

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    SubscriptionFactory(url=f"http://127.0.0.1:{port}/hook", event_types=["incident.created"])
    publish(django_capture_on_commit_callbacks)
    attempts = list(DeliveryAttempt.objects.all())
    assert len(attempts) == 3
    assert all(a.response_status is None and "Could not connect" in a.error for a in attempts)


def test_a_ping_reaches_only_its_subscription_even_when_disabled(
    subscription, receiver, django_capture_on_commit_callbacks
):
    other = SubscriptionFactory(event_types=["incident.created"])
    WebhookSubscription.objects.filter(pk=subscription.pk).update(status=SubscriptionStatus.DISABLED)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(subscription.owner).post(f"/api/v1/webhooks/{subscription.pk}/ping/")
    assert response.status_code == 202
    [request] = receiver.requests
    assert request.json["type"] == "ping" and request.verified and request.json["id"] == response.json()["event_id"]
    assert not WebhookDelivery.objects.filter(subscription=other).exists()
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED
    assert (
        WebhookSubscription.objects.get(pk=subscription.pk).status == SubscriptionStatus.DISABLED
    )  # a ping enables nothing


def test_a_rotated_secret_signs_the_next_delivery(subscription, receiver, django_capture_on_commit_callbacks):
    response = api_as(subscription.owner).post(f"/api/v1/webhooks/{subscription.pk}/rotate-secret/")
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new != subscription.secret and new.startswith("whsec_")
    publish(django_capture_on_commit_callbacks)
    assert not receiver.requests[0].verified  # the receiver still holds the old one
    assert verify(new, receiver.requests[0].headers["mof-signature"], receiver.requests[0].body)


def test_a_pending_delivery_of_a_subscription_disabled_meanwhile_is_not_sent(subscription, receiver):
    event = outbox.build(EventType.INCIDENT_CREATED, {"title": "queued before the disabling"})
    event.save()
    delivery = WebhookDelivery.objects.create(subscription=subscription, event=event)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(status=SubscriptionStatus.DISABLED)
    assert services.attempt_delivery(delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 0
    assert receiver.requests == [] and not DeliveryAttempt.objects.exists()
    assert services.attempt_delivery(delivery.pk) is None  # and a second run (a duplicate task) does nothing


def test_a_delivered_delivery_is_not_sent_again_by_a_duplicate_task(
    subscription, receiver, django_capture_on_commit_callbacks
):
    publish(django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert services.attempt_delivery(delivery.pk) is None  # a redelivered task message (acks_late)
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.get().attempts == 1
