"""Set-up helpers of the forward-schedule tests: changes placed straight into a state
(bypassing transitions, for set-up only), freezes and maintenance windows."""

import datetime as dt

from changes.conflicts import refresh_marks
from changes.models import RequestForChange
from operations.models import FreezeWindow, MaintenanceWindow
from tests.changes.factories import ChangeFactory
from tests.factories import ManagerFactory

UTC = dt.timezone.utc


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def scheduled_change(*, start, hours=2, cis=(), status="scheduled", impacted=None, type="normal", **fields):
    change = ChangeFactory(type=type, planned_start=start, planned_end=start + dt.timedelta(hours=hours), **fields)
    if cis:
        change.affected_cis.set(cis)
    updates = {"status": status}
    if impacted is not None:
        updates["impacted_ci_ids"] = sorted(impacted)
    RequestForChange.objects.filter(pk=change.pk).update(**updates)
    # As a transition into that state would: the stored conflict marks of it and its neighbours.
    refresh_marks(change_ids=[change.pk], periods=[(change.planned_start, change.planned_end)])
    return RequestForChange.objects.get(pk=change.pk)


def freeze(*, start, end, status="approved", services=(), name="Quarter end"):
    proposer = ManagerFactory(username="freeze-proposer")
    window = FreezeWindow.objects.create(name=name, start=start, end=end, proposed_by=proposer)
    if services:
        window.services.set(services)
    if status != "proposed":
        FreezeWindow.objects.filter(pk=window.pk).update(status=status)
    return FreezeWindow.objects.get(pk=window.pk)


def maintenance(*, weekdays, start_time, minutes, tz="UTC", service=None, ci=None, name="Weekly window"):
    return MaintenanceWindow.objects.create(
        name=name,
        weekdays=weekdays,
        start_time=start_time,
        duration_minutes=minutes,
        time_zone=tz,
        service=service,
        ci=ci,
    )
