"""Sign-in lockout records are pruned once they count nothing: no lock in force and no
failure for MOF_LOGIN_LOCKOUT_RETENTION_DAYS (never less than a window or a lockout), by a
daily beat task; a count in progress or a lock in force is never lost."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from mof import lockout
from mof.models import AuditEntry, LoginLockout
from mof.models_access import LockoutKind

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def limits(settings):
    settings.MOF_LOGIN_LOCKOUT_ATTEMPTS = 3
    settings.MOF_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS = 5
    settings.MOF_LOGIN_LOCKOUT_WINDOW = 600
    settings.MOF_LOGIN_LOCKOUT_SECONDS = 300
    settings.MOF_LOGIN_LOCKOUT_RETENTION_DAYS = 30


def record(key, *, last_failure_ago=None, locked_for=None, failures=1, kind=LockoutKind.PAIR, last_success_ago=None):
    now = timezone.now()
    return LoginLockout._base_manager.create(
        kind=kind,
        key=key,
        failures=failures,
        last_success_at=now - last_success_ago if last_success_ago is not None else None,
        last_failure_at=now - last_failure_ago if last_failure_ago is not None else None,
        window_started_at=now - last_failure_ago if last_failure_ago is not None else None,
        locked_until=now + locked_for if locked_for is not None else None,
    )


def keys():
    return sorted(LoginLockout._base_manager.values_list("key", flat=True))


def test_idle_records_past_the_retention_are_pruned_and_the_rest_kept(caplog):
    record("old-failure", last_failure_ago=timedelta(days=31))
    record("old-served-lock", last_failure_ago=timedelta(days=40), locked_for=-timedelta(days=40))
    record("never-failed")  # no failure at all: nothing to keep
    record("10.0.0.9", last_failure_ago=timedelta(days=31), kind=LockoutKind.ADDRESS)
    record("recent", last_failure_ago=timedelta(days=29))
    record("still-locked", last_failure_ago=timedelta(days=31), locked_for=timedelta(hours=1))
    with caplog.at_level(logging.INFO, logger="mof.security"):
        assert lockout.lockouts_prune() == 4
    assert keys() == ["recent", "still-locked"]
    trail = AuditEntry.objects.filter(model_label="mof.loginlockout", action="delete")
    assert sorted(trail.values_list("object_repr", flat=True)) == [
        "IP address 10.0.0.9",
        "Username never-failed",
        "Username old-failure",
        "Username old-served-lock",
    ]
    assert set(trail.values_list("via", "actor_name")) == {("task:mof.lockouts_prune", "system")}
    assert any("4 sign-in lockout record(s) past their retention pruned" in r.getMessage() for r in caplog.records)
    assert lockout.lockouts_prune() == 0


def test_a_count_in_progress_or_a_lock_outlives_a_shorter_retention(settings):
    settings.MOF_LOGIN_LOCKOUT_RETENTION_DAYS = 0
    record("counting", last_failure_ago=timedelta(seconds=500))  # inside the 600 s window
    record("just-locked", last_failure_ago=timedelta(seconds=700), locked_for=timedelta(seconds=10))
    record("done", last_failure_ago=timedelta(seconds=700))
    assert lockout.lockouts_prune() == 1
    assert keys() == ["counting", "just-locked"]


def test_a_pair_that_signed_in_within_the_retention_is_kept():
    """It is what exempts its user from the address's spraying delay (mof.lockout)."""
    record("carol", last_success_ago=timedelta(days=29))
    record("old-carol", last_success_ago=timedelta(days=31))
    record("failed-later", last_success_ago=timedelta(days=60), last_failure_ago=timedelta(days=1))
    assert lockout.lockouts_prune() == 1
    assert keys() == ["carol", "failed-later"]


def test_pruning_works_in_chunks():
    for n in range(7):
        record(f"user-{n}", last_failure_ago=timedelta(days=60))
    assert lockout.lockouts_prune(chunk=3) == 7
    assert keys() == []


def test_a_failure_for_a_pruned_key_counts_afresh():
    record("alice", last_failure_ago=timedelta(days=60), failures=2)
    lockout.lockouts_prune()
    lockout.record_failure(username="alice", address="")
    row = LoginLockout._base_manager.get(key="alice")
    assert row.failures == 1 and row.locked_until is None


def test_a_failure_counted_while_its_row_is_pruned_is_not_lost(monkeypatch):
    """The pruning may delete the row between the counting's insert-if-missing and its row
    lock: the counting inserts it again instead of failing the sign-in."""
    record("alice", last_failure_ago=timedelta(days=60), failures=2)
    manager = LoginLockout._meta.base_manager
    real = manager.bulk_create
    calls = []

    def insert_then_pruned(objs, **kwargs):
        result = real(objs, **kwargs)
        if not calls:  # the first time, the pruning wins the race
            lockout.lockouts_prune()
        calls.append(1)
        return result

    monkeypatch.setattr(manager, "bulk_create", insert_then_pruned)
    lockout.record_failure(username="alice", address="")
    assert len(calls) == 2
    assert LoginLockout._base_manager.get(key="alice").failures == 1


def test_the_daily_beat_task_prunes():
    from django_celery_beat.models import PeriodicTask

    from mof.tasks import lockouts_prune

    record("old", last_failure_ago=timedelta(days=31))
    record("new", last_failure_ago=timedelta(minutes=1))
    assert lockouts_prune.apply().get() == 1
    assert keys() == ["new"]
    task = PeriodicTask.objects.get(task="mof.lockouts_prune")
    assert task.enabled and (task.interval.every, task.interval.period) == (1, "days")
