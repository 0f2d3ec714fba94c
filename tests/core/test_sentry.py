"""Error tracking with Sentry is off unless SENTRY_DSN is set; with it, an unhandled view error
reaches the ingest endpoint (the real SDK, over HTTP, to a fake Sentry on 127.0.0.1) tagged
with the request id."""

import gzip
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ingest():
    """A fake Sentry ingest endpoint: keeps each envelope it is sent (decompressed)."""
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            elif encoding == "br":  # the SDK compresses with brotli when the module is there
                import brotli

                body = brotli.decompress(body)
            received.append((self.path, body.decode("utf-8", "replace")))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.received = received
    server.dsn = f"http://publickey@127.0.0.1:{server.server_address[1]}/1"
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_without_sentry_dsn_nothing_is_initialised(settings):
    import sentry_sdk

    assert settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()


# Run in a process of its own: the SDK patches Django and Celery for good once initialised.
SCRIPT = """
import django, sentry_sdk
django.setup()
from django.test import Client, override_settings
from django.urls import path

def boom(request):
    raise RuntimeError("sentry-boom")

urlpatterns = [path("boom/", boom)]
assert sentry_sdk.get_client().is_active()
with override_settings(ROOT_URLCONF="__main__", ALLOWED_HOSTS=["testserver"]):
    response = Client(raise_request_exception=False).get("/boom/", HTTP_X_REQUEST_ID="req-sentry-1")
assert response.status_code == 500, response.status_code
sentry_sdk.flush(timeout=5)
print("done")
"""


def test_with_sentry_dsn_an_unhandled_view_error_reaches_the_ingest_endpoint_with_the_request_id(ingest, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "DATABASE_URL", "CELERY_BROKER_URL"))}
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "mof.test_settings",
            "MOF_VAR_DIR": str(tmp_path),
            "SENTRY_DSN": ingest.dsn,
            "SENTRY_ENVIRONMENT": "ci-test",
            "SENTRY_RELEASE": "mof-portal@test",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and "done" in result.stdout, result.stderr[-3000:]

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not ingest.received:
        time.sleep(0.05)
    events = [(p, body) for p, body in ingest.received if '"type":"event"' in body.replace(" ", "")]
    assert events, f"no event envelope reached the ingest endpoint: {ingest.received!r}"
    path, body = events[0]
    assert path == "/api/1/envelope/"
    header, item_header, payload = body.splitlines()[:3]
    assert json.loads(item_header)["type"] == "event"
    event = json.loads(payload)
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError" and exception["value"] == "sentry-boom"
    assert event["tags"]["request_id"] == "req-sentry-1"
    assert event["environment"] == "ci-test" and event["release"] == "mof-portal@test"
    assert "user" not in event or not event["user"].get("ip_address")  # send_default_pii off
