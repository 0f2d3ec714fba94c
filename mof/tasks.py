"""Celery tasks of the core: thin, take ids, reload, idempotent."""

from celery import shared_task
from django.apps import apps

from mof import audit, lockout


@shared_task(name="mof.send_outgoing_mail", acks_late=True)
def send_outgoing_mail() -> dict:
    """Send the notification outbox's pending mail (queued after a commit, at most one waiting;
    and every minute from the beat schedule, for what an unreachable broker left behind)."""
    from mof import notifications, relay

    relay.started("mail")
    with audit.acting_as(None, via="task:mof.send_outgoing_mail"):
        result = notifications.deliver_pending()
        result["purged"] = notifications.purge_sent()
        result["purged_notifications"] = notifications.purge_notifications()
    if result["more"]:
        notifications.queue_relay()
    return result


@shared_task(name="mof.send_notification_digest", acks_late=True)
def send_notification_digest(force: bool = False) -> int:
    """Beat queues this every hour; at MOF_NOTIFICATION_DIGEST_HOUR (local time), or when
    forced, each person who chose a daily digest gets one mail with the items waiting."""
    from django.conf import settings
    from django.utils import timezone

    from mof import notifications

    if not force and timezone.localtime().hour != settings.MOF_NOTIFICATION_DIGEST_HOUR:
        return 0
    with audit.acting_as(None, via="task:mof.send_notification_digest"):
        return notifications.send_digests()


@shared_task(name="mof.notify_transition", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_transition(model_label: str, pk, name: str, source: str, target: str, actor_id=None) -> int:
    """Kept for messages queued before the outbox: transitions now store their mail in their
    own transaction (mof.transitions). Writes the mail to the outbox."""
    from mof.transitions import transition_mail

    obj = apps.get_model(model_label)._base_manager.filter(pk=pk).first()
    if obj is None:
        return 0
    return len(transition_mail(obj, name, source, target, actor_id))


@shared_task(name="mof.lockouts_prune")
def lockouts_prune() -> int:
    """Forget sign-in lockout records past their retention (daily, from the beat schedule)."""
    return lockout.lockouts_prune()


def notification_recipients(obj, actor_id) -> list:
    """The owner (and, later, watchers) of an object, except whoever acted."""
    people = getattr(obj, "notification_recipients", None)
    users = people() if callable(people) else [getattr(obj, "owner", None)]
    return [u for u in users if u is not None and u.email and u.pk != actor_id and u.is_active]


@shared_task(name="mof.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Record that a worker ran a task (beat queues this every minute): /readyz's worker check
    and the mof_worker_heartbeat_age_seconds metric read it (mof.health)."""
    from mof import health

    health.record_heartbeat()
