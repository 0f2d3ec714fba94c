"""With DEBUG off, every unhandled exception is logged (django.request, to the console
handler) with the request id, method, path and user; the answer carries the same id."""

import io
import logging

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.core.boom_urls")]


@pytest.fixture
def console():
    """What the configured console handler writes (its filter and format are the real ones)."""
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


@override_settings(DEBUG=False)
def test_an_unhandled_page_error_is_logged_with_request_id_method_path_and_user(console, caplog):
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="alice"))
    response = client.get("/boom/", HTTP_X_REQUEST_ID="req-abc-123")
    assert response.status_code == 500
    assert response["X-Request-ID"] == "req-abc-123"
    assert "req-abc-123" in response.content.decode()  # the 500 page shows it, to quote
    line = console.getvalue()
    assert "ERROR django.request [req-abc-123] GET /boom/ user=alice Internal Server Error: /boom/" in line
    assert "RuntimeError: the page broke" in line  # with its traceback
    assert any(r.name == "django.request" and r.levelno == logging.ERROR and r.exc_info for r in caplog.records)


@override_settings(DEBUG=False)
def test_an_unhandled_api_error_is_logged_and_answers_json_with_the_request_id(console):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(UserFactory(username="bob"))
    response = client.get("/api/v1/boom/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    request_id = response["X-Request-ID"]
    assert body["request_id"] == request_id and body["code"] == "server_error" and len(request_id) == 32
    assert f"ERROR django.request [{request_id}] GET /api/v1/boom/ user=bob Internal Server Error" in console.getvalue()
    assert "RuntimeError: the API broke" in console.getvalue()


@pytest.mark.parametrize("incoming", ["", "x" * 129, "bad id", "a\nb", "<script>", "-leading-dash"])
def test_a_malformed_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/login/", HTTP_X_REQUEST_ID=incoming)
    assert response["X-Request-ID"] != incoming and len(response["X-Request-ID"]) == 32


def test_a_well_formed_request_id_is_kept_on_every_answer(client):
    for path in ("/login/", "/api/v1/cis/", "/no-such-page/"):
        assert (
            client.get(path, HTTP_X_REQUEST_ID="0f8fad5b-d9cb-469f-a165-70867728950e")["X-Request-ID"]
            == "0f8fad5b-d9cb-469f-a165-70867728950e"
        )


def test_lines_logged_outside_a_request_have_no_request_prefix(console):
    logging.getLogger("mof.test").warning("no request here")
    assert "WARNING mof.test no request here" in console.getvalue()


def test_the_anonymous_user_and_a_newline_in_the_path_are_logged_safely(console):
    Client().get("/boom/%0Aforged", HTTP_X_REQUEST_ID="rid-1")  # 404 logged at WARNING
    line = console.getvalue()
    assert "[rid-1] GET /boom/\\nforged user=anonymous" in line and "\nforged" not in line
