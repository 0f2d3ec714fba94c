"""Liveness and readiness (/healthz, /readyz, `manage.py readiness`).

Readiness is a list of named checks, each true or false. What failed and why is logged
(logger mof.health), never answered: a probe is unauthenticated, so the answer names the
checks and nothing else (no host, no error text, no version).

* database   - a query answers (within MOF_READY_TIMEOUT_SECONDS on PostgreSQL);
* migrations - no migration of the code is unapplied in the database;
* redis      - every Redis the portal uses (CACHE_URL, CELERY_BROKER_URL) answers PING;
* worker     - the mof.heartbeat task (queued by beat every minute) ran within
               MOF_READY_WORKER_MAX_AGE seconds: a worker takes tasks off the broker;
* beat       - beat queued that task within MOF_READY_BEAT_MAX_AGE seconds: the "beat" row
               beat writes once the message is out (mof.celery), or the task's last_run_at
               in the database schedule (which beat writes every ~3 minutes);
* outbox     - fewer than MOF_READY_OUTBOX_MAX webhook events wait to be relayed;
* mail       - fewer than MOF_READY_MAIL_MAX notification mails wait to be sent.

The backlogs are counted up to the threshold only, so a flood costs a probe no more than
the threshold's worth of index entries.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

log = logging.getLogger("mof.health")

HEARTBEAT_TASK = "mof.heartbeat"
WORKER = "worker"
BEAT = "beat"

_migrations_applied: set[str] = set()  # aliases found fully migrated (this process)
_redis_clients: dict[str, object] = {}


def record_heartbeat(name: str = WORKER, *, now=None) -> None:
    """Upsert the heartbeat row `name` (one statement)."""
    from mof.models import Heartbeat

    Heartbeat.objects.bulk_create(
        [Heartbeat(name=name, at=now or timezone.now())],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["at"],
    )


def _bounded(check, using: str):
    """Run a database check in a savepoint with a statement timeout, rolled back after (a check
    writes nothing; the timeout ends with it)."""
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET LOCAL statement_timeout = %s", [max(1, int(settings.MOF_READY_TIMEOUT_SECONDS * 1000))]
                )
        result = check(using)
        transaction.set_rollback(True, using=using)
    return result


def check_database(using: str) -> bool:
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0] == 1


def check_migrations(using: str) -> bool:
    """Once found fully migrated, a process keeps that answer: migrations are not unapplied
    under a running portal, and loading the migration graph on every probe would cost."""
    if using in _migrations_applied:
        return True
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        return False
    _migrations_applied.add(using)
    return True


def check_worker(using: str) -> bool:
    from mof.models import Heartbeat

    last = Heartbeat.objects.using(using).filter(name=WORKER).values_list("at", flat=True).first()
    return last is not None and last >= timezone.now() - timedelta(seconds=settings.MOF_READY_WORKER_MAX_AGE)


def beat_last_run(using: str = "default"):
    """When beat last queued the heartbeat: its own record, or its schedule's (the later)."""
    from django_celery_beat.models import PeriodicTask

    from mof.models import Heartbeat

    recorded = Heartbeat.objects.using(using).filter(name=BEAT).values_list("at", flat=True).first()
    scheduled = (
        PeriodicTask.objects.using(using)
        .filter(task=HEARTBEAT_TASK, enabled=True, last_run_at__isnull=False)
        .order_by("-last_run_at")
        .values_list("last_run_at", flat=True)
        .first()
    )
    return max((t for t in (recorded, scheduled) if t is not None), default=None)


def check_beat(using: str) -> bool:
    last = beat_last_run(using)
    return last is not None and last >= timezone.now() - timedelta(seconds=settings.MOF_READY_BEAT_MAX_AGE)


def outbox_backlog(using: str = "default", limit: int | None = None) -> int:
    """Webhook events not yet relayed to their deliveries (counted up to `limit`)."""
    from integrations.models import OutboxEvent

    pending = OutboxEvent.objects.using(using).filter(relayed_at__isnull=True).order_by()
    return pending.count() if limit is None else pending[:limit].count()


def mail_backlog(using: str = "default", limit: int | None = None) -> int:
    """Notification mail waiting to be sent (counted up to `limit`)."""
    from mof.models import MailStatus, OutgoingMail

    pending = OutgoingMail.objects.using(using).filter(status=MailStatus.PENDING).order_by()
    return pending.count() if limit is None else pending[:limit].count()


def check_outbox(using: str) -> bool:
    return outbox_backlog(using, settings.MOF_READY_OUTBOX_MAX) < settings.MOF_READY_OUTBOX_MAX


def check_mail(using: str) -> bool:
    return mail_backlog(using, settings.MOF_READY_MAIL_MAX) < settings.MOF_READY_MAIL_MAX


def redis_urls() -> list[str]:
    """The distinct Redis servers the portal uses (cache and broker), as URLs."""
    urls = []
    for url in (settings.CACHE_URL, settings.CELERY_BROKER_URL):
        if url.startswith(("redis://", "rediss://", "unix://")) and url not in urls:
            urls.append(url)
    return urls


def redis_client(url: str):
    """A client per URL, kept (its pool reconnects after an outage), failing fast."""
    client = _redis_clients.get(url)
    if client is None:
        import redis

        timeout = settings.MOF_READY_TIMEOUT_SECONDS
        client = _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    return client


def check_redis(using: str) -> bool:
    return all(redis_client(url).ping() for url in redis_urls())


DATABASE_CHECKS = {
    "database": check_database,
    "migrations": check_migrations,
    "worker": check_worker,
    "beat": check_beat,
    "outbox": check_outbox,
    "mail": check_mail,
}
OTHER_CHECKS = {"redis": check_redis}
CHECKS = ("database", "migrations", "redis", "worker", "beat", "outbox", "mail")


def readiness(names=CHECKS, *, using: str = "default") -> dict[str, bool]:
    """{check name: passed} for `names`, in CHECKS order. A check that raises failed (logged)."""
    results = {}
    for name in (n for n in CHECKS if n in names):
        try:
            if name in DATABASE_CHECKS:
                ok = bool(_bounded(DATABASE_CHECKS[name], using))
            else:
                ok = bool(OTHER_CHECKS[name](using))
        except Exception as exc:  # a probe reports, never raises
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            ok = False
        else:
            if not ok:
                log.warning("readiness check %s failed", name)
        results[name] = ok
    return results
