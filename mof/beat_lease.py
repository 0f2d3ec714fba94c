"""Which beat schedules: a lease in the shared Redis cache, so that two beats (a second
replica for failover, an old and a new one overlapping in a rolling update) never queue the
same periodic task twice. The beat holding the lease schedules and renews it at every tick
(at most every 5 seconds); the others only tick their heartbeat file and ask again. When the
holder stops it lets go (a standby takes over at its next tick); when it dies the lease
lapses after MOF_BEAT_LEASE_SECONDS and a standby takes over then.

When it cannot be told (the cache is not Redis, as with `make run`'s one beat on files; or
Redis is unreachable) every beat schedules: the periodic tasks are idempotent (two sweeps at
once record and send nothing twice), so the doubt costs work, never a lost or doubled
notification, and the sweep never stops for want of a lock.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from django.conf import settings
from redis.exceptions import RedisError

log = logging.getLogger("mof.beat")

KEY = "beat-lease"

# Renew if it is ours, take it if it is free; 1 if held by us afterwards, 0 if by another.
HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _redis():
    """(client, key) of the shared cache's Redis, or None when the cache is not Redis."""
    from django.core.cache import caches

    from mof.cache import RedisCache

    cache = caches["default"]
    if not isinstance(cache, RedisCache):
        return None
    return cache._cache.get_client(write=True), cache.make_and_validate_key(KEY)


class Lease:
    def __init__(self, holder: str | None = None, seconds: float | None = None):
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.seconds = seconds if seconds is not None else settings.MOF_BEAT_LEASE_SECONDS
        self.held = None  # the last answer: True, False, or None (could not tell)

    def hold(self) -> bool:
        """True if this beat should schedule now (it holds the lease, or nobody can tell)."""
        try:
            found = _redis()
            if found is None:
                held = None
            else:
                client, key = found
                held = bool(client.eval(HOLD, 1, key, self.holder, int(self.seconds * 1000)))
        except RedisError as exc:
            if self.held is not None:
                log.warning(
                    "beat lease: the cache cannot be reached (%s: %s): scheduling anyway (the tasks are idempotent)",
                    type(exc).__name__,
                    exc,
                )
            held = None
        if held != self.held:
            if held:
                log.info("beat lease: %s holds it and schedules", self.holder)
            elif held is False:
                log.info("beat lease: another beat schedules; %s stands by", self.holder)
        self.held = held
        return held is not False

    def release(self) -> None:
        try:
            found = _redis()
            if found is not None:
                client, key = found
                client.eval(RELEASE, 1, key, self.holder)
        except RedisError:
            pass  # it lapses on its own
        self.held = None
