"""A review meeting as a calendar invitation, written by the portal's one iCalendar writer
(mof.ical): the chair as ORGANIZER, every attendee, a UID stable for the meeting and the
meeting's SEQUENCE (raised when it is rescheduled or cancelled). The same invitation is
attached to the attendees' mail and downloadable from the meeting's page."""

from __future__ import annotations

from mof import ical
from mof.links import absolute_url
from reviews.choices import MeetingState


def meeting_uid(meeting) -> str:
    return ical.uid("review-meeting", meeting.pk)


def meeting_event(meeting, *, agenda=(), attendees=None) -> ical.Invitation:
    url = absolute_url(meeting)
    description = [f"{meeting.name} ({meeting.reference}), chaired by {meeting.chair}."]
    if agenda:
        description.append("Agenda:")
        description += [f"{i.position}. {i.subject or i.subject_repr}" for i in agenda]
    if url:
        description.append(url)
    return ical.Invitation(
        uid=meeting_uid(meeting),
        sequence=meeting.ical_sequence,
        start=meeting.scheduled_at,
        end=meeting.ends_at,
        summary=meeting.name,
        organizer=meeting.chair,
        attendees=list(attendees if attendees is not None else meeting.attendees.order_by("username")),
        description="\n".join(description),
        location=meeting.location,
        url=url,
        cancelled=meeting.state == MeetingState.CANCELLED,
    )


def meeting_invitation(meeting, *, agenda=(), attendees=None) -> str:
    return ical.invitation(meeting_event(meeting, agenda=agenda, attendees=attendees))
