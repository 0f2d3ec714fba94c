"""Two beats at once: only the holder of the lease in the shared Redis cache schedules; the
other stands by and takes over when the holder lets go or dies (its lease lapses). Without a
Redis cache (or with Redis away) every beat schedules: the tasks are idempotent."""

import time

import pytest
from django.test import override_settings

from mof.beat_lease import Lease
from tests.cache_outage import private_redis, redis_caches  # noqa: F401  (a fixture)


@pytest.fixture
def shared_cache(private_redis):  # noqa: F811
    from django.core.cache import caches

    with override_settings(CACHES=redis_caches(private_redis.url)):
        yield private_redis
        caches["default"].close()


def test_only_the_holder_of_the_lease_schedules_and_a_standby_takes_over_when_it_lets_go(shared_cache):
    a, b = Lease("beat-a", seconds=30), Lease("beat-b", seconds=30)
    assert a.hold() is True
    assert b.hold() is False
    assert a.hold() is True and b.hold() is False  # renewed, still a's
    a.release()
    assert b.hold() is True
    assert a.hold() is False


def test_a_dead_holders_lease_lapses_and_the_standby_takes_over(shared_cache):
    a, b = Lease("beat-a", seconds=0.5), Lease("beat-b", seconds=0.5)
    assert a.hold() and not b.hold()
    time.sleep(0.7)  # a died: it renews no more
    assert b.hold() is True
    assert a.hold() is False


def test_releasing_a_lease_another_holds_takes_nothing_from_it(shared_cache):
    a, b = Lease("beat-a", seconds=30), Lease("beat-b", seconds=30)
    assert a.hold()
    b.release()
    assert not b.hold() and a.hold()


def test_without_a_redis_cache_or_with_redis_away_every_beat_schedules(shared_cache):
    a, b = Lease("beat-a", seconds=30), Lease("beat-b", seconds=30)
    assert a.hold() and not b.hold()
    shared_cache.stop()
    assert b.hold() is True  # cannot tell: schedule (idempotent tasks), never stop the sweep
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}):
        assert Lease("x").hold() and Lease("y").hold()


@pytest.fixture
def schedulers(shared_cache, monkeypatch, tmp_path):
    """HeartbeatSchedulers on the test database whose sends are recorded instead of published."""
    from mof.beat_scheduler import HeartbeatScheduler
    from mof.celery import app

    sent = []
    monkeypatch.setenv("MOF_BEAT_HEARTBEAT_FILE", str(tmp_path / "beat-heartbeat"))
    monkeypatch.setattr(HeartbeatScheduler, "producer", None)
    monkeypatch.setattr(
        HeartbeatScheduler,
        "apply_entry",
        lambda self, entry, producer=None: sent.append((self.lease.holder, entry.task)),
    )
    made = []

    def make(name):
        scheduler = HeartbeatScheduler(app=app, lazy=False)
        scheduler.lease.holder = name
        made.append(scheduler)
        return scheduler

    yield make, sent
    for scheduler in made:
        scheduler.lease.release()
        scheduler._finalize.cancel()  # its sync at exit would find the test database gone


def beat(scheduler, rounds: int = 100):
    """One turn of beat's loop: tick until nothing more is due now (tick answers 0 while it is)."""
    for _ in range(rounds):
        if scheduler.tick() > 0:
            return
    raise AssertionError("beat kept finding due tasks")


def restore_migrated_schedule():
    """The schedule as the apps' migrations register it (mof.beat.register; idempotent): a
    transactional test that ran before (a browser test) may have flushed those rows, and serialized
    rollback cannot bring them back once Playwright's event loop replaced the connection."""
    from django.apps import apps
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import RunPython

    for migration in MigrationLoader(connection, ignore_no_migrations=True).disk_migrations.values():
        for operation in migration.operations:
            if isinstance(operation, RunPython) and operation.code.__qualname__ == "register.<locals>.add":
                operation.code(apps, None)


def all_due():
    """Every periodic task last ran an hour ago: due at the next tick."""
    import datetime as dt

    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    restore_migrated_schedule()
    PeriodicTask.objects.update(last_run_at=timezone.now() - dt.timedelta(hours=1))
    PeriodicTasks.update_changed()


@pytest.mark.django_db(transaction=True)
def test_of_two_beats_one_sends_each_due_task_and_the_standby_goes_on_in_rhythm_when_it_stops(schedulers):
    make, sent = schedulers
    all_due()
    a, b = make("beat-a"), make("beat-b")
    beat(a), beat(b)
    sweeps = [holder for holder, task in sent if task == "slas.sweep"]
    assert sweeps == ["beat-a"]  # the sweep queued once, by the holder
    assert {holder for holder, _ in sent} == {"beat-a"}
    sent.clear()
    beat(b)
    assert sent == []  # the standby queues nothing
    a.close()  # beat a stops (SIGTERM): lets go of the lease, its runs are in the database
    beat(b)
    assert sent == []  # took over with a's last runs: nothing is due again yet
    all_due()
    beat(b)
    assert ("beat-b", "slas.sweep") in sent and {holder for holder, _ in sent} == {"beat-b"}
