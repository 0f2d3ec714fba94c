"""Mail to a change's stakeholders, stored in the outbox (mof.notifications) in the
transaction that assesses the change: what, when and why (MOF's key goal). And the change
window as a calendar invitation (mof.ical) to the people who carry the change out: sent
when the change is scheduled, again with a higher SEQUENCE when the window moves, and as
METHOD:CANCEL when the change is cancelled."""

from mof import ical, notifications
from mof.links import absolute_url
from mof.notifications import person, when


def _window(change) -> str:
    if change.planned_start and change.planned_end:
        return f"{when(change.planned_start)} to {when(change.planned_end)}"
    return "not scheduled yet"


def stakeholder_mail(change, stakeholders) -> list:
    rows = []
    for stakeholder in stakeholders:
        rows += notifications.write_from_template(
            [stakeholder.user],
            "changes/stakeholder",
            {
                "change": change,
                "window": _window(change),
                "reasons": stakeholder.reasons,
                "fields": [
                    ("What", change.description or change.title),
                    ("When", _window(change)),
                    ("Why", change.business_justification or "not given"),
                    ("Risk", str(change.risk_assessment) if change.risk_assessment_id else "not assessed"),
                ],
            },
            subject=f"{change.title}: may affect you",
            about=change,
        )
    return rows


def window_people(change) -> list:
    """Who is invited to a change window: its implementer, change manager and requester."""
    people = [change.implementer, change.change_manager, change.requester]
    return [p for p in people if p is not None and p.is_active]


def window_event(change, *, cancelled: bool = False) -> ical.Invitation:
    url = absolute_url(change)
    return ical.Invitation(
        uid=ical.uid("change", change.pk),
        sequence=change.ical_sequence,
        start=change.planned_start,
        end=change.planned_end,
        summary=f"{change.reference} {change.title}",
        organizer=change.change_manager or change.requester,
        attendees=window_people(change),
        description=f"Change window of {change.reference} {change.title}.\nImplementer: {person(change.implementer)}\n{url}",
        url=url,
        cancelled=cancelled,
    )


def window_mail(change, *, update: bool = False, cancelled: bool = False, people=None) -> list:
    """The invitation (or its update, or its cancellation) for the change window; `people`:
    to others than the window's people (those no longer invited get the cancellation)."""
    event = window_event(change, cancelled=cancelled)
    if people is not None:
        event.attendees = list(people)
    what = "change window cancelled" if cancelled else ("change window updated" if update else "change window")
    return notifications.write_from_template(
        window_people(change) if people is None else people,
        "changes/window",
        {
            "change": change,
            "window": _window(change),
            "cancelled": cancelled,
            "update": update,
            "fields": [
                ("When", _window(change)),
                ("Implementer", person(change.implementer)),
                ("Status", change.get_status_display()),
            ],
        },
        subject=f"{change.title}: {what}",
        about=change,
        kind="changes.window",
        calendar=ical.invitation(event),
        calendar_method=event.method,
    )
