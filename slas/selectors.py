"""Reads of service level management that other apps may use."""
from django.db.models import Subquery

from slas.models import ClockState, SLAClock


def earliest_due(ticket_type: str, ticket_id):
    """A subquery: the earliest due time of a ticket's running (or breached, still open) clocks."""
    return Subquery(
        SLAClock.objects.filter(ticket_type=ticket_type, ticket_id=ticket_id, state__in=[ClockState.RUNNING, ClockState.BREACHED], due_at__isnull=False)
        .order_by("due_at").values("due_at")[:1]
    )


def tickets_due_by(ticket_type: str, horizon):
    """A subquery: the ids of the tickets with a running (or breached, still open) clock due by `horizon`.

    Queues filter on it rather than on `earliest_due(...) <= horizon`: the few clocks due soon
    drive the query, instead of a due-time lookup for every open ticket (seconds at 50,000 open).
    """
    return SLAClock.objects.filter(
        ticket_type=ticket_type, state__in=[ClockState.RUNNING, ClockState.BREACHED], due_at__lte=horizon
    ).values("ticket_id")
