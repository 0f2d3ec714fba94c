"""Celery tasks of the service desk: thin, take ids, reload, idempotent."""

from celery import shared_task

from mof import audit


@shared_task(name="incidents.notify", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify(incident_id: int, event: str, note_id=None) -> int:
    """Kept for messages queued before the notification outbox: the services now store the mail
    in their own transaction (incidents.mail). Writes the event's mail to the outbox."""
    from incidents.mail import incident_mail
    from incidents.models import Incident, IncidentNote

    incident = (
        Incident.objects.select_related("caller", "assignee", "assignment_group__manager")
        .filter(pk=incident_id)
        .first()
    )
    if incident is None:
        return 0
    note = IncidentNote.objects.filter(pk=note_id).first() if note_id else None
    return len(incident_mail(event, incident, note))


@shared_task(name="incidents.send_major_update", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_major_update(update_id: int) -> int:
    """Kept for messages queued before the notification outbox (see notify)."""
    from django.utils import timezone

    from incidents.mail import major_update_mail
    from incidents.models import MajorIncidentUpdate

    update = MajorIncidentUpdate.objects.select_related("incident").filter(pk=update_id, sent_at__isnull=True).first()
    if update is None:
        return 0  # handed over already: idempotent
    with audit.acting_as(None, via="task:incidents.send_major_update"):
        rows = major_update_mail(update)
        MajorIncidentUpdate.objects.filter(pk=update.pk).update(sent_at=timezone.now())
    return len(rows)


@shared_task(name="incidents.close_resolved")
def close_resolved() -> int:
    from incidents.services import close_resolved_incidents

    return close_resolved_incidents()


@shared_task(name="incidents.propose_problems")
def propose_problems() -> int:
    from incidents.services import propose_problems as run

    return len(run())


@shared_task(name="incidents.poll_mailbox", expires=55)
def poll_mailbox() -> int:
    """Read the service desk's mailbox (MOF_MAILBOX_IMAP_URL; nothing to do without it):
    every new message processed once (incidents.mailbox)."""
    from django.conf import settings

    from incidents.mailbox.imap import poll

    if not settings.MOF_MAILBOX_IMAP_URL:
        return 0
    return poll(settings.MOF_MAILBOX_IMAP_URL).processed


@shared_task(name="incidents.inbound_mail_purge")
def inbound_mail_purge() -> int:
    """Forget the originals of received mail past MOF_MAIL_IN_RETENTION_DAYS (batches until none is left)."""
    from incidents.mailbox.services import purge_originals

    total = done = purge_originals()
    while done:
        done = purge_originals()
        total += done
    return total
