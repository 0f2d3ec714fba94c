"""The SLA compliance engine on real components: `celery -A mof worker` processes on Redis,
the test database on PostgreSQL, e-mail written to files and counted.

* a clock warns and breaches on time;
* a worker killed (SIGKILL) in the middle of a sweep, or while turning notifications into
  outbox mail, or while sending that mail, loses nothing and sends nothing twice once a
  worker is running again;
* two beats at once (two worker processes, or two threads) record and send nothing twice.

"Mid-way" is made deterministic without touching the service: the test holds a row lock
that the sweep (or the sending task) needs at a known point, waits until PostgreSQL shows
the worker's backend waiting on it, then kills the worker. Skipped on a bare machine,
never in CI (.ci/run sets DATABASE_URL, CELERY_BROKER_URL and CI=1).
"""

from __future__ import annotations

import datetime as dt
import email
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.models import F
from django.utils import timezone

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
ON_REDIS = settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
needs_services = [
    pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL=postgres://...)"),
    pytest.mark.skipif(not ON_REDIS, reason="needs Redis (set CELERY_BROKER_URL=redis://...)"),
]
T = dt.time
SUBJECT = re.compile(
    r"\[(?P<ref>[A-Z]+-\d+)\] SLA (?:warning (?P<threshold>\d+)%|(?P<breached>breached)): .* \(.*, (?P<metric>Time to \w+)\)"
)


# --- a worker process --------------------------------------------------------------


class WorkerProcess:
    """`celery -A mof worker` in its own process group, on the test database and the broker."""

    def __init__(self, tmp: Path, *, email_url: str, pool: str = "solo", name: str = "w", queues: str = ""):
        self.name = f"sla-{name}-{uuid.uuid4().hex[:6]}"
        self.log = tmp / f"{self.name}.log"
        db = connection.settings_dict  # inside the test: the test database
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "") + "@" if db.get("USER") else ""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "mof.settings",
            "DEBUG": "1",
            "DATABASE_URL": f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}",
            "DATABASE_CONN_MAX_AGE": "0",
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "EMAIL_URL": email_url,
            "PYTHONUNBUFFERED": "1",
        }
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "mof",
            "worker",
            f"--pool={pool}",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"{self.name}@%h",
            "--loglevel=INFO",
        ]
        if queues:  # e.g. "sla": a dedicated worker; by default every queue
            cmd += ["-Q", queues]
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.text():
                return self
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"worker {self.name} not ready:\n{self.text()[-3000:]}")

    def kill(self):
        """SIGKILL: no shutdown, no ack, no rollback by the worker itself."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self):
        """At the end of a test: no need for a warm shutdown (drop_unacked cleans up after it)."""
        self.kill()
        self.out.close()


def drop_unacked():
    """Messages of slas tasks (and the mail relay) that a killed worker had taken are kept by kombu in Redis ('unacked')
    and restored to the queue after the visibility timeout (11 minutes, mof.settings): drop them, so that they
    cannot reach a later test's worker and database."""
    import json

    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for tag, raw in client.hgetall("unacked").items():
        try:
            task = json.loads(raw)[0]["headers"]["task"]
        except (ValueError, KeyError, IndexError, TypeError):
            continue
        if task.startswith(("slas.", "mof.send_outgoing_mail")):
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


@pytest.fixture
def workers(tmp_path):
    """Start workers with `workers.start(...)`; all stopped (or killed) afterwards."""
    from mof.celery import app

    started: list[WorkerProcess] = []
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()

    class Workers:
        mail = mail_dir

        def start(self, *, email_url=None, pool="solo", name="w", ready=True, queues=""):
            worker = WorkerProcess(
                tmp_path, email_url=email_url or f"file://{mail_dir}", pool=pool, name=name, queues=queues
            )
            started.append(worker)
            return worker.wait_ready() if ready else worker

    app.control.purge()  # nothing left in the queue by earlier tests or runs
    drop_unacked()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False  # what this process queues goes to Redis, for the workers
    try:
        yield Workers()
    finally:
        app.conf.task_always_eager = eager
        for worker in started:
            worker.stop()
        app.control.purge()
        drop_unacked()
        connections.close_all()


def send_sweep():
    """What beat does every minute."""
    from mof.celery import app

    app.send_task("slas.sweep")


def mails(mail_dir: Path) -> Counter:
    """SLA messages written by the file e-mail backend: (incident, metric, threshold) -> count."""
    seen = Counter()
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_text(errors="replace").split("-" * 79):
            if not chunk.strip():
                continue
            subject = email.message_from_string(chunk.strip() + "\n")["Subject"] or ""
            m = SUBJECT.search(" ".join(subject.split()))
            if m:
                threshold = 100 if m.group("breached") else int(m.group("threshold"))
                metric = "response" if m.group("metric") == "Time to respond" else "resolution"
                seen[(m.group("ref"), metric, threshold)] += 1
    return seen


def wait_for(what: str, check, timeout=40, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


# --- the ticket side ---------------------------------------------------------------


@pytest.fixture
def world(transactional_db):
    from slas import services
    from slas.models import ServiceLevelAgreement, SLAStatus
    from tests.factories import ManagerFactory, TeamFactory, UserFactory

    manager = ManagerFactory(username="sla-int-boss", email="boss@example.test")
    agent = UserFactory(username="sla-int-agent", email="agent@example.test", roles=["support"])
    group = TeamFactory(name="SLA desk", manager=manager, members=[agent])
    always = services.calendar_save(
        actor=manager, name="24x7 UTC", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    sla = services.sla_create(
        actor=manager, name="P1 fast", priorities=[1], response_seconds=6, resolution_seconds=12, calendar=always
    )
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=SLAStatus.ACTIVE)
    return {"manager": manager, "agent": agent, "group": group, "sla": sla}


def new_incident(world, title="Mail down"):
    from incidents import services as desk

    return desk.incident_create(
        actor=world["agent"], title=title, impact=1, urgency=1, assignment_group=world["group"], assignee=world["agent"]
    )


def due_incidents(world, n: int, *, ago=dt.timedelta(hours=1)):
    """n P1 incidents opened `ago`: every threshold of both clocks crossed, all clocks due."""
    from incidents.models import Incident
    from slas import services
    from slas.models import SLAClock, TicketEvent
    from tests.factories import rewriting_event_log

    incidents = [new_incident(world, f"Outage {i}") for i in range(n)]
    ids = [i.pk for i in incidents]
    with rewriting_event_log():
        TicketEvent.objects.filter(ticket_type="incidents.incident", ticket_id__in=ids).update(at=F("at") - ago)
    SLAClock.objects.filter(ticket_type="incidents.incident", ticket_id__in=ids).update(
        created_at=F("created_at") - ago
    )
    for pk in ids:
        services.sync_clocks("incidents.incident", pk)
    clocks = SLAClock.objects.filter(ticket_id__in=ids)
    assert clocks.count() == 2 * n and all(c.next_event_at and c.next_event_at <= timezone.now() for c in clocks)
    return list(Incident.objects.filter(pk__in=ids).order_by("pk"))


def expected(incidents) -> set:
    return {(i.reference, metric, t) for i in incidents for metric in ("response", "resolution") for t in (50, 75, 100)}


def notification_keys() -> Counter:
    from incidents.models import Incident
    from slas.models import ClockNotification

    refs = {i.pk: i.reference for i in Incident.objects.all()}
    return Counter(
        (refs[n.clock.ticket_id], n.clock.metric, n.threshold)
        for n in ClockNotification.objects.select_related("clock")
    )


def assert_exactly_once(mail_dir, incidents):
    """One ClockNotification row per (clock, threshold) (the database refuses more), every one
    of them marked sent, and one e-mail per notification: none lost, none twice."""
    from slas.models import ClockNotification

    want = expected(incidents)
    rows = notification_keys()
    assert set(rows) == want and max(rows.values()) == 1
    assert not ClockNotification.objects.filter(sent_at__isnull=True).exists()
    sent = mails(mail_dir)
    assert set(sent) == want, f"missing {want - set(sent)}, unexpected {set(sent) - want}"
    assert {k: v for k, v in sent.items() if v > 1} == {}, "sent twice"


def all_sent(count: int, mail_dir: Path):
    from slas.models import ClockNotification

    return (
        ClockNotification.objects.filter(sent_at__isnull=False).count() == count
        and sum(mails(mail_dir).values()) >= count
    )


# --- holding a lock the worker needs ------------------------------------------------


class LockHolder:
    """A second connection that holds row locks in an open transaction."""

    def __init__(self):
        import psycopg

        db = connection.settings_dict
        self.conn = psycopg.connect(
            dbname=db["NAME"],
            user=db.get("USER") or None,
            password=db.get("PASSWORD") or None,
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
        )

    def lock(self, sql, params=()):
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def release(self):
        self.conn.rollback()

    def close(self):
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


def blocked_backend(table: str, verb: str) -> int | None:
    """The pid of a backend of this database waiting on a lock in a `verb ... table` statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND wait_event_type = 'Lock' AND query ILIKE %s",
            [f"%{verb}%{table}%"],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def backend_holds(pid: int, table: str, mode: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE l.pid = %s AND c.relname = %s AND l.mode = %s AND l.granted",
            [pid, table, mode],
        )
        return cursor.fetchone() is not None


def backend_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
        return cursor.fetchone() is None


# --- the tests ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@needs_services[0]
@needs_services[1]
def test_a_clock_warns_and_breaches_on_time(world, workers):
    """Response 6 s, resolution 12 s, thresholds 50/75/100 %; beat (here every 0.5 s) sends
    the sweep to a worker process: each threshold is recorded at its instant (exact seconds),
    no earlier and within 3 s after it, and mailed once."""
    from incidents.models import Incident
    from slas.models import ClockNotification, ClockState, SLAClock

    workers.start()
    incident = new_incident(world)
    start = SLAClock.objects.filter(ticket_id=incident.pk).first().started_at
    assert all(
        c.due_at == start.replace(microsecond=0) + dt.timedelta(seconds=c.target_seconds)
        for c in SLAClock.objects.filter(ticket_id=incident.pk)
    )

    deadline = time.monotonic() + 40
    while time.monotonic() < deadline and not all_sent(6, workers.mail):
        send_sweep()
        time.sleep(0.5)

    offsets = {
        ("response", 50): 3,
        ("response", 75): 4,
        ("response", 100): 6,
        ("resolution", 50): 6,
        ("resolution", 75): 9,
        ("resolution", 100): 12,
    }
    rows = list(ClockNotification.objects.select_related("clock").filter(clock__ticket_id=incident.pk))
    assert sorted((n.clock.metric, n.threshold) for n in rows) == sorted(offsets)
    for n in rows:
        crossing = start.replace(microsecond=0) + dt.timedelta(seconds=offsets[(n.clock.metric, n.threshold)])
        assert n.crossed_at == crossing  # business time in whole seconds
        late = (n.created_at - crossing).total_seconds()
        assert 0 <= late <= 3, f"{n.clock.metric} {n.threshold}% recorded {late:.2f} s after it was crossed"
        assert n.sent_at is not None and n.sent_at >= n.created_at
    assert sorted(mails(workers.mail).items()) == sorted(((incident.reference, m, t), 1) for m, t in offsets)
    for clock in SLAClock.objects.filter(ticket_id=incident.pk):
        assert clock.state == ClockState.BREACHED and clock.breached_at == clock.due_at
        assert clock.notified_threshold == 100 and clock.next_event_at is None
    assert Incident.objects.get(pk=incident.pk).sla_breached


@pytest.mark.django_db(transaction=True)
@needs_services[0]
@needs_services[1]
def test_a_worker_killed_in_the_middle_of_a_sweep_loses_nothing_and_sends_nothing_twice(world, workers):
    """The worker is SIGKILLed with the sweep past its notification INSERT but not committed
    (blocked marking the first breached incident, whose row this test holds). PostgreSQL rolls
    the sweep back; a new worker and the next beat record and mail every threshold once."""
    from incidents.models import Incident
    from slas.models import ClockNotification, SLAClock

    incidents = due_incidents(world, 10)
    ids = [i.pk for i in incidents]
    holder = LockHolder()
    try:
        holder.lock("SELECT id FROM incidents_incident WHERE id = ANY(%s) FOR UPDATE", [ids])
        first = workers.start(name="first")
        send_sweep()
        pid = wait_for("the sweep to block on an incident row", lambda: blocked_backend("incidents_incident", "UPDATE"))
        # Mid-way: the clocks are locked (FOR UPDATE) and the notifications inserted, not committed.
        assert backend_holds(pid, "slas_clocknotification", "RowExclusiveLock")
        assert backend_holds(pid, "slas_slaclock", "RowShareLock")
        first.kill()
        holder.release()
        wait_for("the killed worker's backend to end", lambda: backend_gone(pid))
    finally:
        holder.close()

    # Nothing half-done: no notification recorded, the clocks still due, no incident marked.
    assert ClockNotification.objects.count() == 0
    assert (
        SLAClock.objects.filter(ticket_id__in=ids, notified_threshold=0, next_event_at__lte=timezone.now()).count()
        == 20
    )
    assert not Incident.objects.filter(pk__in=ids, sla_breached=True).exists()

    workers.start(name="restarted")
    send_sweep()  # the next minute's beat
    wait_for("every notification to be mailed", lambda: all_sent(60, workers.mail))
    send_sweep()  # and another: nothing more
    time.sleep(1)
    assert_exactly_once(workers.mail, incidents)
    assert Incident.objects.filter(pk__in=ids, sla_breached=True).count() == 10


@pytest.mark.django_db(transaction=True)
@needs_services[0]
@needs_services[1]
def test_a_worker_killed_while_sending_loses_nothing_and_sends_nothing_twice(world, workers):
    """The sweep has committed and queued 60 notifications; the worker is SIGKILLed while
    claiming one of them (this test holds its row). Its message stays unacknowledged in Redis;
    a restarted worker sends the others, and a sweep two minutes later re-queues the one left
    unsent: each is mailed once."""
    from slas import services
    from slas.models import ClockNotification

    incidents = due_incidents(world, 10)
    assert services.sweep()["notifications"] == 60  # beat's tick: committed, 60 tasks queued on Redis
    victim = ClockNotification.objects.order_by("pk")[10]
    holder = LockHolder()
    try:
        holder.lock("SELECT id FROM slas_clocknotification WHERE id = %s FOR UPDATE", [victim.pk])
        first = workers.start(name="first")
        pid = wait_for(
            "the worker to block claiming a notification", lambda: blocked_backend("slas_clocknotification", "UPDATE")
        )
        assert ClockNotification.objects.filter(sent_at__isnull=False).count() == 10
        first.kill()
        holder.release()
        wait_for("the killed worker's backend to end", lambda: backend_gone(pid))
    finally:
        holder.close()
    assert ClockNotification.objects.get(pk=victim.pk).sent_at is None  # the claim was rolled back

    workers.start(name="restarted")
    wait_for("the other notifications to be mailed", lambda: all_sent(59, workers.mail))
    time.sleep(1)
    assert list(ClockNotification.objects.filter(sent_at__isnull=True).values_list("pk", flat=True)) == [victim.pk]
    # Two minutes pass (the killed task's message is still unacknowledged): the next beat re-queues it.
    ClockNotification.objects.update(created_at=F("created_at") - dt.timedelta(minutes=3))
    send_sweep()
    wait_for("the left-over notification to be mailed", lambda: all_sent(60, workers.mail))
    send_sweep()
    time.sleep(1)
    assert_exactly_once(workers.mail, incidents)


@pytest.mark.django_db(transaction=True)
@needs_services[0]
@needs_services[1]
def test_two_beats_at_once_in_two_worker_processes_send_nothing_twice(world, workers):
    """Two workers each get a sweep while the first still holds the due clocks (it is blocked on
    an incident row): the second skips them (SKIP LOCKED) and records nothing. Then both run
    sweeps side by side for a few rounds: every threshold recorded and mailed once."""
    from slas.models import ClockNotification

    incidents = due_incidents(world, 10)
    ids = [i.pk for i in incidents]
    a, b = workers.start(name="a"), workers.start(name="b")
    holder = LockHolder()
    try:
        holder.lock("SELECT id FROM incidents_incident WHERE id = ANY(%s) FOR UPDATE", [ids])
        send_sweep()
        wait_for("one sweep to hold the clocks", lambda: blocked_backend("incidents_incident", "UPDATE"))
        send_sweep()
        wait_for("the other sweep to finish, skipping them", lambda: any("'clocks': 0" in w.text() for w in (a, b)))
        assert ClockNotification.objects.count() == 0
    finally:
        holder.release()
        holder.close()
    wait_for("every notification to be mailed", lambda: all_sent(60, workers.mail))
    for _ in range(3):  # overlapping beats, unblocked
        send_sweep()
        send_sweep()
        time.sleep(0.3)
    time.sleep(1)
    assert_exactly_once(workers.mail, incidents)
    assert all("Task slas.sweep[" in w.text() for w in (a, b))  # both did sweep


@pytest.mark.django_db(transaction=True)
@needs_services[0]
@needs_services[1]
def test_sweeps_racing_in_threads_record_each_threshold_once(world, workers):
    """Eight sweeps started together (a barrier) over the same 15 due incidents, each in its own
    database connection, then the next beat: one row per (clock, threshold), each mailed once.
    A racing sweep may today die of a deadlock (see the known-bug test below): it rolls back
    whole, and the next beat does its work; nothing is recorded or sent twice either way."""
    from django.db import OperationalError

    from slas import services
    from slas.models import ClockNotification

    incidents = due_incidents(world, 15)
    barrier = threading.Barrier(8)
    results, errors = [], []

    def beat():
        try:
            barrier.wait(timeout=20)
            results.append(services.sweep(batch=5000))
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=beat) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(isinstance(e, OperationalError) and "deadlock detected" in str(e) for e in errors), errors
    results.append(services.sweep())  # the next beat
    assert sum(r["notifications"] for r in results) == 90
    assert ClockNotification.objects.count() == 90
    workers.start()
    wait_for("every notification to be mailed", lambda: all_sent(90, workers.mail))
    time.sleep(1)
    assert_exactly_once(workers.mail, incidents)


@pytest.mark.django_db(transaction=True)
@needs_services[0]
@needs_services[1]
def test_a_worker_killed_after_claiming_before_the_mail_is_out_loses_nothing(world, workers):
    """A worker killed while its mail relay waits for the mail server: the notifications were
    turned into outbox mail (sent_at), the relay had claimed the mail (a lease, claimed_until)
    and marked none sent; once the lease lapses the periodic relay of a restarted worker sends
    each mail: nothing is lost, nothing is sent twice."""
    from mof.celery import app
    from mof.models import MailStatus, OutgoingMail, RelayFlag
    from slas import services
    from slas.models import ClockNotification

    incidents = due_incidents(world, 1)
    app.control.purge()  # only the SLA notifications in the queue
    RelayFlag.objects.update(queued_at=None)  # the purged relay task is not waiting any more
    assert services.sweep()["notifications"] == 6
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def stall():  # an SMTP server that accepts and never greets
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=stall, daemon=True)
    thread.start()
    try:
        # The queues are split (sla, mail): a worker on sla turns the six notifications into
        # outbox mail; then a worker on mail claims that mail and waits on the mail server.
        sla_worker = workers.start(name="sla", queues="sla")
        wait_for(
            "the six notifications to be turned into mail",
            lambda: ClockNotification.objects.filter(sent_at__isnull=False).count() == 6,
            timeout=30,
        )
        sla_worker.stop()
        first = workers.start(name="first", email_url=f"smtp://127.0.0.1:{port}", queues="mail")
        app.send_task("mof.send_outgoing_mail")
        wait_for("the worker to connect to the mail server", lambda: accepted, timeout=30)
        sla_mail = OutgoingMail.objects.filter(kind__in=["slas.warning", "slas.breach"])
        assert sla_mail.count() == 6
        wait_for(
            "the relay to claim the six", lambda: not sla_mail.filter(claimed_until__isnull=True).exists(), timeout=10
        )
        assert not sla_mail.exclude(status=MailStatus.PENDING).exists()
        first.kill()
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        server.close()
    workers.start(name="restarted")
    # Later: the dead relay's lease lapses and the beat's periodic relay sends what is left.
    OutgoingMail.objects.update(claimed_until=F("claimed_until") - dt.timedelta(minutes=10))
    app.send_task("mof.send_outgoing_mail")
    wait_for("the six to be mailed", lambda: sum(mails(workers.mail).values()) >= 6)
    app.send_task("mof.send_outgoing_mail")
    send_sweep()
    time.sleep(3)
    assert_exactly_once(workers.mail, incidents)
    assert not OutgoingMail.objects.exclude(status=MailStatus.SENT).exists()


@pytest.mark.django_db(transaction=True)
@needs_services[0]
def test_two_overlapping_sweeps_do_not_deadlock(world):
    """Two sweeps take disjoint clocks (SKIP LOCKED) but the same incidents: sweep A holds incident
    X's response clock and Y's, sweep B Y's resolution clock and X's. Each marks its breached
    incidents in one statement with the ids in order, so neither can hold Y while waiting for X."""
    from slas import services
    from slas.models import SLAClock

    x, y = due_incidents(world, 2)
    base = timezone.now() - dt.timedelta(minutes=30)
    order = [(x, "response"), (y, "response"), (y, "resolution"), (x, "resolution")]
    for i, (incident, metric) in enumerate(order):
        SLAClock.objects.filter(ticket_id=incident.pk, metric=metric).update(
            next_event_at=base + dt.timedelta(seconds=i)
        )
    errors = []

    def beat():
        try:
            services.sweep(batch=2)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    holder = LockHolder()
    threads = [threading.Thread(target=beat) for _ in range(2)]
    try:
        holder.lock("SELECT id FROM incidents_incident WHERE id = %s FOR UPDATE", [x.pk])
        threads[0].start()  # A: takes x/response, y/response; waits for X
        wait_for("sweep A to wait for X", lambda: blocked_backend("incidents_incident", "UPDATE"))
        threads[1].start()  # B: takes y/resolution, x/resolution; marks Y, waits for X
        wait_for("sweep B to wait too", lambda: _waiting_on_incidents() == 2)
    finally:
        holder.release()
        holder.close()
    for t in threads:
        t.join(timeout=30)
    assert errors == []


def _waiting_on_incidents() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query ILIKE %s",
            ["%UPDATE%incidents_incident%"],
        )
        return cursor.fetchone()[0]


# --- a calendar edit's recomputation on the workers ------------------------------------


def pool_processes(worker) -> list[int]:
    """The prefork pool processes of a worker (its children)."""
    children = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == worker.proc.pid:
                        children.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return children


@pytest.mark.django_db(transaction=True)
@needs_services[0]
@needs_services[1]
def test_a_calendar_edit_is_recomputed_in_chunks_shared_by_two_workers_and_a_lost_pool_process_loses_nothing(
    world, workers, monkeypatch
):
    """Ten open clocks, chunks of three: the edit's job is planned by a worker and its four chunks
    shared by two worker processes (prefork). The pool processes are SIGKILLed while one chunk's
    UPDATE waits for a clock row this test holds: that chunk goes back to the queue (acks late,
    rejected when its worker is lost), runs again, and the job reaches 100 % with every chunk
    counted once and every clock as one recomputation as of the edit makes it."""
    from slas import services
    from slas.models import (
        RecomputeChunk,
        RecomputeJob,
        ServiceLevelAgreement,
        SLAClock,
        SLAStatus,
    )

    office = services.calendar_save(
        actor=world["manager"], name="Office", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    sla = services.sla_create(
        actor=world["manager"], name="P1 office", priorities=[1], resolution_seconds=8 * 3600, calendar=office
    )
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=SLAStatus.ACTIVE)
    for i in range(10):
        new_incident(world, f"Printer {i}")
    clocks = SLAClock.objects.filter(version__sla=sla)
    assert clocks.count() == 10
    before = dict(clocks.values_list("pk", "due_at"))
    monkeypatch.setenv("SLA_RECOMPUTE_CHUNK", "3")  # read by the worker processes
    holder = LockHolder()
    try:
        held = clocks.order_by("pk")[4]  # in the second chunk
        holder.lock("SELECT id FROM slas_slaclock WHERE id = %s FOR UPDATE", [held.pk])
        first, second = workers.start(name="a", pool="prefork"), workers.start(name="b", pool="prefork")
        services.calendar_save(actor=world["manager"], calendar=office, intervals=[(d, T(9), T(17)) for d in range(5)])
        pid = wait_for(
            "a chunk to wait for the held clock", lambda: blocked_backend("slas_slaclock", "UPDATE"), timeout=60
        )
        for process in pool_processes(first) + pool_processes(second):
            os.kill(process, signal.SIGKILL)
        holder.release()
        wait_for("the killed chunk's backend to end", lambda: backend_gone(pid))
    finally:
        holder.close()

    job = RecomputeJob.objects.get(calendar=office)
    wait_for(
        "the job to finish",
        lambda: RecomputeJob.objects.filter(pk=job.pk, finished_at__isnull=False).exists(),
        timeout=90,
    )
    assert (
        "WorkerLostError" in first.text() + second.text()
    )  # the chunk in flight was lost, and given back to the queue
    job.refresh_from_db()
    assert (job.started_by, job.total, job.done, job.changed, job.percent) == (world["manager"], 10, 10, 10, 100)
    assert sorted(RecomputeChunk.objects.filter(job=job).values_list("size", flat=True)) == [1, 3, 3, 3]
    assert not RecomputeChunk.objects.filter(job=job, done_at__isnull=True).exists()
    for clock in clocks.select_related("version__calendar"):
        figures = services._figures(clock, now=job.as_of)
        assert (clock.due_at, clock.elapsed_seconds, clock.updated_at) == (
            figures.due_at,
            figures.elapsed_seconds,
            job.as_of,
        )
        assert clock.due_at != before[clock.pk]  # weekdays 09:00-17:00 instead of round the clock
