"""Request ids, and the request on every log line.

RequestIdMiddleware gives each request an id: the caller's X-Request-ID when it is
well formed (a proxy or a client that already has one), else a new one. The id is on
the request (`request.request_id`), on the response's X-Request-ID header, in the
API's 500 answer and on the 500 page, so a user can quote it and an operator find
the log line.

RequestContextFilter (on the console handler, mof.settings.LOGGING) adds to every
record logged while a request is served: request_id, request_method, request_path,
request_user, and request_context, the four as one prefix for the plain format:

    2026-12-07 03:40:00,123 ERROR django.request [9f1c...] POST /api/v1/incidents/ user=alice Internal Server Error: ...

The id travels into the Celery tasks a request queues (mof.celery's signals): the message
carries it in a header (add_request_id, before it is published), and while the task runs
(task_started .. task_finished) its records carry it with the task's name and id:

    2026-12-07 03:40:01,456 WARNING mof.notifications [9f1c...] task=mof.send_outgoing_mail[5b2e...] mail ...: attempt 1 failed

A task queued by that task (a relay queuing deliveries, a retry) carries the same id.
JsonFormatter writes the same fields as one JSON object per line (MOF_LOG_FORMAT=json).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime
from typing import NamedTuple

from django.utils.functional import LazyObject, empty

HEADER = "X-Request-ID"
# Letters, digits and . _ : - only, at most 128: never a way to forge a log line.
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

# The Celery message header that carries the id of the request that queued a task.
TASK_HEADER = "mof_request_id"

_current = contextvars.ContextVar("mof_request", default=None)
_resolving_user = contextvars.ContextVar("mof_resolving_user", default=False)


class TaskContext(NamedTuple):
    name: str
    id: str
    request_id: str | None


_task = contextvars.ContextVar("mof_task", default=None)
# task id -> the token that restores the context the task ran in (an eager task runs inside
# the request or the task that queued it, and gives it back its context when it ends).
_task_tokens: dict = {}


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_of(request) -> str:
    return getattr(request, "request_id", "") or ""


class RequestIdMiddleware:
    """First in MIDDLEWARE, so every answer (a redirect, a refusal, a 500) carries the id."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(HEADER, "")
        request.request_id = incoming if _WELL_FORMED.fullmatch(incoming) else new_request_id()
        token = _current.set(request)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request.request_id
        return response


def current_request_id() -> str | None:
    """The id of the request being served, or of the one that queued the running task."""
    request = _current.get()
    if request is not None:
        return request_id_of(request) or None
    task = _task.get()
    return task.request_id if task is not None else None


def add_request_id(headers: dict) -> None:
    """Before a task message is published: carry the current request id in its headers."""
    request_id = current_request_id()
    if request_id and not headers.get(TASK_HEADER):
        headers[TASK_HEADER] = request_id


def task_started(task, task_id) -> None:
    """Before a task runs: its records carry its name, its id and the id of the request that
    queued it (from the message's header; an eager task runs inside that request already)."""
    incoming = getattr(task.request, TASK_HEADER, None)
    if isinstance(incoming, str) and _WELL_FORMED.fullmatch(incoming):
        request_id = incoming
    else:
        request_id = current_request_id()
    _task_tokens[task_id] = _task.set(TaskContext(task.name, str(task_id), request_id))


def task_finished(task_id) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is None:
        return
    try:
        _task.reset(token)
    except ValueError:  # set in another context (never with Celery's pools): just forget it
        _task.set(None)


def _printable(text: str) -> str:
    # A path may carry a newline (%0A): escaped, as Django escapes it in its own messages.
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def _user_label(request) -> str:
    user = getattr(request, "user", None)
    if user is None:
        return "-"
    if isinstance(user, LazyObject) and user._wrapped is empty:
        # Not looked up yet by the view: look it up now (one query), unless this very
        # lookup is what is being logged, or it fails (the database may be why we log).
        if _resolving_user.get():
            return "?"
        token = _resolving_user.set(True)
        try:
            user._setup()
        except Exception:
            return "?"
        finally:
            _resolving_user.reset(token)
    try:
        return _printable(user.get_username()) if user.is_authenticated else "anonymous"
    except Exception:
        return "?"


class RequestContextFilter(logging.Filter):
    def filter(self, record):
        request = getattr(record, "request", None)
        if request is None or not hasattr(request, "META"):  # django.server passes a socket
            request = _current.get()
        task = _task.get()
        record.task_name = task.name if task else "-"
        record.task_id = task.id if task else "-"
        task_context = f"task={task.name}[{task.id}] " if task else ""
        if request is None:
            record.request_id = (task.request_id if task else None) or "-"
            record.request_method = record.request_path = record.request_user = "-"
            record.request_context = (f"[{task.request_id}] " if task and task.request_id else "") + task_context
            return True
        record.request_id = request_id_of(request) or "-"
        record.request_method = _printable(str(request.method))
        record.request_path = _printable(request.path)
        record.request_user = _user_label(request)
        record.request_context = f"[{record.request_id}] {record.request_method} {record.request_path} user={record.request_user} {task_context}"
        return True


# Record attribute -> JSON key: what RequestContextFilter adds, and Django's status code.
_JSON_FIELDS = (
    ("request_id", "request_id"),
    ("request_method", "method"),
    ("request_path", "path"),
    ("request_user", "user"),
    ("status_code", "status"),
    ("task_name", "task"),
    ("task_id", "task_id"),
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the request's
    and the task's fields when there are any, and the exception's traceback as `exc`.
    Non-ASCII is escaped, so a message never breaks the line."""

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for attribute, key in _JSON_FIELDS:
            value = getattr(record, attribute, None)
            if value not in (None, "", "-"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)
