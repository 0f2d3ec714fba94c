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
