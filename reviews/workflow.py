"""The meeting's state graph: planned > in session > closed (a planned meeting may be cancelled).

Transitions go through mof.transitions.perform_transition like every other lifecycle;
who may take them is decided by mof.policy (reviews.policy)."""

from django.utils import timezone
from django_fsm import transition

from mof.transition_forms import ReasonForm
from mof.workflows import condition, permission
from reviews.choices import ItemState
from reviews.choices import MeetingState as M


@condition("A meeting is closed once every agenda item is decided or deferred.")
def agenda_settled(meeting) -> bool:
    return not meeting.items.filter(state=ItemState.PENDING).exists()


class MeetingWorkflow:
    @transition(
        field="state",
        source=M.PLANNED,
        target=M.IN_SESSION,
        permission=permission("review.transition.open"),
        custom={"label": "Open the meeting"},
    )
    def open(self, *, by=None, **data):
        self.opened_at = timezone.now()

    @transition(
        field="state",
        source=M.IN_SESSION,
        target=M.CLOSED,
        conditions=[agenda_settled],
        permission=permission("review.transition.close"),
        custom={"label": "Close the meeting"},
    )
    def close(self, *, by=None, **data):
        self.closed_at = timezone.now()

    @transition(
        field="state",
        source=M.PLANNED,
        target=M.CANCELLED,
        permission=permission("review.transition.close"),
        custom={"label": "Cancel the meeting", "form": ReasonForm},
    )
    def cancel(self, *, by=None, reason: str = "", **data):
        self.closed_at = timezone.now()


class AgendaItemWorkflow:
    """pending -> decided or deferred (rolled forward to the next meeting): the meeting's
    decision, taken in session by reviews.services.decide, which then passes the door."""

    def _decided(self, by):
        self.decided_by = by
        self.decided_at = timezone.now()

    @transition(
        field="state",
        source=ItemState.PENDING,
        target=ItemState.DECIDED,
        permission=permission("review.decide"),
        custom={"label": "Decide"},
    )
    def decide(self, *, by=None, **data):
        self._decided(by)

    @transition(
        field="state",
        source=ItemState.PENDING,
        target=ItemState.DEFERRED,
        permission=permission("review.decide"),
        custom={"label": "Defer"},
    )
    def defer(self, *, by=None, **data):
        self._decided(by)
