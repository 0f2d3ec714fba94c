"""Reads that may lag go to the read replica; everything else stays on the primary.

With DATABASE_REPLICA_URL set (mof.dbconfig) there is a `replica` database alias, a
PostgreSQL hot standby that replays the primary's WAL a moment behind it. Nothing goes there
by default: a read path opts in with `lagging_reads()` (a context manager) or
`@lagging_view` (a view decorator, GET and HEAD only), and only where an answer a few seconds
old is right: the SLA reports and compliance, availability, capacity, the change calendar and
the CSV exports. Inside it, `ReplicaRouter.db_for_read` answers `replica` unless

* the process is inside a transaction on the primary (an atomic block reads what it writes),
* this context has already written something (every write goes to the primary, and the reads
  after it must see it), or
* the model is one whose freshness matters more than its load: sessions, users, groups and
  permissions, API tokens and lockouts (who may see the page is never a second old), or
* the browser wrote something in the last MOF_REPLICA_STICKY_SECONDS (ReadYourWritesMiddleware
  marks it with a cookie): a report opened right after a change, or the page a form redirects
  to, shows that change.

Rows read from the replica carry `_state.db == "replica"`; the related rows they load follow
them there (Django's routing by instance), and saving one writes to the primary.
A replica alias that is a test mirror of the primary (the test runner's
`"TEST": {"MIRROR": "default"}`) is not a replica: reads stay on `default`, where the test's
own (uncommitted) rows are. A replica that cannot be reached is left alone for REPLICA_RETRY_SECONDS: the lagging reads
go to the primary meanwhile (a warning in the log), so a standby down costs no page.
Migrations never run on the replica."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"
# Read from the primary even inside lagging_reads(): who is signed in and what they may do.
PRIMARY_APPS = frozenset({"sessions", "auth", "contenttypes", "admin"})
PRIMARY_MODELS = frozenset({"mof.user", "mof.roleassignment", "mof.team_members", "mof.apitoken", "mof.loginlockout"})


@dataclass
class _Lagging:
    wrote: bool = False


@dataclass
class _Request:
    sticky: bool = False  # this browser wrote moments ago: read from the primary
    wrote: bool = False


_lagging: ContextVar[_Lagging | None] = ContextVar("mof_lagging_reads", default=None)
_request: ContextVar[_Request | None] = ContextVar("mof_request_writes", default=None)
STICKY_COOKIE = "mof_primary_until"


@contextlib.contextmanager
def lagging_reads():
    """Within: reads that may be a few seconds old go to the replica (when there is one)."""
    token = _lagging.set(_Lagging())
    try:
        yield
    finally:
        _lagging.reset(token)


def lagging_view(view):
    """A view whose GET and HEAD answers may lag (a report, a dashboard, an export): they read
    from the replica. Apply it below the permission decorators, so that who the user is was
    settled on the primary first. Any other method runs as it was."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            return view(request, *args, **kwargs)
        with lagging_reads():
            return view(request, *args, **kwargs)

    return wrapped


def replica_alias() -> str | None:
    """The replica's alias, or None without one (or when it mirrors the primary under test)."""
    if REPLICA not in settings.DATABASES:
        return None
    if connections[REPLICA].settings_dict is connections[DEFAULT_DB_ALIAS].settings_dict:
        return None  # the test runner's mirror of the primary's test database
    return REPLICA


REPLICA_RETRY_SECONDS = 30
_replica_down_until = 0.0


def _replica_usable(alias: str) -> bool:
    """Is the replica's connection in this thread up (reconnecting if it was lost)? Django
    pings a kept connection once per request before using it (CONN_HEALTH_CHECKS): done here
    first, so that a standby that went away sends this request's reads to the primary."""
    global _replica_down_until
    if time.monotonic() < _replica_down_until:
        return False
    connection = connections[alias]
    try:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except DatabaseError as exc:
        _replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
        logger.warning(
            "The read replica cannot be reached (%s): its reads go to the primary for %s s.",
            str(exc).strip()[:200],
            REPLICA_RETRY_SECONDS,
        )
        return False
    return True


def read_alias(model=None) -> str:
    """Where a read of `model` made now would go: for code that must name a database itself
    (raw SQL, or a queryset read after the context has ended, as a streamed CSV is)."""
    state, request = _lagging.get(), _request.get()
    if state is None or state.wrote or (request is not None and request.sticky):
        return DEFAULT_DB_ALIAS
    if model is not None and (model._meta.app_label in PRIMARY_APPS or model._meta.label_lower in PRIMARY_MODELS):
        return DEFAULT_DB_ALIAS
    alias = replica_alias()
    if alias is None or connections[DEFAULT_DB_ALIAS].in_atomic_block or not _replica_usable(alias):
        return DEFAULT_DB_ALIAS
    return alias


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        alias = read_alias(model)
        # None, not "default": rows loaded from the replica keep loading their relations there.
        return alias if alias != DEFAULT_DB_ALIAS else None

    def db_for_write(self, model, **hints):
        state, request = _lagging.get(), _request.get()
        if state is not None:
            state.wrote = True  # from here on this context reads its own writes
        if request is not None and model._meta.app_label != "sessions":  # a session save is no change of the reader's
            request.wrote = True
        return DEFAULT_DB_ALIAS  # never the replica, even for a row read from it

    def allow_relation(self, obj1, obj2, **hints):
        aliases = {DEFAULT_DB_ALIAS, REPLICA}
        if obj1._state.db in aliases and obj2._state.db in aliases:
            return True  # one database, two ways to read it
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if db == REPLICA:
            return False
        return None


class ReadYourWritesMiddleware:
    """After a request that wrote, this browser reads from the primary for
    MOF_REPLICA_STICKY_SECONDS (a cookie holding until when), so that the page it is sent to
    next (a redirect after a form, a report opened to check a change) already shows the write.
    Does nothing without a replica."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if replica_alias() is None:
            return self.get_response(request)
        try:
            sticky = float(request.COOKIES.get(STICKY_COOKIE, "0")) > time.time()
        except ValueError:
            sticky = False
        state = _Request(sticky=sticky)
        token = _request.set(state)
        try:
            response = self.get_response(request)
        finally:
            _request.reset(token)
        if state.wrote:
            seconds = settings.MOF_REPLICA_STICKY_SECONDS
            response.set_cookie(
                STICKY_COOKIE,
                f"{time.time() + seconds:.0f}",
                max_age=seconds,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response
