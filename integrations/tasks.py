"""Celery tasks of outbound webhooks: thin, take ids, idempotent."""
from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from mof import audit


def _as_system(task: str):
    from mof.services import system_user

    return audit.acting_as(system_user(), via=f"task:{task}")


@shared_task(name="integrations.relay_event", acks_late=True)
def relay_event(event_id: str) -> int:
    """Fan one outbox event out to its subscriptions (after its transaction committed)."""
    from integrations.outbox import relay

    with _as_system("integrations.relay_event"):
        return len(relay(event_id))


@shared_task(name="integrations.relay_events", acks_late=True)
def relay_events(event_ids: list) -> int:
    """Fan several outbox events out (a sweep's warnings and breaches)."""
    from integrations.outbox import relay

    with _as_system("integrations.relay_events"):
        return sum(len(relay(event_id)) for event_id in event_ids)


@shared_task(name="integrations.relay_pending", acks_late=True)
def relay_pending() -> dict:
    """Beat: relay what a dead worker or an unreachable broker left in the outbox."""
    from integrations.services import relay_stragglers

    with _as_system("integrations.relay_pending"):
        return relay_stragglers()


@shared_task(name="integrations.deliver", acks_late=True)
def deliver(delivery_id: str, replay: bool = False, actor_id=None) -> int | None:
    """One attempt; after a failure the next one is queued with an exponential countdown."""
    from integrations.services import attempt_delivery

    with _as_system("integrations.deliver"):
        retry_in = attempt_delivery(delivery_id, replay=replay, actor_id=actor_id)
    if retry_in is not None:
        from integrations.outbox import queue_deliveries

        queue_deliveries([delivery_id], countdown=retry_in)
    return retry_in


@shared_task(name="integrations.send_disabled_notice", acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_disabled_notice(subscription_id: int) -> int:
    """Tell the owner that the portal disabled their subscription, and why."""
    from integrations.models import WebhookSubscription

    subscription = WebhookSubscription.objects.select_related("owner").filter(pk=subscription_id).first()
    if subscription is None or not subscription.owner.email or not subscription.owner.is_active:
        return 0
    base = getattr(settings, "MOF_BASE_URL", "")
    send_mail(
        subject=f"[MOF] Webhook subscription disabled: {subscription.name}",
        message=(
            f"The webhook subscription {subscription.name!r} ({subscription.url}) was disabled.\n"
            f"{subscription.disabled_reason}\n\n"
            f"The delivery log shows each attempt and its answer; enable the subscription again once the receiver works:\n"
            f"{base}{subscription.get_absolute_url()}\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[subscription.owner.email],
    )
    return 1
