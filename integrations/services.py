"""Writes of outbound webhooks: subscriptions (validated URL and event types, a secret shown
once), test pings, hand replays, and the delivery of one attempt with its log, its retry
schedule and the disabling of a subscription that keeps failing."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations import egress, outbox
from integrations.choices import (
    SUBSCRIBABLE,
    DeliveryStatus,
    EventType,
    SubscriptionStatus,
)
from integrations.models import DeliveryAttempt, WebhookDelivery, WebhookSubscription
from mof import audit, policy
from mof.services import apply_fields, system_user
from mof.transitions import (
    ConcurrentTransition,
    TransitionNotAllowed,
    perform_transition,
)

# What is kept of a receiver's answer: its status and this much of its body, as plain text
# (never its headers): the log shows whether the receiver took it, not what it says at length.
EXCERPT_CHARS = 500
EXCERPT_BYTES = 4 * EXCERPT_CHARS  # enough for EXCERPT_CHARS characters of UTF-8
USER_AGENT = "MOF-Portal-Webhooks/1.0"
SUBSCRIPTION_FIELDS = ("name", "url", "event_types")


def setting(name: str) -> int:
    defaults = {
        "TIMEOUT_SECONDS": 5,
        "MAX_ATTEMPTS": 6,
        "BACKOFF_SECONDS": 30,
        "DISABLE_AFTER": 5,
        "RETENTION_DAYS": 30,
    }
    return int(getattr(settings, f"MOF_WEBHOOK_{name}", defaults[name]))


# --- validation -------------------------------------------------------------------


def validate_url(url) -> str:
    """Only http(s) URLs with a host: no file:, ftp:, javascript: or scheme-less paths, and
    no host that is or resolves to an internal address unless MOF_WEBHOOK_ALLOWED_NETWORKS names it."""
    url = (url or "").strip() if isinstance(url, str) else ""
    if not url:
        raise ValidationError({"url": "Enter the URL that receives the webhooks."})
    if any(c.isspace() or not c.isprintable() for c in url) or len(url) > 500:
        raise ValidationError({"url": "Enter a URL without spaces, at most 500 characters."})
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        raise ValidationError({"url": "Enter a valid URL, e.g. https://tools.example.com/hooks/mof."}) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError(
            {
                "url": f"Only http and https URLs can receive webhooks (not {parts.scheme or 'a URL without a scheme'!r})."
            }
        )
    try:
        parts.port
    except ValueError:
        raise ValidationError({"url": "The port must be a number from 1 to 65535."}) from None
    if not parts.hostname:
        raise ValidationError({"url": "The URL must name a host, e.g. https://tools.example.com/hooks/mof."})
    if parts.username or parts.password:
        raise ValidationError({"url": "Put no credentials in the URL: receivers verify the signature instead."})
    try:
        egress.check_subscription_url(url)
    except egress.Refused as exc:
        raise ValidationError(
            {"url": f"{exc} Ask an administrator to add it to MOF_WEBHOOK_ALLOWED_NETWORKS if it is meant."}
        ) from None
    return url


def validate_event_types(value) -> list[str]:
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) for v in value):
        raise ValidationError({"event_types": "Choose at least one event type."})
    unknown = sorted(set(value) - set(SUBSCRIBABLE))
    if unknown:
        raise ValidationError({"event_types": f"Unknown event type(s): {', '.join(unknown)[:300]}."})
    return [t for t in SUBSCRIBABLE if t in set(value)]  # the catalogue's order, each once


def _clean(fields: dict) -> dict:
    errors, cleaned = {}, dict(fields)
    for name, check in (("url", validate_url), ("event_types", validate_event_types)):
        if name in fields:
            try:
                cleaned[name] = check(fields[name])
            except ValidationError as exc:
                errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return cleaned


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# --- subscriptions ----------------------------------------------------------------


def subscription_create(*, actor, **fields) -> WebhookSubscription:
    """A new subscription owned by `actor`; its `secret` is readable on the returned object
    this once (the page and the API show it, nothing shows it again)."""
    policy.require(actor, "webhook.add")
    subscription = WebhookSubscription(owner=actor, secret=new_secret())
    # The URL is checked here (single-label hosts such as http://bridge:8080/ are fine), not by URLField.
    apply_fields(subscription, _clean({"url": "", "event_types": [], **fields}), SUBSCRIPTION_FIELDS, exclude=["url"])
    with audit.acting_as(actor), transaction.atomic():
        subscription.save()
    return subscription


def subscription_update(*, actor, subscription: WebhookSubscription, **fields) -> WebhookSubscription:
    policy.require(actor, "webhook.change", subscription)
    apply_fields(subscription, _clean(fields), SUBSCRIPTION_FIELDS, exclude=["url"])
    with audit.acting_as(actor), transaction.atomic():
        subscription.save()
    return subscription


def rotate_secret(*, actor, subscription: WebhookSubscription) -> str:
    """A new secret at once (the old one stops signing); returned to be shown this once."""
    policy.require(actor, "webhook.rotate_secret", subscription)
    secret = new_secret()
    subscription.secret, subscription.secret_rotated_at = secret, timezone.now()
    # save(), not queryset.update(): the audit trail records the rotation's time but never the secret.
    with audit.acting_as(actor, reason="rotated the signing secret"), transaction.atomic():
        subscription.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
    return secret


def send_ping(*, actor, subscription: WebhookSubscription):
    """A test event to this subscription only (also when it is disabled: check before enabling)."""
    policy.require(actor, "webhook.ping", subscription)
    with audit.acting_as(actor), transaction.atomic():
        return outbox.publish(
            EventType.PING,
            {"message": "A test ping from MOF Portal.", "subscription": subscription.name},
            subject=subscription,
            actor=actor,
            subscription=subscription,
        )


def replay_delivery(*, actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again now, by hand: a new attempt with the same body and idempotency key."""
    policy.require(actor, "webhook.replay", delivery.subscription)
    transaction.on_commit(lambda: _queue_replay(delivery.pk, actor.pk), robust=True)
    return delivery


def _queue_replay(delivery_id, actor_id):
    from integrations.tasks import deliver

    deliver.delay(str(delivery_id), replay=True, actor_id=actor_id)


# --- signing and sending ----------------------------------------------------------


def body_bytes(event) -> bytes:
    """The exact bytes signed and sent (keys sorted: the same bytes on every attempt)."""
    return json.dumps(event.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def headers_for(delivery: WebhookDelivery, body: bytes, *, timestamp: int, attempt: int) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "MOF-Event-Type": delivery.event.event_type,
        "MOF-Event-Id": str(delivery.event_id),
        "MOF-Delivery-Attempt": str(attempt),
        "Idempotency-Key": delivery.idempotency_key,
        "MOF-Signature": f"t={timestamp},v1={signature(delivery.subscription.secret, timestamp, body)}",
    }


@dataclass
class Response:
    status: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _status_error(status: int) -> str:
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"  # our phrase: the receiver's reason text is not kept
    except ValueError:
        return f"HTTP {status}"


def post(url: str, body: bytes, headers: dict, *, timeout: float) -> Response:
    """One POST to the checked address of the URL's host (egress: resolved once, refused if
    internal, connected to what was checked). A redirect is an answer, never followed: it
    is logged as a failure like any status other than 2xx."""
    started = time.monotonic()
    status, raw, error, conn = None, b"", "", None
    try:
        target = egress.target_for(url)
        conn = egress.connection(target, timeout=timeout)
        conn.request("POST", target.path, body=body, headers=headers)
        reply = conn.getresponse()
        status = reply.status
        raw = egress.read_some(reply, EXCERPT_BYTES, deadline=started + timeout)
        if not 200 <= status < 300:
            error = _status_error(status)
    except egress.Refused as exc:
        error = f"Refused: {exc}"
    except socket.gaierror as exc:
        error = f"Could not resolve the host: {exc.strerror or exc}"
    except (OSError, http.client.HTTPException, ValueError, UnicodeError) as exc:
        if status is not None:
            error = "" if 200 <= status < 300 else _status_error(status)  # the body broke off: the status stands
        elif isinstance(exc, TimeoutError):
            error = f"No answer within {timeout:g} s."
        elif isinstance(exc, OSError):
            error = f"Could not connect: {exc}"
        else:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        if conn is not None:
            conn.close()
    duration = int((time.monotonic() - started) * 1000)
    excerpt = egress.sanitise(raw.decode("utf-8", errors="replace"), EXCERPT_CHARS)
    return Response(status=status, excerpt=excerpt, error=egress.sanitise(error, 1000), duration_ms=duration)


def backoff_seconds(attempt: int) -> int:
    """Seconds before attempt `attempt + 1`: the base, doubled after each failure."""
    return setting("BACKOFF_SECONDS") * 2 ** (attempt - 1)


def _claim(delivery_id, *, replay: bool, now) -> bool:
    lease = now + timedelta(seconds=setting("TIMEOUT_SECONDS") + 60)
    free = WebhookDelivery.objects.filter(pk=delivery_id).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    if not replay:
        free = free.filter(status=DeliveryStatus.PENDING)
    return bool(free.update(claimed_until=lease))


def attempt_delivery(delivery_id, *, replay: bool = False, actor_id=None) -> int | None:
    """One HTTP attempt of a delivery, logged. Returns the seconds to wait before the next
    automatic attempt, or None when there is none (delivered, given up, or not ours to send)."""
    now = timezone.now()
    if not _claim(delivery_id, replay=replay, now=now):
        return None  # sent already, or another worker holds it
    delivery = WebhookDelivery.objects.select_related("subscription", "event").get(pk=delivery_id)
    subscription = delivery.subscription
    by_hand = replay or delivery.manual
    if subscription.status != SubscriptionStatus.ACTIVE and not by_hand:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, claimed_until=None, next_attempt_at=None
        )
        return None

    number = delivery.attempts + 1
    timestamp = int(time.time())
    body = body_bytes(delivery.event)
    reply = post(
        subscription.url,
        body,
        headers_for(delivery, body, timestamp=timestamp, attempt=number),
        timeout=setting("TIMEOUT_SECONDS"),
    )

    retry_in = None
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            replay=replay,
            requested_by_id=actor_id,
            started_at=now,
            duration_ms=reply.duration_ms,
            succeeded=reply.ok,
            response_status=reply.status,
            response_excerpt=reply.excerpt,
            error=reply.error if not reply.ok else "",
        )
        update = {"attempts": number, "last_attempt_at": now, "response_status": reply.status, "claimed_until": None}
        if reply.ok:
            update.update(status=DeliveryStatus.DELIVERED, delivered_at=timezone.now(), next_attempt_at=None)
            WebhookSubscription.objects.filter(pk=subscription.pk, consecutive_failures__gt=0).update(
                consecutive_failures=0
            )
        elif by_hand:
            # A hand attempt that fails ends a delivery that had ended; automatic retries still pending go on.
            if delivery.status != DeliveryStatus.PENDING or delivery.manual:
                update.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        elif number < setting("MAX_ATTEMPTS"):
            retry_in = backoff_seconds(number)
            update.update(status=DeliveryStatus.PENDING, next_attempt_at=now + timedelta(seconds=retry_in))
        else:
            update.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
            _count_failed_delivery(subscription, reply)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**update)
    return retry_in


def _count_failed_delivery(subscription: WebhookSubscription, reply: Response) -> None:
    """A delivery gave up: one more consecutive failure; at the limit the portal disables
    the subscription and tells its owner (after commit)."""
    with audit.acting_as(system_user(), via="task:integrations.deliver"):
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            consecutive_failures=F("consecutive_failures") + 1
        )
    failures, status = (
        WebhookSubscription.objects.filter(pk=subscription.pk).values_list("consecutive_failures", "status").get()
    )
    limit = setting("DISABLE_AFTER")
    if status != SubscriptionStatus.ACTIVE or failures < limit:
        return
    last = f"HTTP {reply.status}" if reply.status else (reply.error or "no answer")
    reason = f"Disabled by the portal after {failures} consecutive failed deliveries (last: {last[:200]})."
    try:
        perform_transition(
            model=WebhookSubscription,
            pk=subscription.pk,
            name="disable",
            actor=system_user(),
            data={"reason": reason},
            notify=False,
        )
    except (TransitionNotAllowed, ConcurrentTransition):
        return  # someone disabled it meanwhile
    disabled_notice_mail(WebhookSubscription.objects.select_related("owner").get(pk=subscription.pk))


def disabled_notice_mail(subscription: WebhookSubscription) -> list:
    """Tell the owner that the portal disabled their subscription, and why: stored in the
    notification outbox in the disabling transaction (mof.notifications)."""
    from mof import notifications

    return notifications.write_from_template(
        [subscription.owner],
        "integrations/subscription_disabled",
        {"subscription": subscription},
        subject=f"Webhook subscription disabled: {subscription.name}",
        about=subscription,
        kind="integrations.subscription_disabled",
    )


# --- the periodic relay -----------------------------------------------------------


def relay_stragglers(*, now=None, batch: int = 500) -> dict:
    """What the after-commit path left behind (a worker or the broker was down): events
    not yet relayed, and deliveries whose next attempt is overdue and unclaimed."""
    from integrations.models import OutboxEvent

    now = now or timezone.now()
    grace = now - timedelta(seconds=30)  # the after-commit path normally takes it first
    events = list(
        OutboxEvent.objects.filter(relayed_at__isnull=True, occurred_at__lte=grace)
        .order_by("occurred_at")
        .values_list("pk", flat=True)[:batch]
    )
    for event_id in events:
        outbox.relay(event_id)
    overdue = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=grace)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch]
    )
    outbox.queue_deliveries(overdue)
    return {"events": len(events), "deliveries": len(overdue), "purged": purge_old(now=now, batch=batch)}


def purge_old(*, now=None, batch: int = 500) -> int:
    """Forget events older than MOF_WEBHOOK_RETENTION_DAYS whose deliveries are all over
    (delivered or failed), with their delivery log: the log stays a bounded table."""
    from integrations.models import OutboxEvent

    cutoff = (now or timezone.now()) - timedelta(days=setting("RETENTION_DAYS"))
    old = list(
        OutboxEvent.objects.filter(occurred_at__lt=cutoff, relayed_at__isnull=False)
        .exclude(deliveries__status=DeliveryStatus.PENDING)
        .order_by("occurred_at")
        .values_list("pk", flat=True)[:batch]
    )
    if old:
        with transaction.atomic():
            DeliveryAttempt.objects.filter(delivery__event_id__in=old).delete()
            WebhookDelivery.objects.filter(event_id__in=old).delete()
            OutboxEvent.objects.filter(pk__in=old).delete()
    return len(old)
