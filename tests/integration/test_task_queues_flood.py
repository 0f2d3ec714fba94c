"""A flood of one kind of work does not starve the SLA sweep, on real components: `celery -A mof
worker` processes on Redis and the test database, deployed as the README recommends (one
worker for the `sla` queue, a general worker for every queue). 200 webhook deliveries to a
receiver that takes 0.3 s each keep the general worker busy for a minute; the sweep queued
behind them runs within seconds, while the flood is still going. Without the split the sweep
would wait at the end of one queue behind the 200. Skipped on a bare machine, never in CI."""

from __future__ import annotations

import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from integrations.choices import DeliveryStatus
from integrations.models import OutboxEvent, WebhookDelivery
from tests.integration.test_sla_worker import needs_services, workers  # noqa: F401 - fixture
from tests.integrations.factories import SubscriptionFactory

pytestmark = [pytest.mark.integration, *needs_services]

FLOOD = 200
SLOW = 0.3  # seconds the receiver takes per delivery


@pytest.fixture
def slow_receiver():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(SLOW)
            received.append(time.monotonic())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.received = received
    server.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout} s")


@pytest.mark.django_db(transaction=True)
def test_a_flood_of_webhook_deliveries_does_not_delay_the_sla_sweep(workers, slow_receiver, monkeypatch):
    from mof.celery import app

    monkeypatch.setenv("MOF_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")  # the receiver is on the loopback
    subscription = SubscriptionFactory(url=slow_receiver.url, event_types=["incident.created"])
    now = timezone.now()
    events = OutboxEvent.objects.bulk_create(
        [OutboxEvent(event_type="incident.created", body={"n": n}, relayed_at=now) for n in range(FLOOD)]
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(subscription=subscription, event=event, status=DeliveryStatus.PENDING) for event in events]
    )

    sla_worker = workers.start(name="sla", queues="sla", ready=False)
    general = workers.start(name="all", ready=False)
    sla_worker.wait_ready()
    general.wait_ready()
    for delivery in deliveries:
        app.send_task("integrations.deliver", [str(delivery.pk)])
    wait_for(lambda: len(slow_receiver.received) >= 3, 30, "the flood to start")

    queued_at = time.monotonic()
    sweep = app.send_task("slas.sweep")  # what beat does every minute
    done = f"Task slas.sweep[{sweep.id}] succeeded"
    wait_for(lambda: done in sla_worker.text() or done in general.text(), 10, "the sweep")
    waited = time.monotonic() - queued_at
    delivered = len(slow_receiver.received)

    assert waited < 5, f"the sweep waited {waited:.1f} s behind the flood"
    assert delivered < FLOOD / 2, f"the flood was over ({delivered} delivered): it proved nothing"
    assert done in sla_worker.text()  # the dedicated worker took it
    assert "Task integrations.deliver[" not in sla_worker.text()  # and none of the flood

    # A warm shutdown: the general worker finishes the delivery in hand and leaves the rest in
    # the queue, which the fixture purges.
    os.killpg(general.proc.pid, signal.SIGTERM)
    general.proc.wait(timeout=30)
