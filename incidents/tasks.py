"""Celery tasks of the service desk: thin, take ids, reload, idempotent."""
from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from mof import audit


def _mail(subject, body, recipients):
    recipients = sorted({r for r in recipients if r})
    if recipients:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)
    return len(recipients)


@shared_task(name="incidents.notify", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify(incident_id: int, event: str, note_id=None) -> int:
    """To the caller on assignment, comments and resolution; to the group when an incident lands in its queue;
    to the group's manager on a hierarchical escalation."""
    from incidents.models import Incident, IncidentNote

    incident = Incident.objects.select_related("caller", "assignee", "assignment_group__manager").filter(pk=incident_id).first()
    if incident is None:
        return 0
    url = f"{getattr(settings, 'MOF_BASE_URL', '')}{incident.get_absolute_url()}"
    subject = f"[MOF] {incident.reference} {incident.title}"
    if event == "landed_in_queue" and incident.assignment_group_id:
        members = incident.assignment_group.members.filter(is_active=True).values_list("email", flat=True)
        return _mail(f"{subject}: new in {incident.assignment_group}", f"P{incident.priority} incident in your queue.\n{url}\n", members)
    if event == "escalated" and incident.assignment_group_id and incident.assignment_group.manager:
        note = IncidentNote.objects.filter(pk=note_id).first()
        return _mail(f"{subject}: escalated to you", f"{note.body if note else ''}\n{url}\n", [incident.assignment_group.manager.email])
    if event == "assigned":
        return _mail(f"{subject}: assigned", f"Your incident is with {incident.assignee} ({incident.assignment_group}).\n{url}\n", [incident.caller.email])
    if event == "commented":
        note = IncidentNote.objects.filter(pk=note_id, kind="comment").first()
        if note is None:  # never mail a work note
            return 0
        return _mail(f"{subject}: new comment", f"{note.author}: {note.body}\n\n{url}\n", [incident.caller.email])
    if event == "resolved":
        return _mail(f"{subject}: resolved", f"{incident.get_resolution_code_display()}: {incident.resolution_notes}\n\nNot fixed? Reopen it within {settings.MOF_INCIDENT_AUTO_CLOSE_DAYS} days: {url}\n", [incident.caller.email])
    return 0


@shared_task(name="incidents.send_major_update", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_major_update(update_id: int) -> int:
    from incidents.models import MajorIncidentUpdate

    update = MajorIncidentUpdate.objects.select_related("incident").filter(pk=update_id, sent_at__isnull=True).first()
    if update is None:
        return 0  # sent already: idempotent
    count = _mail(f"[MOF] Major incident {update.incident.reference}: update", update.body, update.recipients)
    with audit.acting_as(None, via="task:incidents.send_major_update"):
        MajorIncidentUpdate.objects.filter(pk=update.pk).update(sent_at=timezone.now())
    return count


@shared_task(name="incidents.close_resolved")
def close_resolved() -> int:
    from incidents.services import close_resolved_incidents

    return close_resolved_incidents()


@shared_task(name="incidents.propose_problems")
def propose_problems() -> int:
    from incidents.services import propose_problems as run

    return len(run())
