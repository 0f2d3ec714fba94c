"""API rate limits: one counter per caller and scope in the shared cache (Redis in
production, so every server process counts together).

The caller is the user (whether it came with a session or with any of its API tokens: a
user's tokens share one budget, so minting more tokens buys no more requests), the IP
address for anonymous callers. The scope is the view's `throttle_scope` when it sets one
(e.g. "ingest" for bulk ingestion, "login" for the token endpoint), else "token" (any
token of the user), "user" (the user's session) or "anon". Rates come from
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (MOF_RATE_* variables); a scope without a rate is
not limited.

Fixed windows counted with an atomic increment (INCR and EXPIRE in one script in Redis,
cache.add + cache.incr with other caches): no read-modify-write race between processes.
A refusal is 429 with Retry-After (seconds to the next window) and a JSON error.

While the shared cache is unreachable (mof.cache.CacheUnavailable), each process counts in
its own memory with the same rates: a flood stays bounded (by the rate times the number of
processes) and the API keeps answering. A warning says so, at most once a minute.
"""

import contextlib
import logging
import math
import threading
import time
import weakref

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from mof.cache import CacheUnavailable
from mof.models import ApiToken

security_log = logging.getLogger("mof.security")

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/minute' -> (600, 60). Only the first letter of the period counts, as in DRF."""
    count, period = rate.split("/")
    return int(count), PERIODS[period.strip()[0].lower()]


# INCR, and (re)set the expiry: atomic, one round trip. The expiry is set on every hit, so a
# window's key outlives its window by at most `timeout` and never lives forever.
_COUNT_HIT = "local count = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], ARGV[1]) return count"
_count_script = None  # redis-py's Script (EVALSHA, loading the script again if Redis lost it)
_redis_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_NO_BREAKER = contextlib.nullcontext()


def count_hit(key: str, timeout: int) -> int:
    """Add one to the counter `key` (created with `timeout` seconds to live); its new value."""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        # One script call instead of three round trips (Django's add, then incr's EXISTS and
        # INCR); a pipeline would do too, but costs more CPU to build than the script's call.
        full_key = backend.make_and_validate_key(key)
        client = _redis_clients.get(backend)
        if client is None:
            # Django's get_client() builds a new redis.Redis on each call (copying its ~170
            # response callbacks: a third of the counter's CPU); one per cache instance (Django
            # keeps one per thread) on the same connection pool is as safe.
            client = _redis_clients[backend] = backend._cache.get_client(full_key, write=True)
        global _count_script
        if _count_script is None:
            _count_script = client.register_script(_COUNT_HIT)
        # mof.cache's backend fails fast while Redis is away (CacheUnavailable); Django's raises.
        with getattr(backend, "breaker", _NO_BREAKER):
            return int(_count_script(keys=[full_key], args=[timeout], client=client))
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # the window's key expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


# --- the fallback while the shared cache is unreachable: this process's own counters ---

LOG_EVERY = 60.0  # seconds between two "counting per process" warnings
_local_lock = threading.Lock()
_local_counts: dict[str, list] = {}  # key -> [expires at (time.time()), count]
_local_state = {"pruned_at": 0.0, "logged_at": None}


def count_hit_locally(key: str, timeout: int) -> int:
    """As count_hit, in this process's memory. Expired windows are dropped as time passes, so
    the table holds only the callers of the current windows."""
    now = time.time()
    with _local_lock:
        if now - _local_state["pruned_at"] >= 1:
            _local_state["pruned_at"] = now
            for stale in [k for k, (expires, _) in _local_counts.items() if expires <= now]:
                del _local_counts[stale]
        entry = _local_counts.get(key)
        if entry is None or entry[0] <= now:
            entry = _local_counts[key] = [now + timeout, 0]
        entry[1] += 1
        return entry[1]


def _count(key: str, timeout: int) -> int:
    try:
        count = count_hit(key, timeout)
    except (CacheUnavailable, RedisError):
        now = time.time()
        logged_at = _local_state["logged_at"]
        if logged_at is None or now - logged_at >= LOG_EVERY:
            _local_state["logged_at"] = now
            security_log.warning(
                "shared cache unreachable: API rate limits are counted in each process until it is back"
            )
        return count_hit_locally(key, timeout)
    if _local_state["logged_at"] is not None:  # back to the shared counters
        _local_state["logged_at"] = None
        security_log.warning("shared cache reachable again: API rate limits are shared by every process again")
    return count


class PortalRateThrottle(BaseThrottle):
    def __init__(self):
        self._wait = None

    def scope_and_ident(self, request, view) -> tuple[str, str]:
        user = getattr(request, "user", None)
        if isinstance(request.auth, ApiToken):
            ident = f"user:{request.auth.user_id}"  # every token of the user: one budget
        elif user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        scope = getattr(view, "throttle_scope", None)
        if not scope:
            scope = "token" if request.auth is not None else "user" if ident.startswith("user:") else "anon"
        return scope, ident

    def allow_request(self, request, view):
        scope, ident = self.scope_and_ident(request, view)
        # Read at each request, so override_settings (tests) and the environment both apply.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
        if not rate:
            return True
        limit, period = parse_rate(rate)
        now = time.time()
        window = int(now // period)
        count = _count(f"mof:throttle:{scope}:{ident}:{window}", period + 1)
        if count <= limit:
            return True
        self._wait = max(1, math.ceil((window + 1) * period - now))
        if count == limit + 1:  # log once per window, not every refused request
            via = f" (token {request.auth.prefix})" if isinstance(request.auth, ApiToken) else ""
            security_log.warning(
                "rate limit %s (%s) reached by %s%s on %s %s", scope, rate, ident, via, request.method, request.path
            )
        return False

    def wait(self):
        return self._wait
