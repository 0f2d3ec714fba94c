"""Mail around review meetings: take ids, reload and compose. reviews.services calls them
inside its transaction (the mail is stored in the notification outbox, mof.notifications,
and sent after commit); as tasks they remain for messages queued before the outbox."""
from celery import shared_task
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from mof import notifications
from mof.links import absolute_url

PAST = {"approve": "approved", "reject": "rejected"}


def _url(path: str) -> str:
    return absolute_url(path)


def _when(value) -> str:
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M %Z}" if value else "not scheduled"


def _send(messages, *, kind: str, about) -> int:
    """(subject, body, from, [address]) tuples into the outbox, one row per recipient."""
    rows = []
    for subject, body, _sender, to in messages:
        rows += notifications.build([a for a in to if a], subject=subject, body=body, kind=kind, about=about)
    return len(notifications.write_rows(rows))


@shared_task(name="reviews.notify_agenda_published", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_agenda_published(meeting_id: int) -> int:
    """Send each attendee the agenda, with the invitation link."""
    from reviews import selectors
    from reviews.models import Meeting

    meeting = Meeting.objects.filter(pk=meeting_id).select_related("chair").first()
    if meeting is None:
        return 0
    items = selectors.agenda(meeting)
    lines = [f"{i.position}. {i.subject or i.subject_repr}" for i in items] or ["(nothing yet)"]
    body = (
        f"{meeting}\nWhen: {_when(meeting.scheduled_at)} ({meeting.duration_minutes} min)\n"
        f"Where: {meeting.location or 'see the invitation'}\nChair: {meeting.chair}\n\nAgenda:\n" + "\n".join(lines) + "\n\n"
        f"Meeting page: {_url(meeting.get_absolute_url())}\n"
        f"Add it to your calendar: {_url(reverse('review_meeting_ics', args=[meeting.pk]))}\n"
    )
    subject = f"[MOF] Agenda: {meeting}"
    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [u.email]) for u in meeting.attendees.filter(is_active=True).exclude(email="")]
    # MOF: everyone a change can touch is invited to the review that decides it.
    attendee_ids = set(meeting.attendees.values_list("pk", flat=True))
    invited: dict[int, tuple] = {}
    for item in items:
        stakeholders = getattr(item.subject, "stakeholders", None) if item.subject is not None else None
        if stakeholders is None or not hasattr(stakeholders, "select_related"):
            continue
        for stake in stakeholders.select_related("user"):
            user = stake.user
            if user.pk in attendee_ids or not user.is_active or not user.email:
                continue
            why = "; ".join(stake.reasons) or "affected by it"
            entry = invited.setdefault(user.pk, (user, []))
            entry[1].append(f"{item.subject} ({why})")
    for user, reasons in invited.values():
        messages.append((
            f"[MOF] You are invited: {meeting}",
            body + "\nYou are invited because the meeting decides changes that affect you:\n" + "\n".join(f"- {r}" for r in reasons)
            + "\nComment on the change before the meeting to be heard.\n",
            settings.DEFAULT_FROM_EMAIL, [user.email],
        ))
    return _send(messages, kind="reviews.agenda_published", about=meeting)


@shared_task(name="reviews.notify_decision", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_decision(item_id: int) -> int:
    """Tell the requester their change was decided; tell the implementer a change is
    ready for deployment."""
    from reviews import decisions
    from reviews.models import AgendaItem

    item = AgendaItem.objects.filter(pk=item_id).select_related("meeting", "decided_by").first()
    if item is None:
        return 0
    option = decisions.option(item.meeting.kind, item.decision)
    subject_obj = item.get_subject()
    if option is None or subject_obj is None:
        return 0
    meeting = item.meeting
    link = _url(subject_obj.get_absolute_url()) if hasattr(subject_obj, "get_absolute_url") else ""
    why = f"Reason: {item.reason}\n" if item.reason else ""
    messages = []
    if option.notify == "requester":
        requester = getattr(subject_obj, "requester", None)
        if requester is not None and requester.is_active:
            messages.append((
                f"[MOF] {subject_obj}: {PAST.get(option.value, option.label)} by the {meeting.name}",
                f"Your request {subject_obj} was decided at {meeting} ({meeting.reference}): {option.label}.\n{why}"
                f"Decided by {item.decided_by} at {_when(item.decided_at)}.\n{link}\n",
                settings.DEFAULT_FROM_EMAIL, [requester.email],
            ))
    elif option.notify == "implementer":
        people = _implementers(subject_obj)
        for person in people:
            messages.append((
                f"[MOF] {subject_obj} is ready for deployment",
                f"{subject_obj} passed the {meeting.name} ({meeting.reference}): go.\n{why}"
                f"You are its implementer. Planned: {_when(getattr(subject_obj, 'planned_start', None))}.\n{link}\n",
                settings.DEFAULT_FROM_EMAIL, [person.email],
            ))
    return _send(messages, kind="reviews.decision", about=subject_obj)


def _implementers(subject) -> list:
    implementer = getattr(subject, "implementer", None)
    if implementer is not None:
        return [implementer] if implementer.is_active else []
    changes = getattr(subject, "changes", None)  # a release: the implementers of its changes
    if changes is not None and hasattr(changes, "select_related"):
        return list({c.implementer_id: c.implementer for c in changes.select_related("implementer") if c.implementer_id and c.implementer.is_active}.values())
    return []
