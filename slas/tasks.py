from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone


@shared_task(name="slas.sweep", acks_late=True)
def sweep() -> dict:
    from slas.services import sweep as run

    return run()


@shared_task(name="slas.send_clock_notification", acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_clock_notification(notification_id: int) -> int:
    """Claim the notification (a lease in the database), tell the people concerned, then mark
    it sent: at a warning the assignee and the group; at a breach the group's manager.
    A worker that dies after claiming lets the lease lapse and the sweep queues it again; the
    fixed Message-ID lets a receiver drop the rare repeat of a mail that did go out."""
    from django.core.mail import EmailMessage
    from django.db.models import Q

    from slas.models import ClockNotification
    from slas.services import CLAIM_LEASE

    now = timezone.now()
    with transaction.atomic():
        claimed = (
            ClockNotification.objects.filter(pk=notification_id, sent_at__isnull=True)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lte=now - CLAIM_LEASE))
            .update(claimed_at=now)
        )
    if not claimed:
        return 0
    notification = ClockNotification.objects.select_related("clock__version__sla").get(pk=notification_id)
    clock = notification.clock
    recipients = []
    if clock.ticket_type == "incidents.incident":
        from incidents.models import Incident

        incident = Incident.objects.select_related("assignee", "assignment_group__manager").filter(pk=clock.ticket_id).first()
        if incident is not None:
            if notification.threshold >= 100:
                people = [incident.assignment_group.manager] if incident.assignment_group and incident.assignment_group.manager else []
                subject = f"[MOF] SLA breached: {incident.reference} ({clock.version.sla}, {clock.get_metric_display()})"
            else:
                people = [incident.assignee] + (list(incident.assignment_group.members.all()) if incident.assignment_group else [])
                subject = f"[MOF] SLA warning {notification.threshold}%: {incident.reference} ({clock.version.sla}, {clock.get_metric_display()})"
            recipients = sorted({p.email for p in people if p is not None and p.email})
            if recipients:
                body = f"{incident.reference} {incident.title}\nDue: {clock.due_at:%Y-%m-%d %H:%M %Z}\n{getattr(settings, 'MOF_BASE_URL', '')}{incident.get_absolute_url()}\n"
                EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, recipients,
                             headers={"Message-ID": f"<sla-notification-{notification.pk}@mof-portal>"}).send()
    ClockNotification.objects.filter(pk=notification_id).update(sent_at=timezone.now())
    return len(recipients)


# A deadlock with a ticket's own recomputation, or a lost connection, is retried: the tasks are idempotent.
@shared_task(name="slas.recompute_plan", acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def recompute_plan(job_id: int) -> int:
    """Split a calendar or SLA edit's recomputation into chunks and fan them out to the workers."""
    from slas import recompute

    return len(recompute.plan(job_id))


@shared_task(name="slas.recompute_chunk", acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def recompute_chunk(chunk_id: int) -> int:
    """Recompute a chunk of a few thousand clocks; idempotent (a chunk done is skipped)."""
    from slas import recompute

    return recompute.run_chunk(chunk_id)


from slas.tasks_capacity import *  # noqa: E402,F401,F403  (capacity forecast task)
