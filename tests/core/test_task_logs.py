"""Log lines as JSON (MOF_LOG_FORMAT=json, the default with DEBUG off) or plain, and the request
id carried into the Celery tasks a request queues (mof.request_log, mof.celery's signals).
Here tasks run eagerly; tests/integration/test_task_request_id.py has a real worker."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client
from rest_framework.test import APIClient

from mof import request_log
from tests.factories import CIFactory, ManagerFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses every connection: the relay logs a warning for each mail."""

    def open(self):
        raise ConnectionRefusedError("the mail server refused the connection")

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("the mail server refused the connection")


class Lines:
    """What a handler with the real filter and the chosen format writes, line by line."""

    def __init__(self, fmt: str):
        self.buffer = io.StringIO()
        self.handler = logging.StreamHandler(self.buffer)
        self.handler.addFilter(request_log.RequestContextFilter())
        self.handler.setFormatter(
            request_log.JsonFormatter()
            if fmt == "json"
            else logging.Formatter("%(levelname)s %(name)s %(request_context)s%(message)s")
        )

    def __call__(self) -> list[str]:
        return self.buffer.getvalue().splitlines()

    def json(self) -> list[dict]:
        return [json.loads(line) for line in self() if line.startswith("{")]


@pytest.fixture
def log_lines():
    """log_lines(fmt, logger="") -> Lines attached to that logger (the root by default)."""
    attached = []

    def attach(fmt="json", logger=""):
        lines = Lines(fmt)
        logging.getLogger(logger).addHandler(lines.handler)
        attached.append((logger, lines.handler))
        return lines

    yield attach
    for logger, handler in attached:
        logging.getLogger(logger).removeHandler(handler)


@pytest.mark.django_db
@pytest.mark.urls("tests.core.boom_urls")
def test_an_error_is_one_json_line_with_time_level_logger_message_request_and_traceback(log_lines):
    lines = log_lines("json")
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="alice"))
    assert client.get("/boom/", HTTP_X_REQUEST_ID="req-json-1").status_code == 500

    [line] = [line for line in lines() if '"django.request"' in line]  # one line, the traceback inside
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "django.request"
    assert entry["message"] == "Internal Server Error: /boom/"
    assert entry["request_id"] == "req-json-1" and entry["method"] == "GET" and entry["path"] == "/boom/"
    assert entry["user"] == "alice" and entry["status"] == 500
    assert entry["time"].endswith("+00:00") and "T" in entry["time"]
    assert "Traceback" in entry["exc"] and "RuntimeError: the page broke" in entry["exc"]
    assert "task" not in entry  # not in a task


def test_a_json_line_outside_requests_and_tasks_has_only_the_basic_fields(log_lines):
    lines = log_lines("json")
    logging.getLogger("mof.test").warning('odd\ncharacters \u2028 é "quoted"')
    [entry] = lines.json()
    assert set(entry) == {"time", "level", "logger", "message"}
    assert entry["message"] == 'odd\ncharacters \u2028 é "quoted"'
    assert len(lines()) == 1  # escaped: never two lines, whatever the message holds


@pytest.mark.django_db(transaction=True)
def test_a_task_a_request_queued_logs_with_that_request_id_its_name_and_its_id(builtin_data, settings, log_lines):
    """Eager: the mail relay task, queued after the transition commits, runs at once; the mail
    server refuses, and the relay's warning names the task and the request that caused it."""
    settings.EMAIL_BACKEND = "tests.core.test_task_logs.RefusingBackend"
    as_json, plain = log_lines("json"), log_lines("plain")
    manager = ManagerFactory(username="task-log-manager")
    ci = CIFactory(name="EX-LOG-01", owner=UserFactory(username="task-log-owner", email="owner@example.test"))
    api = APIClient()
    api.force_authenticate(manager)

    response = api.post(
        f"/api/v1/cis/{ci.pk}/transitions/commission/", {}, format="json", HTTP_X_REQUEST_ID="req-task-1"
    )

    assert response.status_code == 200, response.content
    [entry] = [e for e in as_json.json() if e["logger"] == "mof.notifications"]
    assert "attempt 1 failed" in entry["message"] and "ConnectionRefusedError" in entry["message"]
    assert entry["request_id"] == "req-task-1"
    assert entry["task"] == "mof.send_outgoing_mail" and len(entry["task_id"]) == 36
    [line] = [line for line in plain() if line.startswith("WARNING mof.notifications")]
    assert (
        f"[req-task-1] POST /api/v1/cis/{ci.pk}/transitions/commission/ user=task-log-manager task=mof.send_outgoing_mail[{entry['task_id']}] mail "
        in line
    )
    assert request_log._task.get() is None and request_log._task_tokens == {}  # the task's context ended with it


def test_a_published_message_carries_the_current_request_id_and_the_task_takes_it_up():
    """The two halves of the trip through the broker: before_task_publish writes the header,
    task_prerun reads it (a real worker does both in tests/integration/test_task_request_id.py)."""

    class Request:
        request_id = "req-pub-1"

    token = request_log._current.set(Request())
    try:
        headers = {}
        request_log.add_request_id(headers)
    finally:
        request_log._current.reset(token)
    assert headers == {request_log.TASK_HEADER: "req-pub-1"}

    class Task:
        name = "slas.sweep"

        class request:  # what Celery builds from the message's headers
            mof_request_id = "req-pub-1"

    request_log.task_started(Task, "t-1")
    try:
        assert request_log.current_request_id() == "req-pub-1"
        nested = {}
        request_log.add_request_id(nested)  # what the task queues carries the id on
        assert nested == {request_log.TASK_HEADER: "req-pub-1"}
    finally:
        request_log.task_finished("t-1")
    assert request_log.current_request_id() is None
    request_log.add_request_id(none := {})
    assert none == {}  # beat, or a task nobody's request queued: no header


def test_a_forged_request_id_header_is_not_taken_up():
    class Task:
        name = "slas.sweep"

        class request:
            mof_request_id = "x\n2026-12-07 ERROR forged line"

    request_log.task_started(Task, "t-2")
    try:
        assert request_log.current_request_id() is None
    finally:
        request_log.task_finished("t-2")


def test_the_log_format_is_json_in_production_plain_with_debug_and_chosen_by_mof_log_format():
    """The settings read afresh (in a process of their own) under four environments."""
    script = """
import importlib, json, os
cases, seen = [{"DEBUG": "0"}, {"DEBUG": "1"}, {"DEBUG": "0", "MOF_LOG_FORMAT": "plain"}, {"DEBUG": "1", "MOF_LOG_FORMAT": "xml"}], []
for case in cases:
    os.environ.update(case)
    try:
        import mof.settings as settings
        settings = importlib.reload(settings)
        seen.append(settings.LOGGING["handlers"]["console"]["formatter"])
    except Exception as exc:
        seen.append(str(exc))
    for name in case:
        del os.environ[name]
print(json.dumps(seen))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "MOF_LOG_FORMAT", "DJANGO_SETTINGS_MODULE")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        "json",
        "plain",
        "plain",
        "MOF_LOG_FORMAT 'xml': use json or plain",
    ]
