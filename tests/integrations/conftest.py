"""A real webhook receiver on 127.0.0.1 (an http.server thread) that checks each request's
HMAC-SHA256 signature and timestamp the way the README tells receivers to."""
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

TOLERANCE_SECONDS = 300


def verify(secret: str, header: str, body: bytes, *, now: float | None = None) -> bool:
    """The README's verification: parse t= and v1=, recompute, compare in constant time, refuse old timestamps."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


@dataclass
class Received:
    path: str
    headers: dict  # names in lower case (HTTP header names are case-insensitive)
    body: bytes
    verified: bool

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    server: ThreadingHTTPServer
    secret: str = ""
    statuses: list = field(default_factory=list)  # answers to give in turn; then 200
    requests: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mof"

    def wait_for(self, count: int, timeout: float = 20) -> list:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests


@pytest.fixture
def receiver():
    state = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            rec = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ok = verify(rec.secret, self.headers.get("MOF-Signature", ""), body)
            rec.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, ok))
            status = rec.statuses.pop(0) if rec.statuses else (200 if ok else 401)
            reply = json.dumps({"verified": ok}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = rec = Receiver(server=server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook_settings(settings):
    settings.MOF_WEBHOOK_MAX_ATTEMPTS = 3
    settings.MOF_WEBHOOK_BACKOFF_SECONDS = 10
    settings.MOF_WEBHOOK_DISABLE_AFTER = 2
    settings.MOF_WEBHOOK_TIMEOUT_SECONDS = 2
    return settings
