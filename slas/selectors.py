"""Reads of service level management that other apps may use."""

from django.db.models import OuterRef, Subquery

from mof.readmostly import ReadMostly
from slas.models import ClockState, SLAClock, SLAStatus, SLAVersion


def _newest_active_versions() -> tuple[SLAVersion, ...]:
    """The newest version of every active SLA/OLA, with its calendar and SLA, in SLA order: an
    SLA whose newest version no longer matches a ticket starts no clock on it, whatever its
    older versions said."""
    newest = SLAVersion.objects.filter(sla=OuterRef("sla")).order_by("-number").values("number")[:1]
    return tuple(
        SLAVersion.objects.filter(sla__status=SLAStatus.ACTIVE, number=Subquery(newest))
        .select_related("calendar", "sla")
        .order_by("sla_id")
    )


# Read on every filing and every ticket change, written a few times a year: kept per process
# (slas.receivers says which writes change it).
active_versions = ReadMostly("slas.active_versions", _newest_active_versions)


def earliest_due(ticket_type: str, ticket_id):
    """A subquery: the earliest due time of a ticket's running (or breached, still open) clocks."""
    return Subquery(
        SLAClock.objects.filter(
            ticket_type=ticket_type,
            ticket_id=ticket_id,
            state__in=[ClockState.RUNNING, ClockState.BREACHED],
            due_at__isnull=False,
        )
        .order_by("due_at")
        .values("due_at")[:1]
    )


def earliest_due_started(ticket_type: str, ticket_id):
    """A subquery: when the clock of `earliest_due` started (its share of time left)."""
    return Subquery(
        SLAClock.objects.filter(
            ticket_type=ticket_type,
            ticket_id=ticket_id,
            state__in=[ClockState.RUNNING, ClockState.BREACHED],
            due_at__isnull=False,
        )
        .order_by("due_at")
        .values("started_at")[:1]
    )


# Time left under this share of the clock's span: shown as at risk (amber).
SLA_AT_RISK_SHARE = 0.25


def sla_standing(due, started, now) -> dict | None:
    """How a ticket stands against its earliest running clock: "breached" (due passed),
    "at_risk" (less than SLA_AT_RISK_SHARE of its span left) or "ok", with the time left
    (negative once breached) in seconds and in words. None without a running clock."""
    if due is None:
        return None
    left = (due - now).total_seconds()
    span = (due - started).total_seconds() if started is not None else 0
    if left <= 0:
        level = "breached"
    elif span > 0 and left / span < SLA_AT_RISK_SHARE:
        level = "at_risk"
    else:
        level = "ok"
    words = _duration(abs(left))
    return {
        "level": level,
        "seconds": int(left),
        "due": due,
        "text": f"breached {words} ago" if left <= 0 else f"{words} left",
    }


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def tickets_due_by(ticket_type: str, horizon):
    """A subquery: the ids of the tickets with a running (or breached, still open) clock due by `horizon`.

    Queues filter on it rather than on `earliest_due(...) <= horizon`: the few clocks due soon
    drive the query, instead of a due-time lookup for every open ticket (seconds at 50,000 open).
    """
    return SLAClock.objects.filter(
        ticket_type=ticket_type, state__in=[ClockState.RUNNING, ClockState.BREACHED], due_at__lte=horizon
    ).values("ticket_id")
