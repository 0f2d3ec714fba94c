"""Celery tasks of outbound webhooks: thin, take ids, idempotent."""

from celery import shared_task

from mof import audit


def _as_system(task: str):
    from mof.services import system_user

    return audit.acting_as(system_user(), via=f"task:{task}")


@shared_task(name="integrations.relay_outbox", acks_late=True)
def relay_outbox() -> int:
    """Relay every pending outbox event (queued after a commit; at most one waiting)."""
    from integrations.outbox import relay_all
    from mof import relay

    relay.started("webhooks")
    with _as_system("integrations.relay_outbox"):
        done = relay_all()
    return done


@shared_task(name="integrations.relay_event", acks_late=True)
def relay_event(event_id: str) -> int:
    """Fan one outbox event out (kept for messages queued before relay_outbox)."""
    from integrations.outbox import relay

    with _as_system("integrations.relay_event"):
        return len(relay(event_id) or [])


@shared_task(name="integrations.relay_events", acks_late=True)
def relay_events(event_ids: list) -> int:
    """Fan several outbox events out (kept for messages queued before relay_outbox)."""
    from integrations.outbox import relay

    with _as_system("integrations.relay_events"):
        return sum(len(relay(event_id) or []) for event_id in event_ids)


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


@shared_task(
    name="integrations.send_disabled_notice",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_disabled_notice(subscription_id: int) -> int:
    """Kept for messages queued before the notification outbox: the notice is now stored in the
    disabling transaction (integrations.services.disabled_notice_mail). Writes it to the outbox."""
    from integrations.models import WebhookSubscription
    from integrations.services import disabled_notice_mail

    subscription = WebhookSubscription.objects.select_related("owner").filter(pk=subscription_id).first()
    if subscription is None:
        return 0
    return len(disabled_notice_mail(subscription))
