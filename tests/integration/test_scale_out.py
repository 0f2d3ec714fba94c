"""The portal scaled out on this machine: Debian's haproxy (deploy/haproxy/haproxy.cfg, health
checks on /healthz, retries with redispatch on a refused connection) in front of two web
instances (`bin/portal web`, gunicorn), two Celery workers and two beats (`bin/portal worker`,
`bin/portal beat`), one PostgreSQL and a private Redis (broker and cache).

A bounded mixed load runs through haproxy (incidents filed, worked and resolved, monitoring
events opening and clearing alerts, CAB decisions, list reads; tests/integration/
test_outage_under_load.py's load and checks, plus decisions and reads) while one web
instance and one worker are killed (SIGKILL, the whole process group) and started again.

Afterwards:
* every request answered 2xx except those in flight on the killed web instance at the kill,
  which haproxy answers 502; every other request sent to it meanwhile
  was retried on the other instance;
* everything the API accepted is in the database; every decision taken once;
* every notification mail written exactly once (each outbox row once, every mail the
  incidents must have caused), every webhook event delivered exactly once;
* the SLA sweep kept its rhythm (its schedule shortened from a minute to SWEEP_EVERY seconds,
  as the outage test shortens the relays), queued by exactly one beat per tick (the beat
  lease, mof.beat_lease: the other beat stood by all along) and run by a worker each tick
  but at most the one the killed worker held;
* /readyz through haproxy answers ready (the beat and worker heartbeats are fresh).

    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://... pytest tests/integration/test_scale_out.py
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from itertools import pairwise

import pytest

from tests.integration.lb import HAProxy
from tests.integration.stack import (
    ROOT,
    PortalStack,
    Process,
    free_port,
    postgres_url,
    wait_for,
)
from tests.integration.test_outage_under_load import (
    GROUP,
    RELAY_EVERY_SECONDS,
    SEED,
    WEBHOOK_TYPES,
    Load,
    Receiver,
    drain_and_check,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(postgres_url() is None, reason="needs PostgreSQL (set DATABASE_URL=postgres://...)"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (a private one is started)"),
]

PORTAL = str(ROOT / "bin" / "portal")
SWEEP_EVERY = 10  # seconds: the sweep's schedule (a minute in production), and the heartbeat's
WEB_THREADS = 4  # per web instance (one gunicorn process each)
DECISIONS = 40  # CAB agenda items decided by the load
LOAD_BEFORE = 10  # seconds of load before the kills
DOWN = 10  # seconds the killed web instance and worker stay down
LOAD_AFTER = 12  # seconds of load after both are back

SEED_CAB = """
import json
from mof.choices import RoleCluster
from mof.tokens import token_issue
from reviews import services
from tests.factories import ManagerFactory, UserFactory
from tests.reviews.conftest import change_in, make_meeting, vote_all

people = {
    "chair": ManagerFactory(username="scale-chair", roles=[RoleCluster.OPERATIONS]),
    "deputy": ManagerFactory(username="scale-deputy", roles=[RoleCluster.SECURITY]),
    "rel": UserFactory(username="scale-rel", roles=[RoleCluster.RELEASE]),
    "infra": UserFactory(username="scale-infra", roles=[RoleCluster.INFRASTRUCTURE]),
    "ops": UserFactory(username="scale-ops", roles=[RoleCluster.OPERATIONS]),
}
cab = make_meeting(people)
changes = [change_in() for _ in range(__DECISIONS__)]
items = services.agenda_refresh(actor=people["chair"], meeting=cab)
for item in items:
    vote_all(item, people)
_, chair_token = token_issue(actor=people["chair"], owner=people["chair"], name="load")

# The sweep and the heartbeat every __EVERY__ s instead of every minute.
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks
every, _ = IntervalSchedule.objects.get_or_create(every=__EVERY__, period=IntervalSchedule.SECONDS)
assert PeriodicTask.objects.filter(task__in=["slas.sweep", "mof.heartbeat"], enabled=True).update(interval=every, crontab=None) == 2
PeriodicTasks.update_changed()
print(json.dumps({"cab": cab.pk, "items": [i.pk for i in items], "chair_token": chair_token}))
"""


class ScaleOutStack(PortalStack):
    """PortalStack's database, Redis and environment, with two of each portal process
    started by the image's commands (bin/portal) and haproxy in front of the web ones."""

    def __post_init__(self):
        super().__post_init__()
        self.lb_port = free_port()
        self.base_url = f"http://127.0.0.1:{self.lb_port}"  # every request goes through haproxy
        self.web_ports = {"web1": free_port(), "web2": free_port()}
        self.lb: HAProxy | None = None

    def process_env(self, name: str) -> dict:
        env = {k: v for k, v in self.env().items() if not k.startswith("GUNICORN_")}
        env.update(
            {
                "PYTHON": sys.executable,
                "HOSTNAME": f"{name}-{os.getpid()}",
                "MOF_BEAT_HEARTBEAT_FILE": str(self.tmp / f"{name}-heartbeat"),
            }
        )
        if name in self.web_ports:
            env.update(
                {
                    "GUNICORN_BIND": f"127.0.0.1:{self.web_ports[name]}",
                    "GUNICORN_WORKERS": "1",
                    "GUNICORN_THREADS": str(WEB_THREADS),
                    "GUNICORN_GRACEFUL_TIMEOUT": "5",
                }
            )
        if name.startswith("worker"):
            env["CELERY_CONCURRENCY"] = "1"
        return env

    def start_processes(self) -> None:
        for name in ("web1", "web2", "worker1", "worker2", "beat1", "beat2"):
            self.processes[name] = Process(
                name, [PORTAL, name.rstrip("12")], env=self.process_env(name), log=self.tmp / f"{name}.log"
            ).start()
        self.lb = HAProxy(self.tmp, [f"127.0.0.1:{p}" for p in self.web_ports.values()], port=self.lb_port).start()
        for name in ("worker1", "worker2"):
            self.processes[name].wait_log(" ready.", timeout=120)
        for name in ("beat1", "beat2"):
            self.processes[name].wait_log("beat: Starting", timeout=60)
        for name in self.web_ports:
            self.wait_web(name)

    def wait_web(self, name: str) -> None:
        def answers():
            if not self.processes[name].running:
                raise AssertionError(f"{name} exited:\n{self.processes[name].text()[-3000:]}")
            try:
                import urllib.request

                with urllib.request.urlopen(f"http://127.0.0.1:{self.web_ports[name]}/healthz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(f"{name} to answer", answers, timeout=90)

    def kill(self, name: str) -> tuple[float, float]:
        """SIGKILL to the process group (gunicorn's master and workers, Celery's pool): no
        cleanup of any kind. Returns (signalled, gone) (monotonic): between the two the
        kernel may still queue connections on a dying web instance's listening socket."""
        process = self.processes[name]
        signalled = time.monotonic()
        os.killpg(process.proc.pid, signal.SIGKILL)
        process.proc.wait(timeout=10)
        if name in self.web_ports:

            def refused():
                try:
                    with socket.create_connection(("127.0.0.1", self.web_ports[name]), timeout=1):
                        return False
                except OSError:
                    return True

            wait_for(f"{name}'s port to refuse connections", refused, timeout=10, every=0.01)
        with open(process.log, "a") as log:
            log.write(f"\n--- {name} killed (SIGKILL) by the test ---\n")
        return signalled, time.monotonic()

    def restart(self, name: str) -> None:
        self.processes[name].start()

    def stop_processes(self) -> None:
        """Beats first (no new tasks), then the rest side by side (each may take its grace)."""
        beats = [threading.Thread(target=self.processes[n].stop) for n in ("beat1", "beat2") if n in self.processes]
        rest = [
            threading.Thread(target=self.processes[n].stop)
            for n in ("web1", "web2", "worker1", "worker2")
            if n in self.processes
        ]
        for group in (beats, rest):
            for t in group:
                t.start()
            for t in group:
                t.join(timeout=60)
        if self.lb is not None:
            self.lb.stop()

    def logs(self, lines: int = 30) -> str:
        text = super().logs(lines)
        if self.lb is not None and self.lb.process is not None:
            text += f"\n--- haproxy ---\n{self.lb.process.text()[-4000:]}"
        return text


class ScaleLoad(Load):
    """The outage test's load (filings worked and resolved, monitoring events) plus CAB
    decisions and list reads; every request timed, so that those in flight at a kill are known."""

    def __init__(self, stack, tag: str):
        super().__init__(stack, tag)
        self.timing: list[tuple[float, float]] = []  # per entry of self.calls: (sent, answered), monotonic
        self.items = list(stack.cab["items"])
        self.decided: dict[int, str] = {}  # agenda item -> decision answered 200
        self.threads += [threading.Thread(target=self._run, args=(f,), daemon=True) for f in (self._decide, self._read)]

    def call(self, what, method, path, token, body=None):
        for _ in range(10):
            self._enter()
            sent = time.monotonic()
            try:
                status, answer = self.stack.api(method, path, token, body)
            finally:
                self._leave()
            with self.lock:
                self.calls.append((what, self.phase, status, short(answer) if status >= 400 or status == 0 else ""))
                self.timing.append((sent, time.monotonic()))
            if status != 429 or self.stop.is_set():
                return status, answer
            time.sleep(1)
        return status, answer

    def _decide(self, n):
        if not self.items:
            time.sleep(0.5)
            return
        item = self.items.pop(0)
        decision = "approve" if n % 3 else "reject"
        status, _ = self.call(
            "decide",
            "POST",
            f"/api/v1/reviews/{self.stack.cab['cab']}/agenda/{item}/decision/",
            self.stack.cab["chair_token"],
            {"decision": decision, "reason": f"{self.tag} decision {n}"},
        )
        if status == 200:
            with self.lock:
                self.decided[item] = decision
        time.sleep(0.6)

    def _read(self, n):
        path, token = [
            ("/api/v1/incidents/?page_size=20", self.info["desk_token"]),
            ("/api/v1/alerts/?page_size=20", self.info["monitor_token"]),
            ("/api/v1/changes/?page_size=20", self.stack.cab["chair_token"]),
            (f"/api/v1/reviews/{self.stack.cab['cab']}/agenda/", self.stack.cab["chair_token"]),
        ][n % 4]
        self.call("read", "GET", path, token)
        time.sleep(0.2)

    def excuse_in_flight(self, killed: tuple[float, float]) -> list[tuple]:
        """Take out of the record the failed answers of requests in flight at the kill (sent
        before the instance was gone, answered after it was signalled): haproxy answers those
        502 (the instance died with them)."""
        signalled, gone = killed
        with self.lock:
            keep, excused = [], []
            for call, (sent, answered) in zip(self.calls, self.timing):
                failed = call[2] == 0 or call[2] >= 500
                (excused if failed and sent <= gone and answered >= signalled else keep).append(call)
            self.calls = keep
            self.timing = []
        return excused


def short(answer) -> str:
    from tests.integration.test_outage_under_load import short as outage_short

    return outage_short(answer)


# --- the logs ------------------------------------------------------------------------------


def json_lines(process: Process):
    for line in process.text().splitlines():
        if line.startswith("{"):
            try:
                yield json.loads(line)
            except ValueError:
                continue


def beat_sends(stack, task: str) -> list[tuple[datetime, str]]:
    """(when, which beat) of every time a beat queued `task`."""
    sends = []
    for name in ("beat1", "beat2"):
        for entry in json_lines(stack.processes[name]):
            if entry.get("message", "").startswith("Scheduler: Sending due task") and f"({task})" in entry["message"]:
                sends.append((datetime.fromisoformat(entry["time"]), name))
    return sorted(sends)


def sweeps_run(stack) -> list[datetime]:
    runs = []
    for name in ("worker1", "worker2"):
        for entry in json_lines(stack.processes[name]):
            message = entry.get("message", "")
            if message.startswith("Task slas.sweep[") and " succeeded in " in message:
                runs.append(datetime.fromisoformat(entry["time"]))
    return sorted(runs)


def gaps(times: list[datetime]) -> list[float]:
    return [round((b - a).total_seconds(), 1) for a, b in pairwise(times)]


# --- the test --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, receiver):
    started = time.monotonic()
    stack = ScaleOutStack(tmp_path_factory.mktemp("scale-out"), name="scaleout", env_extra={"MOF_NUM_PROXIES": "1"})
    with stack, stack.logs_on_failure():
        print(f"database migrated in {time.monotonic() - started:.0f} s")
        params = json.dumps(
            {
                "group": GROUP,
                "receiver": receiver.url,
                "webhook_types": WEBHOOK_TYPES,
                "relay_every": RELAY_EVERY_SECONDS,
            }
        )
        # Both seeds in one process (one Django start): each prints its JSON line.
        seed = SEED.format(params=params) + SEED_CAB.replace("__DECISIONS__", str(DECISIONS)).replace(
            "__EVERY__", str(SWEEP_EVERY)
        )
        out = stack.run(["-c", "import django\ndjango.setup()\n" + seed])
        stack.info, stack.cab = (
            json.loads(line) for line in [row for row in out.splitlines() if row.startswith("{")][-2:]
        )
        stack.start_processes()
        print(f"stack up (seeded, 2 web, 2 workers, 2 beats, haproxy) after {time.monotonic() - started:.0f} s")
        yield stack


def test_two_of_each_behind_haproxy_survive_a_killed_web_instance_and_worker(stack, receiver):
    with stack.logs_on_failure():
        assert len(stack.cab["items"]) == DECISIONS
        load = ScaleLoad(stack, tag="scale-out")
        with load:
            time.sleep(LOAD_BEFORE)
            load.phase = "web1 and worker1 down"
            web_killed = stack.kill("web1")
            stack.kill("worker1")
            worker_killed_wall = time.time()
            time.sleep(DOWN)
            stack.restart("web1")
            stack.restart("worker1")
            stack.wait_web("web1")
            stack.processes["worker1"].wait_log(" ready.", timeout=120)
            load.phase = "after"
            time.sleep(LOAD_AFTER)

        excused = load.excuse_in_flight(web_killed)
        print(
            f"in flight on web1 when it was killed, answered by haproxy: {[(w, s, d[:80]) for w, _, s, d in excused]}"
        )
        # Each load thread has one request in flight at a time: no more can have died with web1.
        assert len(excused) <= len(load.threads), "more requests failed at the kill than were in flight"
        during = Counter(status for _, phase, status, _ in load.calls if phase == "web1 and worker1 down")
        assert during and set(during) <= {200, 201}, f"answers while web1 was down: {dict(during)}"

        # A killed worker's claims on mail and webhook deliveries lapse after their lease (5
        # minutes, the webhook timeout + 60 s): lapse those taken before the kill now, as time would.
        lapsed = stack.query(
            "WITH m AS (UPDATE mof_outgoingmail SET claimed_until = now() WHERE status = 'pending' AND claimed_until > now() "
            "AND claimed_until < to_timestamp(%s) + interval '5 minutes' RETURNING 1), "
            "w AS (UPDATE integrations_webhookdelivery SET claimed_until = now() WHERE claimed_until > now() "
            "AND claimed_until < to_timestamp(%s) + interval '70 seconds' RETURNING 1) "
            "SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM w)",
            (worker_killed_wall, worker_killed_wall),
        )
        print(f"claims of the killed worker lapsed (mail, webhook deliveries): {lapsed}")

        problems = drain_and_check(stack, receiver, load)

        # Every outbox mail sent, each written once (decisions' and changes' mails too).
        rows = stack.query("SELECT message_id, status FROM mof_outgoingmail")
        unsent = [m for m, s in rows if s != "sent"]
        written = Counter(mail.message_id.strip("<>") for mail in stack.mails())
        ids = {m.strip("<>") for m, _ in rows}
        if unsent:
            problems.append(f"{len(unsent)} of {len(rows)} outbox mails not sent")
        if set(written) != ids or any(n > 1 for n in written.values()):
            problems.append(
                f"mail written vs outbox: missing {sorted(ids - set(written))[:5]}, unknown "
                f"{sorted(set(written) - ids)[:5]}, twice {[m for m, n in written.items() if n > 1][:5]}"
            )

        # Every decision answered 200 stands, once.
        decided = stack.query(
            "SELECT a.id, a.decision, (SELECT count(*) FROM mof_reviewdecisionrecord r WHERE r.object_id = a.object_id AND r.model_label = a.model_label) "
            "FROM reviews_agendaitem a WHERE a.meeting_id = %s AND a.state = 'decided'",
            (stack.cab["cab"],),
        )
        stands = {pk: (decision, records) for pk, decision, records in decided}
        wrong = {pk: (d, stands.get(pk)) for pk, d in load.decided.items() if stands.get(pk, (None,))[0] != d}
        twice = {pk: n for pk, (_, n) in stands.items() if n != 1}
        if wrong or twice:
            problems.append(f"decisions answered 200 but not as answered: {wrong}; recorded other than once: {twice}")
        if len(load.decided) < DECISIONS // 2:
            problems.append(f"only {len(load.decided)} decisions taken")

        # Both web instances served, and web1 again after its restart.
        served = {
            name: stack.processes[name].text().count('"GET /') + stack.processes[name].text().count('"POST /')
            for name in ("web1", "web2")
        }
        after_restart = stack.processes["web1"].text().rsplit("killed (SIGKILL)", 1)[-1]
        if not all(served.values()) or '"POST /' not in after_restart and '"GET /api' not in after_restart:
            problems.append(
                f"requests served per instance: {served}; web1 after its restart: {after_restart.count(' HTTP/1.')}"
            )

        # The sweep's rhythm: one beat queued each tick (the other stood by), a worker ran it.
        sends = beat_sends(stack, "slas.sweep")
        by_beat = Counter(name for _, name in sends)
        send_gaps = gaps([t for t, _ in sends])
        standby = [name for name in ("beat1", "beat2") if "stands by" in stack.processes[name].text()]
        if len(by_beat) != 1 or len(standby) != 1 or set(standby) & set(by_beat):
            problems.append(f"sweeps queued per beat: {dict(by_beat)}; standing by: {standby}")
        if len(sends) < 5 or not all(SWEEP_EVERY - 1.5 <= g <= SWEEP_EVERY + 5 for g in send_gaps):
            problems.append(
                f"the sweep was queued {len(sends)} times, at intervals {send_gaps} (every {SWEEP_EVERY} s expected)"
            )
        runs = sweeps_run(stack)
        if len(runs) < len(sends) - 1 or any(g > 2 * SWEEP_EVERY + 5 for g in gaps(runs)):
            problems.append(f"{len(runs)} sweeps ran for {len(sends)} queued, at intervals {gaps(runs)}")
        print(
            f"sweep queued by {dict(by_beat)} at intervals {send_gaps}; run at intervals {gaps(runs)}; requests served {served}"
        )

        # Ready, through haproxy: database, Redis, migrations, worker and beat heartbeats, backlogs.
        status, body = stack.api("GET", "/readyz", None)
        if status != 200:
            problems.append(f"/readyz: {status} {body}")
        for name, process in stack.processes.items():
            if not process.running:
                problems.append(f"{name} exited")
        assert not problems, "\n".join(problems)
