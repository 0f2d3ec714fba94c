"""Small tables read on every filing and seldom written (the active SLA versions, the priority
matrix, the webhook subscriptions), kept in each process between requests.

Each kept value has a generation in the shared cache (Redis in production). A write to its
tables calls `changed()`: the generation is replaced once the write commits, so every process
reads the tables again on its next request, and the change applies to the next filing. A
request costs one cache read instead of the tables' queries: within one web request the
generations of all kept values are read once, together; outside requests (tasks, commands),
at each use.

Why the care around transactions:
* the generation moves only after commit: a process that reloaded between the write and the
  commit would otherwise keep the old rows under the new generation;
* inside the transaction that wrote the tables, this connection reads them from the database
  every time and keeps nothing: it sees rows nobody else sees yet, which a rollback removes
  (and Django has no hook on rollback);
* a database flush (tests) moves every generation;
* `max_age` bounds how long a write made outside Django (plain SQL) goes unseen.
If the cache cannot be reached (mof.cache answers misses then), the tables are read every
time and nothing is kept: slower, never stale. A generation that could not be moved is
moved again as soon as the cache answers, so the other processes drop what they kept
before the outage.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models.signals import post_delete, post_migrate, post_save

from mof.audit import bulk_written
from mof.cache import reachable

log = logging.getLogger("mof.readmostly")

_ALL: dict[str, ReadMostly] = {}
# Names whose generation could not be moved (the cache was away): moved again once it answers.
_unbumped: set[str] = set()
# The generations read during the current web request (None outside requests).
_request = threading.local()


class ReadMostly:
    def __init__(self, name: str, load: Callable[[], Any], *, max_age: float = 60.0):
        self.name = name
        self.key = f"readmostly:{name}"
        self.load = load
        self.max_age = max_age
        self._kept: tuple[str, float, Any] | None = None  # (generation, loaded at, value): swapped whole, thread-safe
        _ALL[name] = self

    # --- reading -----------------------------------------------------------------

    def get(self) -> Any:
        if self._written_in_this_transaction():
            return self.load()
        generation = self._generation()
        kept = self._kept
        if (
            kept is not None
            and generation is not None
            and kept[0] == generation
            and time.monotonic() - kept[1] < self.max_age
        ):
            return kept[2]
        value = self.load()
        if generation is not None:
            self._kept = (generation, time.monotonic(), value)
        else:  # the cache is away: keep nothing (a change made meanwhile must not be missed after)
            self._kept = None
        return value

    def _generation(self) -> str | None:
        seen = getattr(_request, "generations", None)
        if seen is not None and self.key in seen:
            return seen[self.key]
        keys = [kept.key for kept in _ALL.values()] if seen is not None else [self.key]
        if _unbumped:
            _bump_again()
        try:
            found = cache.get_many(keys)
            if self.key not in found:  # first use, or evicted: start one (a racing process may win: read it back)
                cache.add(self.key, uuid.uuid4().hex, timeout=None)
                found[self.key] = cache.get(self.key)
        except Exception:  # the cache is down: read the tables every time
            log.warning("readmostly %s: cache unreachable, reading the tables", self.name, exc_info=True)
            return None
        if seen is not None:
            seen.update(found)
        return found[self.key]

    # --- writing -----------------------------------------------------------------

    def changed(self, using: str = DEFAULT_DB_ALIAS) -> None:
        """The tables changed (in the current transaction, if any)."""
        self._kept = None
        conn = connections[using]
        if conn.in_atomic_block and conn.atomic_blocks:
            conn.__dict__.setdefault("_readmostly_written", {})[self.name] = conn.atomic_blocks[0]
        transaction.on_commit(self.bump, using=using)

    def _written_in_this_transaction(self) -> bool:
        conn = connections[DEFAULT_DB_ALIAS]
        marker = conn.__dict__.get("_readmostly_written", {}).get(self.name)
        return (
            marker is not None and conn.in_atomic_block and bool(conn.atomic_blocks) and conn.atomic_blocks[0] is marker
        )

    def bump(self) -> None:
        self._kept = None
        seen = getattr(_request, "generations", None)
        if seen is not None:
            seen.pop(self.key, None)
        _unbumped.discard(self.name)
        try:
            cache.set(self.key, uuid.uuid4().hex, timeout=None)
            moved = reachable(cache)
        except Exception:
            log.warning("readmostly %s: cache unreachable", self.name, exc_info=True)
            moved = False
        if not moved:
            _unbumped.add(self.name)

    def watch(self, *models) -> ReadMostly:
        """Call changed() on every save, delete and bulk write of these models (classes, or
        "app_label.ModelName" before the models are loaded)."""
        for model in models:
            uid = f"readmostly_{self.name}_{model.lower() if isinstance(model, str) else model._meta.label_lower}"

            def receiver(sender, using=DEFAULT_DB_ALIAS, **kwargs):
                self.changed(using or DEFAULT_DB_ALIAS)

            post_save.connect(receiver, sender=model, weak=False, dispatch_uid=f"{uid}_save")
            post_delete.connect(receiver, sender=model, weak=False, dispatch_uid=f"{uid}_delete")
            bulk_written.connect(receiver, sender=model, weak=False, dispatch_uid=f"{uid}_bulk")
        return self


def _bump_again():
    for name in list(_unbumped):
        _ALL[name].bump()  # adds it back if the cache is still away (at once, while mof.cache's breaker is open)


def _request_started(sender, **kwargs):
    _request.generations = {}


def _request_finished(sender, **kwargs):
    _request.generations = None


def _flushed(sender, **kwargs):
    # migrate and flush (the test runner between transactional tests): every table may differ.
    for kept in _ALL.values():
        kept.bump()


request_started.connect(_request_started, dispatch_uid="readmostly_request_started")
request_finished.connect(_request_finished, dispatch_uid="readmostly_request_finished")
post_migrate.connect(_flushed, dispatch_uid="readmostly_flushed")
