"""The freeze clock: activates and ends freezes on time, through the one door, as the system."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from mof.models import AuditEntry
from mof.transitions import perform_transition
from operations.models import FreezeWindow
from operations.tasks import freeze_clock
from tests.operations.factories import freeze

pytestmark = pytest.mark.django_db


def test_clock_activates_and_ends_freezes():
    now = timezone.now()
    started = freeze(start=now - dt.timedelta(hours=1), end=now + dt.timedelta(hours=1), name="started")
    over = freeze(start=now - dt.timedelta(days=2), end=now - dt.timedelta(days=1), status="active", name="over")
    never_active = freeze(start=now - dt.timedelta(days=2), end=now - dt.timedelta(days=1), name="missed")
    future = freeze(start=now + dt.timedelta(days=1), end=now + dt.timedelta(days=2), name="future")
    proposed = freeze(
        start=now - dt.timedelta(hours=1), end=now + dt.timedelta(hours=1), status="proposed", name="proposed"
    )
    assert freeze_clock() == {"activated": 1, "ended": 2}
    status = dict(FreezeWindow.objects.values_list("name", "status"))
    assert status == {
        "started": "active",
        "over": "ended",
        "missed": "ended",
        "future": "approved",
        "proposed": "proposed",
    }
    entry = AuditEntry.objects.get(
        model_label="operations.freezewindow", object_id=str(started.pk), action="transition"
    )
    assert (entry.transition, entry.actor_id, entry.actor_name, entry.via) == (
        "activate",
        None,
        "system",
        "task:operations.freeze_clock",
    )
    assert freeze_clock() == {"activated": 0, "ended": 0}  # idempotent
    assert {over.pk, never_active.pk, future.pk, proposed.pk}


def test_nobody_else_acts_as_the_system():
    now = timezone.now()
    f = freeze(start=now - dt.timedelta(hours=1), end=now + dt.timedelta(hours=1))
    with pytest.raises(PermissionDenied):
        perform_transition(model=FreezeWindow, pk=f.pk, name="activate", actor=None)
    assert FreezeWindow.objects.get(pk=f.pk).status == "approved"
