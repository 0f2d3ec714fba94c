"""A real webhook receiver on 127.0.0.1 (an http.server thread) that checks each request's
HMAC-SHA256 signature and timestamp the way the README tells receivers to."""

import hashlib
import hmac
import json
import socket
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
    reply: bytes | None = None  # the body of every answer (default: {"verified": ...})
    reply_headers: dict = field(default_factory=dict)
    reason: str | None = None  # the reason phrase of the status line (default: the standard one)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mof"

    def wait_for(self, count: int, timeout: float = 20) -> list:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.requests


@pytest.fixture
def receiver(settings):
    # Webhooks reach only public addresses unless the allow-list names the target: this
    # receiver listens on the loopback, so the tests allow it the way an operator would.
    settings.MOF_WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    state = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            rec = state["receiver"]
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ok = verify(rec.secret, self.headers.get("MOF-Signature", ""), body)
            rec.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, ok))
            status = rec.statuses.pop(0) if rec.statuses else (200 if ok else 401)
            reply = rec.reply if rec.reply is not None else json.dumps({"verified": ok}).encode()
            self.send_response(status, rec.reason)
            self.send_header("Content-Type", "application/json")
            for name, value in rec.reply_headers.items():
                self.send_header(name, value)
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


@dataclass
class FakeDNS:
    """Answers for host names, set per test: a list of addresses, or a callable returning one
    (to answer differently from one lookup to the next). `lookups` lists every name asked."""

    answers: dict = field(default_factory=dict)
    lookups: list = field(default_factory=list)


@pytest.fixture
def fake_dns(monkeypatch):
    """socket.getaddrinfo answers from a table: the tests never ask a real resolver, and can
    make a name resolve to something else at delivery than at subscription (DNS rebinding).
    Literal addresses and localhost go to the real function (a connection to a checked
    address still passes through getaddrinfo)."""
    dns, real = FakeDNS(), socket.getaddrinfo

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        host = host.decode() if isinstance(host, bytes) else host
        dns.lookups.append(host)
        if host == "localhost":
            return real(host, port, family, type, proto, flags)
        if host not in dns.answers:  # a numeric spelling (127.1, 0x7f.1) resolves without DNS, names do not
            return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        answer = dns.answers[host]
        addresses = answer() if callable(answer) else answer
        infos = []
        for address in addresses:
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port or 0, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0)))
        return infos

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return dns
