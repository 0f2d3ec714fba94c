"""A batch cancelled by PostgreSQL as a deadlock victim is tried again, not answered with a 500."""
import pytest
from django.db import OperationalError

from operations import events


class _Deadlock(Exception):
    pgcode = "40P01"


class _Other(Exception):
    pgcode = "23505"


def _failing(times, cause):
    calls = {"n": 0}
    real = events.process

    def process(*, actor, events):
        calls["n"] += 1
        if calls["n"] <= times:
            raise OperationalError("deadlock detected") from cause()
        return real(actor=actor, events=events)

    return process, calls


@pytest.mark.django_db
def test_a_deadlocked_batch_is_retried_and_stored_once(monkeypatch):
    from tests.factories import CIFactory
    from tests.operations.jobs_factories import operator

    CIFactory(name="db-01")
    process, calls = _failing(1, _Deadlock)
    monkeypatch.setattr(events, "process", process)
    monkeypatch.setattr(events, "_inside_callers_transaction", lambda: False)  # as a request is
    result = events.ingest(actor=operator(), payload=[{"source": "nagios", "ci": "db-01", "severity": "warning", "key": "db-01/disk", "message": "disk"}])
    assert calls["n"] == 2 and result.accepted == 1
    from operations.models import MonitoringEvent

    assert MonitoringEvent.objects.count() == 1


@pytest.mark.django_db
def test_other_database_errors_are_not_retried(monkeypatch):
    from tests.factories import CIFactory
    from tests.operations.jobs_factories import operator

    CIFactory(name="db-01")
    process, calls = _failing(1, _Other)
    monkeypatch.setattr(events, "process", process)
    monkeypatch.setattr(events, "_inside_callers_transaction", lambda: False)  # as a request is
    with pytest.raises(OperationalError):
        events.ingest(actor=operator(), payload={"source": "nagios", "ci": "db-01", "severity": "warning", "key": "k", "message": "m"})
    assert calls["n"] == 1


@pytest.mark.django_db
def test_a_deadlock_that_keeps_coming_is_raised_after_three_attempts(monkeypatch):
    from tests.factories import CIFactory
    from tests.operations.jobs_factories import operator

    CIFactory(name="db-01")
    process, calls = _failing(5, _Deadlock)
    monkeypatch.setattr(events, "process", process)
    monkeypatch.setattr(events, "_inside_callers_transaction", lambda: False)  # as a request is
    with pytest.raises(OperationalError):
        events.ingest(actor=operator(), payload={"source": "nagios", "ci": "db-01", "severity": "warning", "key": "k", "message": "m"})
    assert calls["n"] == 3


@pytest.mark.django_db
def test_inside_a_callers_transaction_a_deadlock_is_left_to_the_caller(monkeypatch):
    from tests.factories import CIFactory
    from tests.operations.jobs_factories import operator

    CIFactory(name="db-01")
    process, calls = _failing(1, _Deadlock)
    monkeypatch.setattr(events, "process", process)
    with pytest.raises(OperationalError):  # the test's own transaction is the caller's here
        events.ingest(actor=operator(), payload={"source": "nagios", "ci": "db-01", "severity": "warning", "key": "k", "message": "m"})
    assert calls["n"] == 1
