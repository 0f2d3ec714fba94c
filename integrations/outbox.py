"""The transactional outbox: an event is stored in the same transaction as the change it
reports, so none is lost (the row commits with the change) and none is sent for a change
that rolled back (the row rolls back with it). After commit a Celery task relays it to
the subscriptions that want it; a beat task relays whatever a dead worker or an
unreachable broker left behind.

The JSON body every subscriber receives (stable; documented in README.md):

    {
      "id": "<event uuid>",
      "type": "incident.created",
      "occurred_at": "2026-11-25T20:15:02.123456+00:00",
      "object": {"type": "incidents.incident", "id": 42, "number": "INC-42",
                 "state": "new", "url": "https://portal.example.com/supporting/incidents/42/",
                 "display": "INC-42 Mail queue stuck"},
      "actor": {"id": 7, "username": "support"} | null,
      "data": {...event-specific fields...}
    }
"""

from __future__ import annotations

import json
import logging
import uuid

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from mof import audit
from mof.links import absolute_url
from mof.readmostly import ReadMostly

log = logging.getLogger("mof.integrations")


def _plain(value):
    """JSON-safe (dates, decimals, UUIDs as strings), as stored and as sent."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def describe(obj) -> dict | None:
    """The `object` part of a body: what changed, as a receiver identifies and links it."""
    if obj is None:
        return None
    url = absolute_url(obj)
    return {
        "type": obj._meta.label_lower,
        "id": obj.pk,
        "number": getattr(obj, "reference", None),
        "state": getattr(obj, "status", None),
        "url": url or None,
        "display": str(obj)[:200],
    }


def _actor(actor) -> dict | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return {"id": actor.pk, "username": actor.username}


def build(event_type: str, payload: dict | None, *, subject=None, actor=None, subscription=None):
    """An unsaved outbox row with its body."""
    from integrations.models import OutboxEvent

    event_id, now = uuid.uuid4(), timezone.now()
    if actor is None:
        actor = audit.current().actor  # whoever the service layer says is acting
    body = {
        "id": str(event_id),
        "type": str(event_type),
        "occurred_at": now.isoformat(),
        "object": describe(subject),
        "actor": _actor(actor),
        "data": payload or {},
    }
    return OutboxEvent(
        id=event_id,
        event_type=str(event_type),
        body=_plain(body),
        subject_label=subject._meta.label_lower if subject is not None else "",
        subject_id=str(subject.pk) if subject is not None else "",
        subscription=subscription,
        occurred_at=now,
    )


def publish(event_type: str, payload: dict | None = None, *, subject=None, actor=None, subscription=None):
    """Store an event in the caller's transaction; relay it once that commits. An event no
    active subscription wants is not stored (a subscription receives what happens after it
    exists): filing an incident costs nothing more until someone subscribes."""
    if subscription is None and not listened_to([str(event_type)]):
        return None
    event = build(event_type, payload, subject=subject, actor=actor, subscription=subscription)
    event.save(force_insert=True)
    transaction.on_commit(queue_relay, robust=True)
    return event


def _wanted_event_types() -> frozenset:
    from integrations.choices import SubscriptionStatus
    from integrations.models import WebhookSubscription

    return frozenset(
        t
        for types in WebhookSubscription.objects.filter(status=SubscriptionStatus.ACTIVE).values_list(
            "event_types", flat=True
        )
        for t in types or ()
    )


# What the active subscriptions want, asked on every filing, changed when a subscription is:
# kept per process and read again after any write to the subscriptions commits (mof.readmostly).
_wanted = ReadMostly("integrations.wanted_event_types", _wanted_event_types).watch("integrations.WebhookSubscription")


def listened_to(event_types) -> set:
    """Which of these event types an active subscription wants (no query while nothing changed)."""
    wanted = _wanted.get()
    return {t for t in event_types if t in wanted}


def publish_many(events) -> list:
    """Store several built events in one statement (a sweep's warnings and breaches)."""
    from integrations.models import OutboxEvent

    events = list(events)
    if events:
        OutboxEvent.objects.bulk_create(events)
        transaction.on_commit(queue_relay, robust=True)
    return events


RELAY_CHUNK = 200


def queue_relay(event_ids=()) -> bool:
    """After a commit that stored events: queue the relay task unless one is already waiting
    (mof.relay.queue_once). That one task relays every event pending when it starts, so N
    events committed while the worker is behind queue one task, not N. An unreachable broker
    is logged: the events wait in the outbox for the periodic relay."""
    from integrations.tasks import relay_outbox
    from mof import relay as relays

    return relays.queue_once("webhooks", relay_outbox)


def relay_all(*, batch: int = RELAY_CHUNK, batches: int = 50) -> int:
    """Relay the pending events, oldest first, a batch at a time; returns how many this call
    relayed (events another relay holds are skipped: it relays them)."""
    from integrations.models import OutboxEvent

    total = 0
    for _ in range(batches):
        ids = list(
            OutboxEvent.objects.filter(relayed_at__isnull=True)
            .order_by("occurred_at")
            .values_list("pk", flat=True)[:batch]
        )
        done = 0
        for event_id in ids:
            if relay(event_id) is not None:
                done += 1
        total += done
        if len(ids) < batch or not done:
            break
    return total


def relay(event_id) -> list | None:
    """Fan an event out to the subscriptions that want it, once: the row is locked and
    marked relayed in the same transaction as its deliveries. Returns the delivery ids, or
    None when the event was not this call's to relay."""
    from integrations.choices import SubscriptionStatus
    from integrations.models import OutboxEvent, WebhookDelivery, WebhookSubscription

    now = timezone.now()
    with transaction.atomic():
        pending = OutboxEvent.objects.filter(pk=event_id, relayed_at__isnull=True)
        if connection.vendor == "postgresql":
            pending = pending.select_for_update(skip_locked=True)  # another relay has it
        event = pending.first()
        if event is None:
            return None  # relayed already, or another relay holds it
        if event.subscription_id is not None:
            targets = list(WebhookSubscription.objects.filter(pk=event.subscription_id))
        else:
            active = WebhookSubscription.objects.filter(status=SubscriptionStatus.ACTIVE)
            targets = [s for s in active if s.wants(event.event_type)]
        deliveries = [
            WebhookDelivery(
                subscription=s,
                event=event,
                manual=event.subscription_id is not None,
                next_attempt_at=now,
                created_at=now,
            )
            for s in targets
        ]
        WebhookDelivery.objects.bulk_create(deliveries)
        OutboxEvent.objects.filter(pk=event.pk).update(relayed_at=now)
        ids = [d.pk for d in deliveries]
        transaction.on_commit(lambda: queue_deliveries(ids), robust=True)
    return ids


def queue_deliveries(delivery_ids, *, countdown: float | None = None) -> None:
    from integrations.tasks import deliver

    for delivery_id in delivery_ids:
        try:
            deliver.apply_async((str(delivery_id),), countdown=countdown)
        except OperationalError:
            log.warning("webhooks: could not queue delivery %s; the periodic relay will send it", delivery_id)
