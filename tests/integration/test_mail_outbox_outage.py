"""The notification outbox across a broker outage, on the real components: a private Redis
(its own port, never the shared one) is the broker; it goes down, ten incidents are filed (each
commits, its group's mail stored with it), Redis comes back and the periodic relay, run by a
real worker, sends ten mails: none lost, none twice. Skipped on a bare machine, never in CI."""

import shutil
import socket
import subprocess
import time

import pytest
from django.db import connections

from incidents import services as desk
from mof.models import MailStatus, OutgoingMail
from tests.factories import TeamFactory, UserFactory
from tests.integration.test_celery_worker import needs_postgres

pytestmark = [pytest.mark.integration, needs_postgres]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own, started and stopped by it."""

    def __init__(self):
        self.port = free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not come up")

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def use_broker(app, url: str) -> None:
    """Point the Celery app (and its cached connection and producer pools) at `url`."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def private_broker():
    from mof.celery import app

    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server")
    redis = PrivateRedis()
    redis.start()
    saved = app.conf.broker_url, app.conf.task_always_eager
    use_broker(app, redis.url)
    app.conf.task_always_eager = False
    try:
        yield redis
    finally:
        redis.stop()
        use_broker(app, saved[0])
        app.conf.task_always_eager = saved[1]


def wait_until(check, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db(transaction=True)
def test_mail_filed_while_the_broker_is_down_is_sent_once_when_it_is_back(
    builtin_data, private_broker, mailoutbox, settings
):
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from mof.celery import app
    from mof.tasks import send_outgoing_mail

    agent = UserFactory(username="outage-agent", email="agent@example.test", roles=["support"])
    group = TeamFactory(name="Outage desk", role_cluster="support", members=[agent])
    filer = UserFactory(username="outage-filer", roles=["support"])

    private_broker.stop()  # the broker goes down
    incidents = [
        desk.incident_create(actor=filer, title=f"Filed in the outage {n}", assignment_group=group) for n in range(10)
    ]
    assert len(incidents) == 10  # every filing committed
    assert OutgoingMail.objects.filter(status=MailStatus.PENDING).count() == 10 and mailoutbox == []

    private_broker.start()  # back (empty: nothing was queued while it was down)

    def close_worker_connections(**kwargs):
        connections.close_all()

    task_postrun.connect(close_worker_connections, weak=False)
    try:
        with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=20):
            send_outgoing_mail.delay()  # the beat's periodic relay
            assert wait_until(lambda: len(mailoutbox) >= 10), f"{len(mailoutbox)} mail(s) within 30 s"
            send_outgoing_mail.delay()  # and again: nothing more
            time.sleep(1.5)
    finally:
        task_postrun.disconnect(close_worker_connections)

    assert len(mailoutbox) == 10
    message_ids = [m.extra_headers["Message-ID"] for m in mailoutbox]
    assert len(set(message_ids)) == 10, "a Message-ID twice"
    assert sorted(message_ids) == sorted(OutgoingMail.objects.values_list("message_id", flat=True))
    assert {m.to[0] for m in mailoutbox} == {"agent@example.test"}
    assert sorted(m.subject.split(":")[0] for m in mailoutbox) == sorted(
        f"[{i.reference}] {i.title}" for i in incidents
    )
    assert not OutgoingMail.objects.exclude(status=MailStatus.SENT).exists()
