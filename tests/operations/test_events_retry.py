"""A batch cancelled by PostgreSQL as a deadlock victim is tried again, not answered with a 500."""

import pytest
from django.db import OperationalError

from operations import events
from tests.factories import CIFactory
from tests.operations.jobs_factories import operator

pytestmark = pytest.mark.django_db

EVENT = {"source": "nagios", "ci": "db-01", "severity": "warning", "key": "db-01/disk", "message": "disk"}
DEADLOCK, UNIQUE_VIOLATION = "40P01", "23505"


@pytest.fixture
def failing_process(monkeypatch):
    """Make the batch's transaction fail `times` times with a database error of `pgcode`,
    as a request would see it (no transaction of the caller's around it, unless `in_caller`)."""
    CIFactory(name="db-01")
    calls = {"n": 0}
    real = events.process

    def arrange(times, pgcode, *, in_caller=False):
        cause = type("DatabaseError", (Exception,), {"pgcode": pgcode})

        def process(*, actor, events):
            calls["n"] += 1
            if calls["n"] <= times:
                raise OperationalError("database error") from cause()
            return real(actor=actor, events=events)

        monkeypatch.setattr(events, "process", process)
        if not in_caller:  # the test's own transaction would otherwise count as the caller's
            monkeypatch.setattr(events, "_inside_callers_transaction", lambda: False)
        return calls

    return arrange


def test_a_deadlocked_batch_is_retried_and_stored_once(failing_process):
    from operations.models import MonitoringEvent

    calls = failing_process(1, DEADLOCK)
    result = events.ingest(actor=operator(), payload=[EVENT])
    assert calls["n"] == 2 and result.accepted == 1
    assert MonitoringEvent.objects.count() == 1


@pytest.mark.parametrize(
    "times, pgcode, in_caller, attempts",
    [
        (1, UNIQUE_VIOLATION, False, 1),  # other database errors are not retried
        (5, DEADLOCK, False, 3),  # a deadlock that keeps coming is raised after three attempts
        (1, DEADLOCK, True, 1),  # inside a caller's transaction, the caller must retry
    ],
)
def test_a_batch_that_cannot_be_retried_raises(failing_process, times, pgcode, in_caller, attempts):
    calls = failing_process(times, pgcode, in_caller=in_caller)
    with pytest.raises(OperationalError):
        events.ingest(actor=operator(), payload=EVENT)
    assert calls["n"] == attempts
