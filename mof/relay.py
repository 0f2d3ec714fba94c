"""Queue a relay task only when none is waiting: N commits while the worker is behind queue one
task, not N. The flag is a database row (no Redis or cache needed): queue_once sets it and
queues the task; the task clears it (started) before it looks for work, so whatever commits
after the task started sets the flag again and queues the next task, and whatever committed
before is seen by the task. A flag older than STALE (a lost message) no longer holds a queue
back; the beat tasks relay in any case."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError

log = logging.getLogger("mof.relay")

STALE = timedelta(minutes=5)


def _set(name: str, now) -> bool:
    """Set the flag unless it is set and fresh, in one statement (an upsert: the row is made on
    first use). True when this call set it."""
    from mof.models import RelayFlag

    table = connection.ops.quote_name(RelayFlag._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (name, queued_at) VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET queued_at = excluded.queued_at "
            f"WHERE {table}.queued_at IS NULL OR {table}.queued_at < %s RETURNING name",
            [name, now, now - STALE],
        )
        return cursor.fetchone() is not None


def queue_once(name: str, task, *args) -> bool:
    """Queue `task` unless one queued under `name` has not started yet. Returns whether it
    queued. A broker that cannot be reached is logged, not raised: the rows wait for the beat."""
    now = timezone.now()
    if not _set(name, now):
        return False
    try:
        task.delay(*args)
    except OperationalError:
        from mof.models import RelayFlag

        RelayFlag.objects.filter(name=name).update(queued_at=None)  # the next commit tries again
        log.warning("relay %s: could not queue the task (broker unreachable); the periodic relay will do it", name)
        return False
    return True


def started(name: str) -> None:
    """Called by the relay task before it looks for work."""
    from mof.models import RelayFlag

    RelayFlag.objects.filter(name=name).exclude(queued_at=None).update(queued_at=None)
