"""DATABASES from the environment: the primary (DATABASE_URL), an optional read replica
(DATABASE_REPLICA_URL, used by mof.db_router for the reads that may lag), and how
connections are kept: Django's own pool (DATABASE_POOL=1) or a PgBouncer in transaction
pooling mode in front of PostgreSQL (DATABASE_PGBOUNCER=1).

Nothing the portal does needs a session of its own on the server, so transaction pooling is
safe: its one advisory lock is transaction-scoped (pg_advisory_xact_lock, changes.conflicts),
its SETs are SET LOCAL or SET TRANSACTION, the impact walk's temp table is re-created when a
server session lacks it and emptied at every commit (mof.migrations_sql), and Django's
SET TIME ZONE on connect is one of the parameters PgBouncer tracks per client. What
DATABASE_PGBOUNCER turns off are the two things that do span transactions: server-side cursors
(Django's .iterator() outside a transaction declares a WITH HOLD cursor) and prepared
statements (psycopg prepares a query run five times on a connection)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mof.config import TRUE

POSTGRESQL = "django.db.backends.postgresql"
REPLICA = "replica"


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return (environ.get(name) or "").strip().lower() in TRUE


def _int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = (environ.get(name) or "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None


def _connection(url: str, environ: Mapping[str, str], *, application_name: str) -> dict:
    db = dj_database_url.parse(
        url,
        conn_max_age=_int(environ, "DATABASE_CONN_MAX_AGE", 60),
        # A kept connection is checked before a request reuses it: one the server dropped
        # (restart, failover, idle timeout) is replaced instead of failing that request.
        conn_health_checks=True,
    )
    options = db.setdefault("OPTIONS", {})
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # The web server, the worker and beat share one file: wait for locks instead of failing.
        options["timeout"] = 20
        db["CONN_MAX_AGE"] = 0
        if _flag(environ, "DATABASE_POOL") or _flag(environ, "DATABASE_PGBOUNCER"):
            raise ImproperlyConfigured(
                "DATABASE_POOL and DATABASE_PGBOUNCER need PostgreSQL (DATABASE_URL=postgres://...)"
            )
        return db
    if db["ENGINE"] != POSTGRESQL:
        return db
    # Names the portal's connections in pg_stat_activity (the URL's ?application_name= wins).
    options.setdefault("application_name", application_name)
    if _flag(environ, "DATABASE_POOL"):
        # Django's pool (psycopg_pool) in each process: connections are handed back to it at
        # the end of every request, so a kept connection (CONN_MAX_AGE) would make no sense:
        # Django refuses the two together.
        options["pool"] = {
            "min_size": _int(environ, "DATABASE_POOL_MIN_SIZE", 2),
            "max_size": _int(environ, "DATABASE_POOL_MAX_SIZE", 10),
            "timeout": _int(environ, "DATABASE_POOL_TIMEOUT", 30),
        }
        db["CONN_MAX_AGE"] = 0
    if _flag(environ, "DATABASE_PGBOUNCER"):
        # A server connection belongs to this client for one transaction only.
        db["DISABLE_SERVER_SIDE_CURSORS"] = True
        options["server_side_binding"] = False  # Django's default, made explicit: no server-side prepare
        options["prepare_threshold"] = None  # psycopg never prepares a statement
    return db


def databases(environ: Mapping[str, str] | None = None, *, default_url: str) -> dict:
    """The DATABASES setting. `default_url` is used when DATABASE_URL is unset (the demo's SQLite)."""
    environ = os.environ if environ is None else environ
    application_name = environ.get("DATABASE_APPLICATION_NAME") or "mof-portal"
    result = {
        "default": _connection(environ.get("DATABASE_URL") or default_url, environ, application_name=application_name)
    }
    replica_url = (environ.get("DATABASE_REPLICA_URL") or "").strip()
    if replica_url:
        if result["default"]["ENGINE"] != POSTGRESQL:
            raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL to be PostgreSQL")
        replica = _connection(replica_url, environ, application_name=f"{application_name}-replica")
        if replica["ENGINE"] != POSTGRESQL:
            raise ImproperlyConfigured("DATABASE_REPLICA_URL must be a postgres:// URL")
        # A standby that does not answer: give up soon, the reads then go to the primary.
        replica["OPTIONS"].setdefault("connect_timeout", _int(environ, "DATABASE_REPLICA_CONNECT_TIMEOUT", 3))
        # The test runner creates no database on the replica (a hot standby is read-only):
        # under test the alias points at the primary's test database (mof.db_router then
        # reads from the primary: a mirror is not a replica).
        replica["TEST"] = {"MIRROR": "default"}
        result[REPLICA] = replica
    return result
