"""The shared cache's Redis backend: Django's, with one client per connection pool, and a
circuit breaker so that an unreachable Redis degrades the portal instead of failing it.

One client per pool: Django's RedisCacheClient.get_client() builds a new redis.Redis for
every cache call, copying its ~170 response callbacks each time; a filing makes two such
calls (the read-mostly generations, mof.readmostly) and they cost more than the round trips.
A redis.Redis is safe to share between threads (each command takes a connection from the
pool), and Django keeps one backend, so one pool, per thread anyway.

When Redis cannot be reached (refused, timed out, or failing its commands):
* reads answer a miss and writes do nothing (get -> default, add/set -> False, get_many ->
  {}): every use of the cache is an optimisation, so the caller does the work itself
  (mof.readmostly reads the tables);
* counters cannot be faked: incr/decr raise CacheUnavailable, and the rate limiter counts
  in the process instead (mof.api.throttling);
* the breaker opens for MOF_CACHE_RETRY_SECONDS: meanwhile no call touches the network, so a
  dead or blackholed Redis costs each request nothing, not a timeout per cache call. The
  first call after that tries Redis again. Short socket timeouts (CACHES OPTIONS, see
  mof/settings.py) bound what that one call can wait.
* one warning when Redis goes away, one a minute while it stays away, one when it is back.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache.backends import redis as django_redis
from django.core.signals import setting_changed
from redis.exceptions import RedisError

log = logging.getLogger("mof.cache")

LOG_EVERY = 60.0  # seconds between two "still unreachable" warnings of one process


class CacheUnavailable(Exception):
    """The shared cache cannot be reached now (or failed moments ago and is left alone)."""


class Breaker:
    """Open (refuse at once) for a while after a failure; closed (pass) otherwise. Shared by
    the threads of a process: its state is a few floats, and a race between two threads only
    means one extra attempt or one extra log line."""

    def __init__(self, name: str):
        self.name = name
        self.failed_at: float | None = None  # monotonic time of the last failure (None: closed)
        self.down_since: float | None = None
        self.logged_at = 0.0

    def __enter__(self):
        if self.failed_at is not None and time.monotonic() - self.failed_at < settings.MOF_CACHE_RETRY_SECONDS:
            raise CacheUnavailable(f"cache {self.name} unreachable (retried every {settings.MOF_CACHE_RETRY_SECONDS}s)")
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            if self.down_since is not None:
                log.warning("cache %s reachable again after %.0fs", self.name, time.monotonic() - self.down_since)
                self.down_since = None
            self.failed_at = None
            return False
        if not issubclass(exc_type, RedisError):
            return False  # a bug or a bad value, not an outage
        now = time.monotonic()
        self.failed_at = now
        if self.down_since is None:
            self.down_since = self.logged_at = now
            log.warning(
                "cache %s unreachable (%s: %s): degrading (no shared rate limits, read-mostly tables read each time)",
                self.name,
                exc_type.__name__,
                exc,
            )
        elif now - self.logged_at >= LOG_EVERY:
            self.logged_at = now
            log.warning(
                "cache %s still unreachable after %.0fs (%s: %s)",
                self.name,
                now - self.down_since,
                exc_type.__name__,
                exc,
            )
        raise CacheUnavailable(str(exc)) from exc


_breakers: dict[tuple, Breaker] = {}


def breaker_for(servers) -> Breaker:
    """The process's breaker of these Redis servers (one for every thread's backend)."""
    key = tuple(servers)
    found = _breakers.get(key)
    if found is None:
        found = _breakers.setdefault(key, Breaker(",".join(_safe(s) for s in key)))
    return found


def reachable(backend) -> bool:
    """False while a Redis backend of mof.cache is known to be away (its last call failed);
    True for other backends, which raise their errors."""
    breaker = getattr(backend, "breaker", None)
    return breaker is None or breaker.down_since is None


def _safe(url: str) -> str:
    """The URL without its password, for the log."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}"


def _reset_breakers(setting, **kwargs):
    if setting == "CACHES":  # tests pointing the cache elsewhere start with closed breakers
        _breakers.clear()


setting_changed.connect(_reset_breakers, dispatch_uid="mof_cache_reset_breakers")


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, servers, **options):
        super().__init__(servers, **options)
        self._clients = {}  # pool index -> client
        self.breaker = breaker_for(self._servers)

    def get_client(self, key=None, *, write=False):
        # As Django's: the server of the pool index it picks, and that server's pool.
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client

    # Reads miss and writes are dropped while Redis is away (see the module's docstring).

    def get(self, key, default):
        try:
            with self.breaker:
                return super().get(key, default)
        except CacheUnavailable:
            return default

    def get_many(self, keys):
        try:
            with self.breaker:
                return super().get_many(keys)
        except CacheUnavailable:
            return {}

    def has_key(self, key):
        try:
            with self.breaker:
                return super().has_key(key)
        except CacheUnavailable:
            return False

    def add(self, key, value, timeout):
        try:
            with self.breaker:
                return super().add(key, value, timeout)
        except CacheUnavailable:
            return False

    def set(self, key, value, timeout):
        try:
            with self.breaker:
                super().set(key, value, timeout)
        except CacheUnavailable:
            pass

    def set_many(self, data, timeout):
        try:
            with self.breaker:
                super().set_many(data, timeout)
        except CacheUnavailable:
            pass

    def touch(self, key, timeout):
        try:
            with self.breaker:
                return super().touch(key, timeout)
        except CacheUnavailable:
            return False

    def delete(self, key):
        try:
            with self.breaker:
                return super().delete(key)
        except CacheUnavailable:
            return False

    def delete_many(self, keys):
        try:
            with self.breaker:
                super().delete_many(keys)
        except CacheUnavailable:
            pass

    # A counter or a flush cannot be faked: CacheUnavailable reaches the caller.

    def incr(self, key, delta):
        with self.breaker:
            return super().incr(key, delta)

    def clear(self):
        with self.breaker:
            return super().clear()


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient

    @property
    def breaker(self) -> Breaker:
        return self._cache.breaker
