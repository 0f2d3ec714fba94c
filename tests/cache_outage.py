"""Helpers of the cache-outage tests: a private redis-server this test starts, pauses and
kills (never the shared one; tests/integration/stack.py's, plus SIGSTOP), and the settings
that point the portal's cache at it."""

from __future__ import annotations

import os
import shutil
import signal
import time

import pytest

from tests.integration.stack import RedisServer, free_port  # noqa: F401  (free_port: for the tests)


class PrivateRedis(RedisServer):
    """No persistence, so a restart starts empty; pause() hangs it instead."""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if getattr(self, "paused", False):
            self.resume()
        super().stop()

    def pause(self):
        """SIGSTOP: the port still accepts connections but nothing answers (a hung server or a
        network black hole): every command waits for its socket timeout."""
        os.kill(self.process.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self):
        os.kill(self.process.proc.pid, signal.SIGCONT)
        self.paused = False

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=1)


@pytest.fixture
def private_redis(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server on the PATH")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def redis_caches(url: str) -> dict:
    """CACHES as mof.settings builds them for a redis:// CACHE_URL."""
    from django.conf import settings

    return {
        "default": {
            "BACKEND": "mof.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "mof",
            "OPTIONS": dict(settings.CACHE_REDIS_OPTIONS),
        }
    }


def rates(**overrides) -> dict:
    from django.conf import settings

    scopes = {scope: None for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}
    return {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**scopes, **overrides}}


@pytest.fixture
def fresh_cache_state():
    """Nothing a previous test kept or counted in this process: the rate limiter's own
    counters, the read-mostly values and their pending generations."""
    from mof import readmostly
    from mof.api import throttling

    def reset():
        throttling._local_counts.clear()
        throttling._local_state.update(pruned_at=0.0, logged_at=None)
        for kept in readmostly._ALL.values():
            kept._kept = None
        readmostly._unbumped.clear()

    reset()
    yield
    reset()


@pytest.fixture
def one_window(monkeypatch):
    """The rate limiter's clock stands still, 30 s into a minute: the requests of a test never
    straddle two fixed windows."""
    from types import SimpleNamespace

    from mof.api import throttling

    still = time.time() // 86400 * 86400 + 30.5
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: still))


def count_connections(monkeypatch) -> list:
    """Every connection the Redis client takes from its pool (a command about to go out)."""
    import redis

    taken = []
    original = redis.ConnectionPool.get_connection

    def spy(self, *args, **kwargs):
        taken.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.ConnectionPool, "get_connection", spy)
    return taken


def filing(group, service) -> dict:
    return {
        "title": "Mail down",
        "description": "No mail since 9:00",
        "service": service.pk,
        "assignment_group": group.pk,
        "impact": 2,
        "urgency": 2,
    }
