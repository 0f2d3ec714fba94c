"""Reads of service level management that other apps may use."""
from django.db.models import Subquery

from slas.models import ClockState, SLAClock


def earliest_due(ticket_type: str, ticket_id):
    """A subquery: the earliest due time of a ticket's running (or breached, still open) clocks."""
    return Subquery(
        SLAClock.objects.filter(ticket_type=ticket_type, ticket_id=ticket_id, state__in=[ClockState.RUNNING, ClockState.BREACHED], due_at__isnull=False)
        .order_by("due_at").values("due_at")[:1]
    )
