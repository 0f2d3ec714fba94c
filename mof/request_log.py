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
"""
from __future__ import annotations

import contextvars
import logging
import re
import uuid

from django.utils.functional import LazyObject, empty

HEADER = "X-Request-ID"
# Letters, digits and . _ : - only, at most 128: never a way to forge a log line.
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")

_current = contextvars.ContextVar("mof_request", default=None)
_resolving_user = contextvars.ContextVar("mof_resolving_user", default=False)


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
        if request is None:
            record.request_id = record.request_method = record.request_path = record.request_user = "-"
            record.request_context = ""
            return True
        record.request_id = request_id_of(request) or "-"
        record.request_method = _printable(str(request.method))
        record.request_path = _printable(request.path)
        record.request_user = _user_label(request)
        record.request_context = f"[{record.request_id}] {record.request_method} {record.request_path} user={record.request_user} "
        return True
