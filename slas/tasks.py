from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone


@shared_task(name="slas.sweep", acks_late=True)
def sweep() -> dict:
    from slas.services import sweep as run

    return run()


@shared_task(name="slas.send_clock_notification", acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_clock_notification(notification_id: int) -> int:
    """Claim the notification (once, in the database), then tell the people concerned:
    at a warning the assignee and the group; at a breach the group's manager."""
    from slas.models import ClockNotification

    with transaction.atomic():
        claimed = ClockNotification.objects.filter(pk=notification_id, sent_at__isnull=True).update(sent_at=timezone.now())
    if not claimed:
        return 0
    notification = ClockNotification.objects.select_related("clock__version__sla").get(pk=notification_id)
    clock = notification.clock
    if clock.ticket_type != "incidents.incident":
        return 0
    from incidents.models import Incident

    incident = Incident.objects.select_related("assignee", "assignment_group__manager").filter(pk=clock.ticket_id).first()
    if incident is None:
        return 0
    if notification.threshold >= 100:
        people = [incident.assignment_group.manager] if incident.assignment_group and incident.assignment_group.manager else []
        subject = f"[MOF] SLA breached: {incident.reference} ({clock.version.sla}, {clock.get_metric_display()})"
    else:
        people = [incident.assignee] + (list(incident.assignment_group.members.all()) if incident.assignment_group else [])
        subject = f"[MOF] SLA warning {notification.threshold}%: {incident.reference} ({clock.version.sla}, {clock.get_metric_display()})"
    recipients = sorted({p.email for p in people if p is not None and p.email})
    if recipients:
        send_mail(subject, f"{incident.reference} {incident.title}\nDue: {clock.due_at:%Y-%m-%d %H:%M %Z}\n{getattr(settings, 'MOF_BASE_URL', '')}{incident.get_absolute_url()}\n", settings.DEFAULT_FROM_EMAIL, recipients)
    return len(recipients)


@shared_task(name="slas.recompute_clocks", acks_late=True)
def recompute_clocks(calendar_id=None, sla_id=None, after_id: int = 0, chunk: int = 2000) -> int:
    """Recompute the open clocks a calendar or SLA edit affects: a chunk of a few thousand per
    task (their events loaded in one query), then the next chunk is queued."""
    from slas.models import ClockState, SLAClock
    from slas.services import STORED_FIELDS, _apply, _figures, events_for

    clocks = SLAClock.objects.filter(state__in=[ClockState.RUNNING, ClockState.PAUSED], pk__gt=after_id).select_related("version__calendar", "version__sla").order_by("pk")
    if calendar_id:
        clocks = clocks.filter(version__calendar_id=calendar_id)
    if sla_id:
        clocks = clocks.filter(version__sla_id=sla_id)
    batch = list(clocks[:chunk])
    now = timezone.now()
    with transaction.atomic():
        logs = events_for(batch)
        for clock in batch:
            events = logs.get((clock.ticket_type, clock.ticket_id))
            if events:
                _apply(clock, _figures(clock, events=events, now=now), now)
        SLAClock.objects.bulk_update(batch, STORED_FIELDS, batch_size=1000)
    if len(batch) == chunk:
        recompute_clocks.delay(calendar_id=calendar_id, sla_id=sla_id, after_id=batch[-1].pk, chunk=chunk)
    return len(batch)

from slas.tasks_capacity import *  # noqa: E402,F401,F403  (capacity forecast task)
