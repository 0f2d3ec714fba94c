"""The portal under a bounded load while its infrastructure falters, on real components:
gunicorn, a Celery worker and beat (database scheduler), PostgreSQL, and a private Redis
that is the broker and the cache (tests/integration/stack.py).

The load, from threads: incidents filed over the API (for a caller, into a group, with an
assignee: each one mails the group, and starting work and resolving it mail the caller
and the assignee), monitoring events (each critical key opens an alert and an incident,
its clear resolves it) and transitions (start work, resolve), every answer recorded.
A webhook subscription sends incident.created, incident.resolved and
monitoring.alert_opened to a receiver in this process that records each delivery.

* Redis is stopped for OUTAGE_SECONDS in the middle of the load and started again, empty
  (no persistence: what it held is gone, as after a crash or a replacement);
* the portal's idle database connections are terminated, several times, mid-load.

Afterwards, whatever happened: no 5xx (429 allowed) and no dropped request; everything
the API accepted is in the database; once the backlog has drained, every notification
mail expected from the database's final state was written exactly once (and no
Message-ID twice), and every webhook event reached the receiver exactly once (deliveries
deduplicated by their Idempotency-Key, as receivers are told to).

Skipped without PostgreSQL (DATABASE_URL), never in CI.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import shutil
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.stack import PortalStack, postgres_url, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(postgres_url() is None, reason="needs PostgreSQL (set DATABASE_URL=postgres://...)"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (a private one is started)"),
]

OUTAGE_SECONDS = 30  # how long Redis stays down (the 30 s)
LOAD_BEFORE_SECONDS = 8  # load before the outage / the first termination
LOAD_AFTER_SECONDS = 10  # load after Redis is back / after the last termination
TERMINATIONS = 4  # times the database connections are terminated
TERMINATION_EVERY_SECONDS = 3
DRAIN_SECONDS = 90  # the most the backlog may take to drain once the load stops
QUIET_SECONDS = 5  # then nothing more may arrive (a late duplicate)
RELAY_EVERY_SECONDS = 5  # the beat schedule's relays of outboxes, shortened for the test

GROUP = "Outage desk"
WEBHOOK_TYPES = ["incident.created", "incident.resolved", "monitoring.alert_opened"]

SEED = """
import datetime as dt, json
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
from integrations.services import subscription_create
from mof.choices import CIStatus, RoleCluster
from mof.tokens import service_account_create, token_issue
from slas import services as sla_services
from slas.models import ServiceLevelAgreement, SLAStatus
from tests.factories import AdminFactory, CIFactory, ManagerFactory, ServiceFactory, TeamFactory, UserFactory

P = json.loads({params!r})
admin = AdminFactory(username="stack-admin", email="admin@example.test")
manager = ManagerFactory(username="stack-manager", email="manager@example.test")
desk = UserFactory(username="stack-desk", email="desk@example.test", roles=[RoleCluster.SUPPORT])
agent = UserFactory(username="stack-agent", email="agent@example.test", roles=[RoleCluster.SUPPORT])
caller = UserFactory(username="stack-caller", email="caller@example.test")
group = TeamFactory(name=P["group"], role_cluster=RoleCluster.SUPPORT, manager=manager, members=[agent])
service = ServiceFactory(name="Outage mail", criticality="high")
ci = CIFactory(name="outage-mbx-01", services=[service], status=CIStatus.IN_SERVICE)
monitor = service_account_create(actor=admin, username="stack-scom", roles=[RoleCluster.OPERATIONS])
_, desk_token = token_issue(actor=desk, owner=desk, name="load")
_, monitor_token = token_issue(actor=admin, owner=monitor, name="load")

# An active SLA on every incident, so that filings start clocks; targets far beyond the test.
always = sla_services.calendar_save(actor=manager, name="24x7 UTC", time_zone="UTC", intervals=[(d, dt.time(0), dt.time(0)) for d in range(7)])
sla = sla_services.sla_create(actor=manager, name="Everything", priorities=[1, 2, 3, 4, 5], response_seconds=8 * 3600, resolution_seconds=24 * 3600, calendar=always)
ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=SLAStatus.ACTIVE)

subscription_create(actor=manager, name="Outage receiver", url=P["receiver"], event_types=P["webhook_types"])

# The relays of what an unreachable broker left behind run every minute in production:
# every few seconds here, so that the test need not wait minutes. Any relay or outbox task.
every, _ = IntervalSchedule.objects.get_or_create(every=P["relay_every"], period=IntervalSchedule.SECONDS)
relays = PeriodicTask.objects.filter(enabled=True).filter(task__iregex=r"(relay|outbox|mail)")
relayed = sorted(relays.values_list("task", flat=True))
relays.update(interval=every, crontab=None)
PeriodicTasks.update_changed()

print(json.dumps({{
    "desk_token": desk_token, "monitor_token": monitor_token, "group": group.pk, "agent": agent.pk, "caller": caller.pk,
    "service": service.pk, "ci": ci.name, "relayed_tasks": relayed,
    "emails": {{"agent": agent.email, "caller": caller.email}},
}}))
"""


# --- the webhook receiver ---------------------------------------------------------------


class Receiver:
    """Records every delivery: its Idempotency-Key, event id and type, and the object it is about."""

    def __init__(self):
        self.deliveries: list[dict] = []
        self.lock = threading.Lock()
        self.gate = threading.Event()  # cleared: requests wait (between_requests)
        self.gate.set()
        self.in_flight = 0
        self.quiet = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    obj = (json.loads(body) or {}).get("object") or {}
                except ValueError:
                    obj = {}
                with receiver.lock:
                    receiver.deliveries.append(
                        {
                            "key": self.headers.get("Idempotency-Key"),
                            "event_id": self.headers.get("MOF-Event-Id"),
                            "type": self.headers.get("MOF-Event-Type"),
                            "object": (obj.get("type"), obj.get("id")),
                            "at": time.monotonic(),
                        }
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mof"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.deliveries)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- the stack, shared by both tests ----------------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, receiver):
    stack = PortalStack(tmp_path_factory.mktemp("outage-stack"), name="outage")
    with stack:
        with stack.logs_on_failure():
            params = json.dumps(
                {
                    "group": GROUP,
                    "receiver": receiver.url,
                    "webhook_types": WEBHOOK_TYPES,
                    "relay_every": RELAY_EVERY_SECONDS,
                }
            )
            stack.info = stack.run_python(SEED.format(params=params))
            stack.start_processes()
            for _ in range(2 * stack.workers * stack.threads):  # every web process has served a request
                stack.api("GET", "/api/v1/incidents/?page_size=1", stack.info["desk_token"])
                stack.api("GET", "/api/v1/alerts/?page_size=1", stack.info["monitor_token"])
        yield stack


# --- the load --------------------------------------------------------------------------


class Load:
    """Threads filing incidents, posting monitoring events and taking transitions until
    stopped; every answer recorded with the phase it came in."""

    def __init__(self, stack: PortalStack, tag: str):
        self.stack, self.tag, self.info = stack, tag, stack.info
        self.phase = "before"
        self.calls: list[tuple[str, str, int, str]] = []  # (what, phase, status, detail)
        self.filed: dict[int, str] = {}  # incident id -> number, as the API answered
        self.started: set[int] = set()  # start_work answered 200
        self.resolved: set[int] = set()  # resolve answered 200
        self.opened_keys: set[str] = set()  # critical events answered 201
        self.cleared_keys: set[str] = set()  # clears answered 201
        self.lock = threading.Lock()
        self.gate = threading.Event()  # cleared: requests wait (between_requests)
        self.gate.set()
        self.in_flight = 0
        self.quiet = threading.Condition(self.lock)
        self.stop = threading.Event()
        self.to_work: queue.Queue = queue.Queue()
        self.threads = [
            threading.Thread(target=self._run, args=(f,), daemon=True) for f in (self._file, self._work, self._events)
        ]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)

    def _run(self, loop):
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                loop(n)
            except Exception as exc:  # a bug of the test's own: record it, keep going
                self._record("load", 0, f"{type(exc).__name__}: {exc}")
                time.sleep(0.5)

    def _record(self, what, status, detail=""):
        with self.lock:
            self.calls.append((what, self.phase, status, short(detail)))

    def call(self, what, method, path, token, body=None):
        """One request; after a 429 it waits a second and sends it again (at most ten times)."""
        for _ in range(10):
            self._enter()
            try:
                status, answer = self.stack.api(method, path, token, body)
            finally:
                self._leave()
            self._record(what, status, answer if status >= 400 or status == 0 else "")
            if status != 429 or self.stop.is_set():
                return status, answer
            time.sleep(1)
        return status, answer

    def _enter(self):
        while True:
            self.gate.wait()
            with self.lock:
                if self.gate.is_set():
                    self.in_flight += 1
                    return

    def _leave(self):
        with self.lock:
            self.in_flight -= 1
            self.quiet.notify_all()

    @contextlib.contextmanager
    def between_requests(self):
        """No request in flight for the block (new ones wait): the web server's connections
        are then all kept between requests, as a database restart or failover finds them.
        (A statement killed inside a request cannot be answered but with an error.)"""
        with self.lock:
            self.gate.clear()
            self.quiet.wait_for(lambda: self.in_flight == 0, timeout=60)
        try:
            yield
        finally:
            self.gate.set()

    def _file(self, n):
        info = self.info
        status, answer = self.call(
            "file",
            "POST",
            "/api/v1/incidents/",
            info["desk_token"],
            {
                "title": f"{self.tag} filing {n}",
                "description": "Filed by the outage load.",
                "caller": info["caller"],
                "service": info["service"],
                "impact": 2,
                "urgency": 2,
                "assignment_group": info["group"],
                "assignee": info["agent"],
            },
        )
        if status == 201:
            with self.lock:
                self.filed[answer["id"]] = answer["number"]
            self.to_work.put(answer["id"])
        time.sleep(0.3)

    def _work(self, n):
        try:
            pk = self.to_work.get(timeout=0.3)
        except queue.Empty:
            return
        token = self.info["desk_token"]
        status, _ = self.call("start_work", "POST", f"/api/v1/incidents/{pk}/transitions/start_work/", token, {})
        if status != 200:
            return
        with self.lock:
            self.started.add(pk)
        if pk % 3 == 0:  # a third stay in progress
            return
        status, _ = self.call(
            "resolve",
            "POST",
            f"/api/v1/incidents/{pk}/transitions/resolve/",
            token,
            {"resolution_code": "fixed", "resolution_notes": "Fixed under load."},
        )
        if status == 200:
            with self.lock:
                self.resolved.add(pk)

    def _events(self, n):
        ci, key = self.info["ci"], f"{self.tag}/k{n}"
        batch = [
            {"source": "scom", "ci": ci, "severity": "critical", "key": key, "message": f"Queue length {1000 + n}"},
            {"source": "scom", "ci": ci, "severity": "warning", "key": f"{self.tag}/noise", "message": f"Noise {n}"},
        ]
        status, _ = self.call("events", "POST", "/api/v1/events/", self.info["monitor_token"], batch)
        if status == 201:
            with self.lock:
                self.opened_keys.add(key)
        if n > 2 and n % 2:  # clear an earlier key: resolves its incident
            old = f"{self.tag}/k{n - 2}"
            status, _ = self.call(
                "clear",
                "POST",
                "/api/v1/events/",
                self.info["monitor_token"],
                {"source": "scom", "ci": ci, "clear": True, "key": old, "message": "Queue drained"},
            )
            if status == 201:
                with self.lock:
                    self.cleared_keys.add(old)
        time.sleep(0.5)


def short(answer) -> str:
    """An answer as one short line (an HTML error page as its text)."""
    text = json.dumps(answer) if isinstance(answer, (dict, list)) else str(answer or "")
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())[:200]


# --- what must have happened --------------------------------------------------------------


def moved(subject: str):
    """The state a transition mail's subject names ("… New → In progress"), as its code."""
    return subject.rsplit("→", 1)[1].strip().lower().replace(" ", "_") if "→" in subject else None


def mail_kind(subject: str, group: str) -> str:
    """What a notification is about, from its subject."""
    target = moved(subject)
    if target:
        return f"moved to {target}"
    for suffix, kind in ((f": new in {group}", "queued"), (": assigned", "assigned"), (": resolved", "resolved")):
        if subject.endswith(suffix):
            return kind
    return "other"


class Expectations:
    """From the database's final state: the run's incidents and alerts, the mails and the
    webhook events each must have caused."""

    def __init__(self, stack: PortalStack, load: Load):
        self.stack, self.load = stack, load
        tag = load.tag
        rows = stack.query(
            "SELECT id, number, status FROM incidents_incident WHERE title LIKE %s", (f"{tag} filing %",)
        )
        self.filings = {pk: (f"INC-{number}", status) for pk, number, status in rows}
        alerts = stack.query(
            "SELECT id, key, incident_id, closed_at IS NOT NULL FROM operations_monitoringalert WHERE key LIKE %s",
            (f"{tag}/k%",),
        )
        self.alerts = {key: (pk, incident_id, closed) for pk, key, incident_id, closed in alerts}
        event_incidents = [incident_id for _, incident_id, _ in self.alerts.values() if incident_id]
        statuses = (
            dict(stack.query("SELECT id, status FROM incidents_incident WHERE id = ANY(%s)", (event_incidents,)))
            if event_incidents
            else {}
        )
        self.event_incidents = statuses
        self.incident_status = {**{pk: s for pk, (_, s) in self.filings.items()}, **statuses}

    def mails(self) -> set[tuple[str, str, str]]:
        """(reference, kind, recipient) of every mail the run's filings must have caused."""
        emails = self.stack.info["emails"]
        agent, caller = emails["agent"], emails["caller"]
        expected = set()
        for ref, status in self.filings.values():
            expected.add((ref, "queued", agent))
            if status in ("in_progress", "resolved"):
                expected |= {
                    (ref, "assigned", caller),
                    (ref, "moved to in_progress", caller),
                    (ref, "moved to in_progress", agent),
                }
            if status == "resolved":
                expected |= {
                    (ref, "resolved", caller),
                    (ref, "moved to resolved", caller),
                    (ref, "moved to resolved", agent),
                }
        return expected

    def webhooks(self) -> set[tuple[str, str, int]]:
        """(event type, object type, object id) of every event the receiver must have had."""
        expected = set()
        for pk, status in self.incident_status.items():
            expected.add(("incident.created", "incidents.incident", pk))
            if status == "resolved":
                expected.add(("incident.resolved", "incidents.incident", pk))
        for pk, _, _ in self.alerts.values():
            expected.add(("monitoring.alert_opened", "operations.monitoringalert", pk))
        return expected


def sent_mails(stack: PortalStack, refs: set[str]) -> tuple[Counter, Counter, list]:
    """(reference, kind, recipient) -> times written, for the run's incidents; Message-ID ->
    times written, for every mail; and the run's mails of no known kind."""
    by_key, by_id, others = Counter(), Counter(), []
    for mail in stack.mails():
        by_id[mail.message_id] += 1
        found = re.search(r"\bINC-\d+\b", mail.subject)
        if not found or found.group(0) not in refs:
            continue
        kind = mail_kind(mail.subject, GROUP)
        if kind == "other":
            others.append(mail.subject)
        for recipient in mail.recipients:
            by_key[(found.group(0), kind, recipient)] += 1
    return by_key, by_id, others


def received(receiver: Receiver, objects: set[tuple[str, int]]) -> dict[tuple, set]:
    """(event type, object type, object id) -> the distinct event ids delivered for it, the
    deliveries deduplicated by Idempotency-Key; only for the run's objects."""
    seen_keys, events = set(), defaultdict(set)
    for d in receiver.snapshot():
        if d["key"] in seen_keys or d["object"] not in objects:
            continue
        seen_keys.add(d["key"])
        events[(d["type"], *d["object"])].add(d["event_id"])
    return events


def drain_and_check(stack: PortalStack, receiver: Receiver, load: Load) -> list[str]:
    """Wait (bounded) until every expected mail and webhook has arrived, then a quiet spell,
    and list everything that is wrong (empty: all well)."""
    problems = []

    def arrived():
        dead = [name for name, p in stack.processes.items() if not p.running]
        if dead:
            raise AssertionError(f"{', '.join(dead)} exited: the backlog cannot drain")
        exp = Expectations(stack, load)
        mails, _, _ = sent_mails(stack, {ref for ref, _ in exp.filings.values()})
        objects = {(t, pk) for _, t, pk in exp.webhooks()}
        hooks = received(receiver, objects)
        return exp.mails() <= set(mails) and exp.webhooks() <= set(hooks)

    started = time.monotonic()
    try:
        wait_for("the notification and webhook backlog to drain", arrived, timeout=DRAIN_SECONDS, every=1)
    except AssertionError as exc:
        problems.append(str(exc))
    drained_in = time.monotonic() - started
    time.sleep(QUIET_SECONDS)
    exp = Expectations(stack, load)

    # 1. Every answer: no 5xx, no request left unanswered (429 is allowed).
    bad = Counter((what, phase, status) for what, phase, status, _ in load.calls if status >= 500 or status == 0)
    if bad:
        samples = [
            f"{what} [{phase}] {status}: {detail}"
            for what, phase, status, detail in load.calls
            if status >= 500 or status == 0
        ][:5]
        problems.append(f"5xx or no answer: {dict(bad)}; e.g. {samples}")
    refused = Counter((what, status) for what, _, status, _ in load.calls if 400 <= status < 500 and status != 429)
    if refused:  # the load only sends valid requests
        samples = [
            f"{what} {status}: {detail}"
            for what, _, status, detail in load.calls
            if 400 <= status < 500 and status != 429
        ][:5]
        problems.append(f"4xx other than 429: {dict(refused)}; e.g. {samples}")

    # 2. Nothing the API accepted is lost.
    lost = {pk: number for pk, number in load.filed.items() if pk not in exp.filings}
    if lost:
        problems.append(f"filings answered 201 but not in the database: {lost}")
    not_started = sorted(pk for pk in load.started if exp.incident_status.get(pk) not in ("in_progress", "resolved"))
    not_resolved = sorted(pk for pk in load.resolved if exp.incident_status.get(pk) != "resolved")
    if not_started or not_resolved:
        problems.append(
            f"transitions answered 200 but not in the database: start_work {not_started}, resolve {not_resolved}"
        )
    no_alert = sorted(k for k in load.opened_keys if k not in exp.alerts or not exp.alerts[k][1])
    not_cleared = sorted(
        k
        for k in load.cleared_keys
        if k in exp.alerts and not (exp.alerts[k][2] and exp.event_incidents.get(exp.alerts[k][1]) == "resolved")
    )
    if no_alert or not_cleared:
        problems.append(
            f"events answered 201 without their effect: no alert or incident {no_alert}, clear without resolution {not_cleared}"
        )

    # 3. Every notification mail exactly once.
    mails, ids, others = sent_mails(stack, {ref for ref, _ in exp.filings.values()})
    expected_mails = exp.mails()
    missing = sorted(expected_mails - set(mails))
    twice = sorted((k, n) for k, n in mails.items() if n > 1)
    ids_twice = sorted((i, n) for i, n in ids.items() if n > 1)
    if missing:
        problems.append(f"{len(missing)} of {len(expected_mails)} expected mails never sent, e.g. {missing[:8]}")
    if twice:
        problems.append(f"{len(twice)} mails sent more than once, e.g. {twice[:8]}")
    if ids_twice:
        problems.append(f"{len(ids_twice)} Message-IDs written more than once, e.g. {ids_twice[:5]}")
    if others:
        print(f"mails of no known kind for the run's incidents (not counted): {others[:5]}")

    # 4. Every webhook event exactly once (after deduplication by Idempotency-Key).
    expected_hooks = exp.webhooks()
    hooks = received(receiver, {(t, pk) for _, t, pk in expected_hooks})
    missing = sorted(expected_hooks - set(hooks))
    twice = sorted((k, len(ids)) for k, ids in hooks.items() if len(ids) > 1)
    unexpected = sorted(set(hooks) - expected_hooks)
    if missing:
        problems.append(
            f"{len(missing)} of {len(expected_hooks)} expected webhook events never delivered, e.g. {missing[:8]}"
        )
    if twice:
        problems.append(f"{len(twice)} webhook events published more than once (distinct event ids), e.g. {twice[:8]}")
    if unexpected:
        problems.append(f"webhook events for the run's objects that nothing explains: {unexpected[:8]}")

    # 5. The processes are still up.
    for name, process in stack.processes.items():
        if not process.running:
            problems.append(f"{name} exited ({process.proc.returncode}); its first error: {process.first_error()}")

    answered = Counter((what, phase, status) for what, phase, status, _ in load.calls)
    print(f"[{load.tag}] answers: {dict(sorted(answered.items()))}")
    print(
        f"[{load.tag}] filings {len(exp.filings)}, event incidents {len(exp.event_incidents)}, alerts {len(exp.alerts)}, "
        f"mails expected {len(expected_mails)}, webhook events expected {len(expected_hooks)}, drained in {drained_in:.0f} s; "
        f"relays shortened: {stack.info['relayed_tasks']}"
    )
    return problems


def calls_in(load: Load, phase: str) -> int:
    return sum(1 for _, p, _, _ in load.calls if p == phase)


# --- the tests --------------------------------------------------------------------------------


def started_whole(stack):
    restarted = stack.ensure_running()
    if restarted:
        print(f"started again before this test (they had exited): {restarted}")


def test_redis_stopped_mid_load_loses_nothing_and_answers_no_5xx(stack, receiver):
    with stack.logs_on_failure():
        started_whole(stack)
        load = Load(stack, tag="redis-outage")
        with load:
            time.sleep(LOAD_BEFORE_SECONDS)
            load.phase = "redis down"
            stack.redis.stop()
            time.sleep(OUTAGE_SECONDS)
            stack.redis.start()
            load.phase = "after"
            time.sleep(LOAD_AFTER_SECONDS)
        assert calls_in(load, "redis down") > 0 and calls_in(load, "after") > 0, (
            "the load did not run through the outage"
        )
        # As a supervisor would (compose: restart unless-stopped). Workers now run without gossip
        # and mingle, whose channel close killed Celery 5.7's worker when the broker dropped
        # (kombu#582); should a worker still exit, late acks and the outboxes mean a restarted
        # one must deliver everything exactly once.
        stack.ensure_running()
        problems = drain_and_check(stack, receiver, load)
        assert not problems, "\n".join(problems)


def test_database_connections_terminated_mid_load_lose_nothing_and_answer_no_5xx(stack, receiver):
    with stack.logs_on_failure():
        started_whole(stack)
        assert stack.redis.ping()
        load = Load(stack, tag="db-terminated")
        terminated = []
        with load:
            time.sleep(LOAD_BEFORE_SECONDS)
            load.phase = "terminating"
            for _ in range(TERMINATIONS):
                with load.between_requests():
                    terminated.append(stack.terminate_connections())
                time.sleep(TERMINATION_EVERY_SECONDS)
            load.phase = "after"
            time.sleep(LOAD_AFTER_SECONDS)
        print(f"connections terminated each time: {terminated}")
        assert sum(terminated) > 0, "no connection of the portal was terminated"
        assert calls_in(load, "terminating") > 0 and calls_in(load, "after") > 0
        problems = drain_and_check(stack, receiver, load)
        assert not problems, "\n".join(problems)
