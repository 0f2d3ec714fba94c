"""The minutes of a meeting, generated from its decisions (page, print and API share them)."""

from reviews import selectors


def build(meeting) -> dict:
    items = selectors.agenda(meeting)
    rows = []
    for item in items:
        subject = item.get_subject()
        rows.append(
            {
                "position": item.position,
                "subject": str(subject) if subject is not None else item.subject_repr,
                "subject_reference": getattr(subject, "reference", ""),
                "subject_url": subject.get_absolute_url()
                if subject is not None and hasattr(subject, "get_absolute_url")
                else "",
                "state": item.state,
                "state_label": item.get_state_display(),
                "decision": item.decision,
                "reason": item.reason,
                "decided_by": str(item.decided_by) if item.decided_by_id else "",
                "decided_at": item.decided_at,
                "votes": item.tally,
                "deferred_to": item.deferred_to.meeting.reference if item.deferred_to_id else "",
            }
        )
    return {
        "meeting": meeting,
        "attendees": [str(u) for u in meeting.attendees.order_by("username")],
        "items": rows,
        "health_report": _health_report(items),
    }


def _health_report(items) -> dict | None:
    """An Operations Review's health report, as decided (or live while undecided)."""
    for item in items:
        view = getattr(item, "operations_review", None)
        if view is not None and view.is_period and view.report is not None:
            return {"position": item.position, "period": view.period, "report": view.report}
    return None
