"""Celery tasks of the Operating quadrant: thin, idempotent.

`operations.freeze_clock` (run it from beat, e.g. every 5 minutes) keeps the recorded
status of freezes in step with the clock: approved freezes whose start has come are
activated, active (or approved) ones whose end has passed are ended. It goes through
the one door (mof.transitions.perform_transition) as the system (actor None): the
transitions' permission admits None only while this task runs (operations.models
SYSTEM_CLOCK), so no page, endpoint or anonymous caller can act as the system.

Whether a freeze blocks a change does not depend on this task: a freeze is in force
when approved or active and overlapping (operations.selectors), so a late or stopped
beat never lets a change slip into a freeze.
"""

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from mof import audit
from mof.transitions import ConcurrentTransition, TransitionBlocked, TransitionNotAllowed, perform_transition
from operations.models import SYSTEM_CLOCK, FreezeStatus, FreezeWindow


@shared_task(name="operations.freeze_clock")
def freeze_clock() -> dict:
    """Activate and end freezes whose time has come. Returns {"activated": n, "ended": n}."""
    now = timezone.now()
    done = {"activated": 0, "ended": 0}
    due_end = FreezeWindow.objects.filter(Q(status=FreezeStatus.ACTIVE) | Q(status=FreezeStatus.APPROVED), end__lte=now)
    due_start = FreezeWindow.objects.filter(status=FreezeStatus.APPROVED, start__lte=now, end__gt=now)
    token = SYSTEM_CLOCK.set(True)
    try:
        with audit.acting_as(None, via="task:operations.freeze_clock"):
            for pk in list(due_end.values_list("pk", flat=True)):
                done["ended"] += _take(pk, "finish")
            for pk in list(due_start.values_list("pk", flat=True)):
                done["activated"] += _take(pk, "activate")
    finally:
        SYSTEM_CLOCK.reset(token)
    return done


def _take(pk, name) -> int:
    try:
        perform_transition(model=FreezeWindow, pk=pk, name=name, actor=None)
    except (TransitionNotAllowed, ConcurrentTransition, TransitionBlocked, FreezeWindow.DoesNotExist):
        return 0  # someone (a manager, another worker) moved it first: nothing to do
    return 1


from operations.tasks_jobs import jobs_check, jobs_refresh  # noqa: E402,F401  (the job schedule's tasks)
