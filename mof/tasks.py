"""Celery tasks of the core: thin, take ids, reload, idempotent."""
from celery import shared_task
from django.apps import apps
from django.conf import settings
from django.core.mail import send_mail

from mof import audit, lockout


@shared_task(name="mof.notify_transition", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_transition(model_label: str, pk, name: str, source: str, target: str, actor_id=None) -> int:
    """Tell the people concerned that an object moved. Returns how many were told."""
    model = apps.get_model(model_label)
    obj = model._base_manager.filter(pk=pk).first()
    if obj is None:
        return 0
    recipients = notification_recipients(obj, actor_id)
    if not recipients:
        return 0
    with audit.acting_as(None, via="task:mof.notify_transition"):
        label = model._meta.verbose_name
        send_mail(
            subject=f"[MOF] {label} {obj}: {source} → {target}",
            message=(
                f"{label.capitalize()} {obj} moved from {source} to {target} ({name}).\n"
                f"{getattr(settings, 'MOF_BASE_URL', '')}{obj.get_absolute_url() if hasattr(obj, 'get_absolute_url') else ''}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
        )
    return len(recipients)


@shared_task(name="mof.lockouts_prune")
def lockouts_prune() -> int:
    """Forget sign-in lockout records past their retention (daily, from the beat schedule)."""
    return lockout.lockouts_prune()


def notification_recipients(obj, actor_id) -> list[str]:
    """The owner (and, later, watchers) of an object, except whoever acted."""
    people = getattr(obj, "notification_recipients", None)
    users = people() if callable(people) else [getattr(obj, "owner", None)]
    return sorted({u.email for u in users if u is not None and u.email and u.pk != actor_id and u.is_active})
