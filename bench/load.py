"""Throughput of the incident API under gunicorn, on the machine's cores, against the bench
database (1,000,000 incidents, see bench/bench_incidents.py).

    .venv/bin/python bench/load.py                       # every config in CONFIGS, every scenario
    .venv/bin/python bench/load.py --config "-w 2" --duration 20 --connections 8
    .venv/bin/python bench/run.py --only load            # the best config, as part of `make bench`
    .venv/bin/python bench/load.py --cpu 500             # CPU ms per request in-process (Django, PostgreSQL)

The server: `gunicorn mof.wsgi` with production settings (DEBUG=0, a random SECRET_KEY,
ALLOWED_HOSTS=127.0.0.1; only SECURE_SSL_REDIRECT=0 and HSTS off because there is no TLS
terminator in front of it here), DATABASE_CONN_MAX_AGE=600, the filesystem Celery broker in
a temporary directory, access log off. The load generator: wrk (apt-get install wrk), with
a Lua script per scenario for the token header, the request and the percentiles; it runs
on the same cores as gunicorn and PostgreSQL, as the issue asks.

Scenarios (a portal API token, mof.tokens, of a Support agent of the largest group):

* detail: GET /api/v1/incidents/{id}/ on random ids among the 1,000,000 (target >= 500/s)
* cursor: GET /api/v1/incidents/?cursor=<random position>&page_size=50 (target >= 250/s)
* file:   POST /api/v1/incidents/ (JSON: title, description, service, impact, urgency,
          category, assignment group; target >= 200/s sustained). The incidents filed are
          deleted afterwards (SQL), so the data set stays at 1,000,000; their audit rows stay.

p99 target < 150 ms for the two reads. Results: one JSON line per run, and a table.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/mof_bench"
AGENT = "bench-agent-001"
BENCH_TOKEN = "bench/load.py"
# gunicorn configurations tried (2 cores): sync workers, and gthread.
CONFIGS = ["-w 2", "-w 4", "-w 2 --threads 4", "-w 3 --threads 2"]
# Best reads of CONFIGS measured 2026-11-25 (bench/README.md), and again 2026-11-26 after the
# rows read path: detail 690 / cursor 506 req/s (-w 2 --threads 2: 655 / 298; -w 2 --threads 4:
# 636 / 494; -w 4 --threads 2: 620 / 490; one 20 s run each, load rising from 0.1 to 6 meanwhile).
# Filing (POST) measured 2026-11-26 after the lean create path, 20 s each, load 1.1 at start:
# -w 3 --threads 2: 291 req/s, 4.6 ms gunicorn CPU a filing; -w 3: 275 (4.9 ms); -w 2 --threads 2:
# 274 (4.9 ms); -w 4: 250 (5.7 ms); -w 4 --threads 2: 178 (5.5 ms). Sync workers answer each
# request on a new connection (no keep-alive), more processes share two cores less well: the
# same configuration stays the best for filing too. PostgreSQL keeps synchronous_commit on.
BEST = "-w 3 --threads 2"
TARGETS = {"detail": (500, 150), "cursor": (250, 150), "file": (200, None)}

LUA_COMMON = r"""
local pick = function(t) return t[math.random(1, #t)] end
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "non2xx": %d, "socket_errors": %d, "p50_us": %d, "p90_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.errors.status, errors,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99), latency.max, latency.mean))
end
"""


def lua_script(scenario: str, token: str, *, max_id: int, group: int, services: list[int], seed: int) -> str:
    headers = f'wrk.headers["Authorization"] = "Token {token}"\nwrk.headers["Accept"] = "application/json"\n'
    rng = random.Random(seed)
    if scenario == "detail":
        body = f"math.randomseed({seed})\nrequest = function() return wrk.format('GET', '/api/v1/incidents/' .. math.random(1, {max_id}) .. '/') end\n"
    elif scenario == "cursor":
        cursors = [
            base64.b64encode(urlencode({"p": str(rng.randint(1, max_id - 100))}).encode()).decode() for _ in range(2000)
        ]
        table = ",".join(f'"/api/v1/incidents/?{urlencode({"cursor": c, "page_size": 50})}"' for c in cursors)
        body = f"math.randomseed({seed})\nlocal paths = {{{table}}}\nrequest = function() return wrk.format('GET', pick(paths)) end\n"
    elif scenario == "file":
        bodies = []
        for i in range(500):
            bodies.append(
                json.dumps(
                    {
                        "title": rng.choice(
                            [
                                "VPN drops every few minutes",
                                "Outlook cannot send",
                                "SAP transaction hangs",
                                "Printer on floor 3 prints blank pages",
                                "Payroll report shows the wrong totals",
                            ]
                        )
                        + f" (load {i})",
                        "description": "Filed by bench/load.py through the API. The monitoring alert fired; users in the call centre are affected.",
                        "service": rng.choice(services) if services else None,
                        "impact": rng.randint(1, 3),
                        "urgency": rng.randint(1, 3),
                        "category": "Network",
                        "assignment_group": group,
                        "channel": "monitoring",
                    }
                )
            )
        table = ",".join(json.dumps(b) for b in bodies)
        body = (
            f"math.randomseed({seed})\nlocal bodies = {{{table}}}\nwrk.headers['Content-Type'] = 'application/json'\n"
            "request = function() return wrk.format('POST', '/api/v1/incidents/', nil, pick(bodies)) end\n"
        )
    else:
        raise ValueError(scenario)
    return LUA_COMMON + headers + body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(db_url: str, var_dir: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mof.settings",
            "DATABASE_URL": db_url,
            "DATABASE_CONN_MAX_AGE": "600",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            "MOF_BASE_URL": "http://127.0.0.1",  # required with DEBUG off (links in mails and webhooks)
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_HSTS_SECONDS": "0",
            "MOF_VAR_DIR": var_dir,
            "MOF_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            # Rate limits stay on, counted in Redis as in production, but high enough that the
            # bench measures the server's capacity rather than the per-token limit (600/minute).
            "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/4"),
            "MOF_RATE_TOKEN": "100000000/minute",
            "MOF_RATE_USER": "100000000/minute",
        }
    )
    return env


class Server:
    """gunicorn on the bench database in its own process group, ready once `probe` answers 200."""

    def __init__(
        self,
        config: str,
        db_url: str,
        token: str,
        *,
        probe: str = "/api/v1/incidents/1/",
        env: dict | None = None,
        timeout: int = 60,
        prefix: str = "mof-load-",
    ):
        self.config = config
        self.port = free_port()
        self.var_dir = tempfile.mkdtemp(prefix=prefix)
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        cmd = [
            gunicorn,
            "mof.wsgi",
            "-b",
            f"127.0.0.1:{self.port}",
            "--log-level",
            "warning",
            "--timeout",
            str(timeout),
            *config.split(),
        ]
        self.log = open(Path(self.var_dir) / "gunicorn.log", "w")
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**server_env(db_url, self.var_dir), **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + timeout
        while True:
            try:
                req = urllib.request.Request(f"{self.url}{probe}", headers={"Authorization": f"Token {token}"})
                with urllib.request.urlopen(req, timeout=5) as r:
                    if r.status == 200:
                        break
            except urllib.error.HTTPError as exc:
                self.stop()
                raise RuntimeError(f"gunicorn answers HTTP {exc.code}: {exc.read()[:300]!r}") from exc
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(
                    f"gunicorn ({config}) did not come up: {(Path(self.var_dir) / 'gunicorn.log').read_text()[-2000:]}"
                )
            time.sleep(0.3)

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server's process group so far (Linux /proc), or None."""
        total, tick = 0, os.sysconf("SC_CLK_TCK")
        try:
            entries = [p for p in os.listdir("/proc") if p.isdigit()]
        except OSError:
            return None
        for pid in entries:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if int(fields[2]) == self.proc.pid:  # its process group: the master and its workers
                total += int(fields[11]) + int(fields[12])
        return total / tick

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group only (start_new_session)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        shutil.rmtree(self.var_dir, ignore_errors=True)


def wrk(url: str, script: str, *, connections: int, duration: int, threads: int = 2) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        out = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s", "-s", path, url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
        )
    finally:
        os.unlink(path)
    line = next((row for row in out.stdout.splitlines() if row.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed: {out.stdout[-1000:]} {out.stderr[-1000:]}")
    r = json.loads(line[len("RESULT ") :])
    secs = r["duration_us"] / 1e6
    ok = r["requests"] - r["non2xx"]
    return {
        "requests": r["requests"],
        "non2xx": r["non2xx"],
        "socket_errors": r["socket_errors"],
        "rps": round(r["requests"] / secs, 1),
        "ok_rps": round(ok / secs, 1),
        "p50_ms": r["p50_us"] / 1000,
        "p90_ms": r["p90_us"] / 1000,
        "p95_ms": r["p95_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "mean_ms": round(r["mean_us"] / 1000, 2),
    }


def setup(db_url: str) -> dict:
    os.environ["DATABASE_URL"] = db_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mof.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.db import connection

    from mof.models import ApiToken, User
    from mof.models_access import SHOWN_LENGTH, new_token_key, token_digest

    agent = User.objects.get(username=AGENT)
    # A portal token (mof.tokens), as POST /api/v1/auth/token/ issues them; bench data, so
    # written directly, and the previous run's removed.
    ApiToken._base_manager.filter(user=agent, name=BENCH_TOKEN).delete()
    key = new_token_key()
    ApiToken._base_manager.create(user=agent, name=BENCH_TOKEN, prefix=key[:SHOWN_LENGTH], digest=token_digest(key))
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(id), count(*) FROM incidents_incident")
        max_id, count = cursor.fetchone()
        cursor.execute("SELECT id FROM mof_service ORDER BY id LIMIT 50")
        services = [r[0] for r in cursor.fetchall()]
    if not count:
        raise SystemExit("No incidents: load them first (bench/run.py --only incidents, or bench/bench_incidents.py).")
    # Filing starts SLA clocks as in production (the bench data holds no SLAs): the same set every run.
    from bench.profile_filing import ensure_slas

    ensure_slas(agent)
    return {"token": key, "max_id": max_id, "count": count, "group": sorted(agent.team_ids)[0], "services": services}


def delete_filed(max_id: int) -> int:
    """Remove what the filing scenario created, with its SLA events and clocks (bench data:
    plain SQL, no audit; the audit trail keeps its rows)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        ticket = "ticket_type = 'incidents.incident' AND ticket_id > %s"
        cursor.execute(
            f"DELETE FROM slas_clocknotification WHERE clock_id IN (SELECT id FROM slas_slaclock WHERE {ticket})",
            [max_id],
        )
        cursor.execute(f"DELETE FROM slas_slaclock WHERE {ticket}", [max_id])
        cursor.execute(
            "SET LOCAL session_replication_role = replica"
        )  # the event log refuses DELETE (a trigger); superuser only
        cursor.execute(f"DELETE FROM slas_ticketevent WHERE {ticket}", [max_id])
        cursor.execute("SET LOCAL session_replication_role = origin")
        cursor.execute("DELETE FROM incidents_incident_affected_cis WHERE incident_id > %s", [max_id])
        cursor.execute("DELETE FROM incidents_incidentnote WHERE incident_id > %s", [max_id])
        cursor.execute("DELETE FROM incidents_incident WHERE id > %s", [max_id])
        n = cursor.rowcount
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) incidents_incident")
    return n


def measure(
    config: str,
    scenarios,
    *,
    db_url: str,
    info: dict,
    connections: int,
    duration: int,
    warmup: int,
    seed: int,
    log=print,
) -> list[dict]:
    results = []
    server = Server(config, db_url, info["token"])
    try:
        for scenario in scenarios:
            script = lua_script(
                scenario,
                info["token"],
                max_id=info["max_id"],
                group=info["group"],
                services=info["services"],
                seed=seed,
            )
            if warmup:
                wrk(server.url, script, connections=connections, duration=warmup)
            cpu0 = server.cpu_seconds()
            r = wrk(server.url, script, connections=connections, duration=duration)
            cpu1 = server.cpu_seconds()
            # gunicorn's own CPU (master and workers) per request: what the server costs, whatever
            # else the machine runs meanwhile (wrk, PostgreSQL, other people's work).
            r["server_cpu_ms"] = (
                round((cpu1 - cpu0) * 1000 / r["requests"], 2)
                if cpu0 is not None and cpu1 is not None and r["requests"]
                else None
            )
            r.update({"scenario": scenario, "config": config, "connections": connections, "duration_s": duration})
            target_rps, target_p99 = TARGETS[scenario]
            r["rps_met"] = r["ok_rps"] >= target_rps
            r["p99_met"] = None if target_p99 is None else r["p99_ms"] < target_p99
            results.append(r)
            log(
                f"  [{config}] {scenario}: {r['ok_rps']:.0f} req/s (target {target_rps}), p50 {r['p50_ms']:.1f} ms, "
                f"p95 {r['p95_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, non-2xx {r['non2xx']}, socket errors {r['socket_errors']}, "
                f"gunicorn CPU {r['server_cpu_ms']} ms/request, load average {os.getloadavg()[0]:.2f}"
            )
    finally:
        server.stop()
        if "file" in scenarios:  # after the server stopped: requests still in flight when wrk ended are committed too
            n = delete_filed(info["max_id"])
            log(f"    {n:,} filed incidents deleted again")
    return results


def cpu_per_request(
    info: dict, scenarios, *, requests: int = 500, rounds: int = 3, seed: int = 42, log=print
) -> list[dict]:
    """CPU milliseconds per request in this process (Django, through its WSGI handler, with the
    server's settings: call after os.environ.update(server_env(...)) and setup()) and in the
    PostgreSQL backend serving it (from /proc, when the database runs on this machine). More
    robust than req/s on a shared machine: other processes' load does not count. The best of
    `rounds` runs of `requests` requests each."""
    import io

    from django.db import connection

    from mof.wsgi import application

    rng = random.Random(seed)

    def environ(path, query=""):
        return {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Token {info['token']}",
            "HTTP_ACCEPT": "application/json",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
        }

    def detail():
        return environ(f"/api/v1/incidents/{rng.randint(1, info['max_id'])}/")

    def cursor():
        position = base64.b64encode(urlencode({"p": str(rng.randint(1, info["max_id"] - 100))}).encode()).decode()
        return environ("/api/v1/incidents/", urlencode({"cursor": position, "page_size": 50}))

    def call(env):
        status = []
        b"".join(application(env, lambda line, headers: status.append(line)))
        if not status[0].startswith("200"):
            raise RuntimeError(f"{env['PATH_INFO']}?{env['QUERY_STRING']}: {status[0]}")

    def backend_cpu(pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    makers = {"detail": detail, "cursor": cursor}
    results = []
    for scenario in scenarios:
        for _ in range(50):  # warm: the connection, the plans, the URL resolver
            call(makers[scenario]())
        with connection.cursor() as c:
            c.execute("SELECT pg_backend_pid()")
            pid = c.fetchone()[0]
        django_ms, postgres_ms = [], []
        for _ in range(rounds):
            batch = [makers[scenario]() for _ in range(requests)]
            pg0, t0 = backend_cpu(pid), time.process_time()
            for env in batch:
                call(env)
            django_ms.append((time.process_time() - t0) / requests * 1000)
            pg1 = backend_cpu(pid)
            if pg0 is not None and pg1 is not None:
                postgres_ms.append((pg1 - pg0) / requests * 1000)
        r = {
            "scenario": scenario,
            "requests": requests,
            "rounds": rounds,
            "django_cpu_ms": round(min(django_ms), 2),
            "postgres_cpu_ms": round(min(postgres_ms), 2) if postgres_ms else None,
        }
        log(
            f"  {scenario}: Django {r['django_cpu_ms']:.2f} ms CPU per request (runs {', '.join(f'{x:.2f}' for x in django_ms)}), "
            f"PostgreSQL {r['postgres_cpu_ms'] if r['postgres_cpu_ms'] is not None else '?'} ms"
        )
        results.append(r)
    return results


def check_wrk():
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (the load generator bench/load.py drives).")


def run_from_bench(seed: int = 42, config: str = BEST, connections: int = 8, duration: int = 20) -> list[dict]:
    """Rows for bench/run.py's table (called after the other groups)."""
    print(f"Throughput under gunicorn ({config}), wrk, {connections} connections, {duration}s per scenario")
    if shutil.which("wrk") is None:
        return [
            {
                "group": "load",
                "name": "Throughput (bench/load.py)",
                "status": "not available: wrk is not installed (apt-get install -y wrk)",
            }
        ]
    from django.db import connection

    db_url = os.environ["DATABASE_URL"]
    info = setup(db_url)
    connection.close()
    rows = []
    for r in measure(
        config,
        ["detail", "cursor", "file"],
        db_url=db_url,
        info=info,
        connections=connections,
        duration=duration,
        warmup=5,
        seed=seed,
    ):
        target_rps, target_p99 = TARGETS[r["scenario"]]
        name = {
            "detail": "load: GET /api/v1/incidents/{id}/",
            "cursor": "load: GET /api/v1/incidents/?cursor= (50 rows)",
            "file": "load: POST /api/v1/incidents/ (filing)",
        }[r["scenario"]]
        rows.append(
            {
                "group": "load",
                "name": name,
                "status": "ok",
                "median_ms": r["p50_ms"],
                "p95_ms": r["p95_ms"],
                **r,
                "note": f"{r['ok_rps']:.0f} req/s (target {target_rps}), p99 {r['p99_ms']:.1f} ms"
                + (f" (target < {target_p99})" if target_p99 else "")
                + f", gunicorn {config}, wrk c={connections}",
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description="Incident API throughput under gunicorn (wrk)")
    parser.add_argument("--config", action="append", help=f"gunicorn options (repeatable; default: all of {CONFIGS})")
    parser.add_argument("--scenario", action="append", choices=("detail", "cursor", "file"))
    parser.add_argument("--connections", type=int, action="append", help="wrk connections (repeatable; default 8)")
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "load.json"))
    parser.add_argument(
        "--cpu",
        type=int,
        metavar="N",
        help="instead of gunicorn and wrk: CPU ms per request in-process, over N requests (x3)",
    )
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    db_url = url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_DB
    if args.cpu:
        # The server's settings in this process (DEBUG off, Redis rate counters...), then the requests.
        os.environ.update(server_env(db_url, tempfile.mkdtemp(prefix="mof-load-cpu-")))
        info = setup(db_url)
        print(
            f"{info['count']:,} incidents; in-process, {args.cpu} requests x 3 per scenario; load average {os.getloadavg()[0]:.2f}"
        )
        cpu_per_request(
            info, [x for x in (args.scenario or ["detail", "cursor"]) if x != "file"], requests=args.cpu, seed=args.seed
        )
        return
    check_wrk()
    info = setup(db_url)
    from django.db import connection

    connection.close()
    print(f"{info['count']:,} incidents; agent {AGENT} (group {info['group']}); load average {os.getloadavg()[0]:.2f}")
    results = []
    for config in args.config or CONFIGS:
        for c in args.connections or [8]:
            results += measure(
                config,
                args.scenario or ["detail", "cursor", "file"],
                db_url=db_url,
                info=info,
                connections=c,
                duration=args.duration,
                warmup=args.warmup,
                seed=args.seed,
            )
    print()
    print(
        f"{'config':<22}{'scenario':<9}{'conns':>6}{'req/s':>9}{'p50':>8}{'p95':>8}{'p99':>8}{'non2xx':>8}{'cpu ms':>8}"
    )
    for r in results:
        print(
            f"{r['config']:<22}{r['scenario']:<9}{r['connections']:>6}{r['ok_rps']:>9.0f}{r['p50_ms']:>8.1f}{r['p95_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['non2xx']:>8}{r['server_cpu_ms'] or 0:>8.2f}"
        )
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "results": results}, indent=2) + "\n"
    )
    print(f"Written {out}")


if __name__ == "__main__":
    main()
