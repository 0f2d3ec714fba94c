"""Mail around review meetings: take ids, reload and compose from the templates under
templates/mail/reviews/. reviews.services calls them inside its transaction (the mail is
stored in the notification outbox, mof.notifications, and sent after commit); as tasks they
remain for messages queued before the outbox. Invitations carry the meeting as a calendar
invitation (reviews.ics, mof.ical): METHOD:REQUEST with the meeting's SEQUENCE, or CANCEL."""

from celery import shared_task

from mof import ical, notifications
from mof.links import absolute_url
from mof.notifications import person, when

PAST = {"approve": "approved", "reject": "rejected"}


def _meeting_facts(meeting) -> list:
    return [
        ("When", f"{when(meeting.scheduled_at)} ({meeting.duration_minutes} min)"),
        ("Where", meeting.location or "see the invitation"),
        ("Chair", person(meeting.chair)),
        ("Status", meeting.get_state_display()),
    ]


def _attendees(meeting) -> list:
    return list(meeting.attendees.filter(is_active=True).order_by("username"))


def meeting_invitation_mail(meeting, *, update: bool = False) -> int:
    """The invitation (or, after a reschedule, its update; after a cancellation, METHOD:CANCEL)
    to every attendee, the calendar part carrying the meeting's current SEQUENCE."""
    from reviews import ics
    from reviews.choices import MeetingState

    attendees = _attendees(meeting)
    event = ics.meeting_event(meeting, attendees=attendees)
    cancelled = meeting.state == MeetingState.CANCELLED
    what = "cancelled" if cancelled else ("moved" if update else "invitation")
    return len(
        notifications.write_from_template(
            attendees,
            "reviews/invitation",
            {"meeting": meeting, "fields": _meeting_facts(meeting), "update": update, "cancelled": cancelled},
            subject=f"{meeting.name}: {what}",
            about=meeting,
            kind="reviews.invitation",
            calendar=ical.invitation(event),
            calendar_method=event.method,
        )
    )


@shared_task(name="reviews.notify_agenda_published", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_agenda_published(meeting_id: int) -> int:
    """Send each attendee the agenda with the invitation; invite the stakeholders of the
    changes on it (MOF: everyone a change can touch is invited to the review that decides it)."""
    from reviews import ics, selectors
    from reviews.models import Meeting

    meeting = Meeting.objects.filter(pk=meeting_id).select_related("chair").first()
    if meeting is None:
        return 0
    items = selectors.agenda(meeting)
    agenda = [f"{i.position}. {i.subject or i.subject_repr}" for i in items]
    attendees = _attendees(meeting)
    attendee_ids = {u.pk for u in meeting.attendees.all()}
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
    everyone = attendees + [user for user, _ in invited.values()]
    event = ics.meeting_event(meeting, agenda=items, attendees=everyone)
    calendar = ical.invitation(event)
    context = {"meeting": meeting, "agenda": agenda, "fields": _meeting_facts(meeting)}
    rows = notifications.write_from_template(
        attendees,
        "reviews/agenda_published",
        context,
        subject=f"{meeting.name}: agenda",
        about=meeting,
        calendar=calendar,
        calendar_method=event.method,
    )
    for user, reasons in invited.values():
        rows += notifications.write_from_template(
            [user],
            "reviews/invited",
            {**context, "reasons": reasons},
            subject=f"{meeting.name}: you are invited",
            about=meeting,
            kind="reviews.invitation",
            calendar=calendar,
            calendar_method=event.method,
        )
    return len(rows)


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
    title = getattr(subject_obj, "title", None) or getattr(subject_obj, "name", None) or str(subject_obj)
    context = {
        "item": item,
        "meeting": meeting,
        "subject_obj": subject_obj,
        "option": option.label,
        "decided_by": person(item.decided_by),
        "decided_at": when(item.decided_at),
        "meeting_url": absolute_url(meeting),
        "planned": when(getattr(subject_obj, "planned_start", None)),
    }
    if option.notify == "requester":
        requester = getattr(subject_obj, "requester", None)
        if requester is not None and requester.is_active:
            return len(
                notifications.write_from_template(
                    [requester],
                    "reviews/decision",
                    {**context, "audience": "requester"},
                    subject=f"{title}: {PAST.get(option.value, option.label)} by the {meeting.name}",
                    about=subject_obj,
                    kind="reviews.decision",
                )
            )
    elif option.notify == "implementer":
        return len(
            notifications.write_from_template(
                _implementers(subject_obj),
                "reviews/decision",
                {**context, "audience": "implementer"},
                subject=f"{title}: ready for deployment",
                about=subject_obj,
                kind="reviews.decision",
            )
        )
    return 0


def _implementers(subject) -> list:
    implementer = getattr(subject, "implementer", None)
    if implementer is not None:
        return [implementer] if implementer.is_active else []
    changes = getattr(subject, "changes", None)  # a release: the implementers of its changes
    if changes is not None and hasattr(changes, "select_related"):
        return list(
            {
                c.implementer_id: c.implementer
                for c in changes.select_related("implementer")
                if c.implementer_id and c.implementer.is_active
            }.values()
        )
    return []
