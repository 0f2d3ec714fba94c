"""Sustained monitoring event ingestion under gunicorn, on PostgreSQL (database
mof_bench_events, created and migrated if missing).

    .venv/bin/python bench/bench_events.py                      # every scenario, 20 s each
    .venv/bin/python bench/bench_events.py --scenario storm --duration 30 --clients 4
    .venv/bin/python bench/run.py --only events                 # as part of `make bench`

The server: `gunicorn mof.wsgi` with production settings, as bench/load.py runs it
(bench.load.server_env), on the machine's cores. The clients: Python threads in this
process (on the same cores), each posting pre-encoded JSON bodies over a kept-alive
connection with the token of a monitoring service account (Operations role), as fast as
the server answers. A batch counts when it was answered 201; the rate is accepted
events per second of wall-clock time.

Scenarios (target: >= 1,000 events/s in batches):

Each scenario first posts one body untimed (the workers load; the keys' alerts and
incidents open), then its clients post for --duration seconds.

* storm:  one deduplication key, batches of --batch events (default 500): one alert, one
          incident, one `UPDATE ... count = count + n` per batch
* spread: 200 keys on 50 CIs, batches of --batch events
* single: one event per request, one key (the per-request cost; the ingest rate limit is
          lifted for the bench server so it measures the server, not the limiter)

After each scenario the alert counts are checked against the events accepted, and the
incidents against the keys: one per key, never more. The monitoring tables are emptied
before each scenario (the database is the bench's own).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


DB_URL = "postgres://postgres@127.0.0.1:5432/mof_bench_events"
CONFIG = "-w 3"  # sync workers: ingestion is CPU-bound JSON and validation (measured, bench/README.md)
TARGET = 1000
N_CIS = 50
SCENARIOS = ("storm", "spread", "single")


# --- set-up (in this process, against mof_bench_events) ----------------------------------


def setup() -> str:
    """Migrate, create the CIs behind services and a monitoring service account; its token."""
    os.environ["DATABASE_URL"] = DB_URL
    os.environ["DJANGO_SETTINGS_MODULE"] = "mof.settings"
    os.environ.setdefault("DEBUG", "1")
    from bench.run import ensure_database

    ensure_database(DB_URL)
    import django

    django.setup()
    from django.core.management import call_command

    from mof.choices import RoleCluster
    from mof.models import CIClass, ConfigurationItem, Service, User
    from mof.tokens import service_account_create, token_issue, token_list, token_revoke

    call_command("migrate", interactive=False, verbosity=0)
    admin, _ = User.objects.get_or_create(
        username="bench-events-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    service, _ = Service.objects.get_or_create(name="Bench mail", defaults={"criticality": "high"})
    server_class = CIClass.objects.get(slug="server")
    for i in range(N_CIS):
        ci, created = ConfigurationItem.objects.get_or_create(
            name=f"bench-mbx-{i:02d}", defaults={"ci_class": server_class}
        )
        if created:
            ci.services.add(service)
    account = User.objects.filter(username="bench-scom").first() or service_account_create(
        actor=admin, username="bench-scom", roles=[RoleCluster.OPERATIONS]
    )
    for old in token_list(user=admin, owner=account).filter(
        revoked_at__isnull=True
    ):  # a user holds a bounded number of tokens
        token_revoke(actor=admin, token=old)
    _, key = token_issue(actor=admin, owner=account, name=f"bench {time.strftime('%H:%M:%S')}")
    return key


def reset():
    """Empty the monitoring tables (bench data only) and analyse them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE operations_monitoringevent, operations_monitoringalert")
        cursor.execute("ANALYZE operations_monitoringevent, operations_monitoringalert")


def check(run_id: str, accepted: int, keys: int) -> dict:
    from django.db.models import Sum

    from incidents.models import Incident
    from operations.models import MonitoringAlert, MonitoringEvent

    alerts = MonitoringAlert.objects.filter(key__startswith=run_id)
    counted = alerts.aggregate(n=Sum("count"))["n"] or 0
    incidents = Incident.objects.filter(monitoring_alerts__key__startswith=run_id).distinct().count()
    rows = MonitoringEvent.objects.filter(key__startswith=run_id).count()
    return {
        "alerts": alerts.count(),
        "counted": counted,
        "rows": rows,
        "incidents": incidents,
        "consistent": counted == rows == accepted and incidents == keys == alerts.count(),
    }


# --- the server and the clients ----------------------------------------------------------


def Server(config: str, token: str):
    """bench/load.py's gunicorn, with the ingest rate limit lifted: the server is measured, not the limiter."""
    from bench.load import Server as Gunicorn

    return Gunicorn(
        config,
        DB_URL,
        token,
        probe="/api/v1/alerts/?page_size=1",
        env={"MOF_RATE_INGEST": "10000000/minute"},
        timeout=120,
        prefix="mof-events-",
    )


def bodies(scenario: str, run_id: str, batch: int) -> tuple[list[bytes], int, int]:
    """Pre-encoded request bodies, the events in each, and the number of keys."""

    def event(n, key_no):
        return {
            "source": "scom",
            "ci": f"bench-mbx-{key_no % N_CIS:02d}",
            "severity": "critical",
            "key": f"{run_id}/k{key_no}",
            "message": f"Queue length {1000 + n % 977} on the transport service",
        }

    if scenario == "storm":
        return [json.dumps([event(b * batch + i, 0) for i in range(batch)]).encode() for b in range(20)], batch, 1
    if scenario == "spread":
        return (
            [
                json.dumps([event(b * batch + i, (b * batch + i) % 200) for i in range(batch)]).encode()
                for b in range(20)
            ],
            batch,
            200,
        )
    if scenario == "single":
        return [json.dumps(event(n, 0)).encode() for n in range(200)], 1, 1
    raise ValueError(scenario)


def drive(port: int, token: str, payloads: list[bytes], per_request: int, *, clients: int, duration: float) -> dict:
    """`clients` threads post for `duration` seconds; accepted events and latencies."""
    stop_at = time.monotonic() + duration
    lock = threading.Lock()
    totals = {"accepted": 0, "requests": 0, "errors": 0, "latencies": [], "first_error": ""}

    def client(offset):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        accepted = requests = errors = 0
        latencies, first_error = [], ""
        i = offset
        while requests == 0 or time.monotonic() < stop_at:
            started = time.monotonic()
            conn.request("POST", "/api/v1/events/", body=payloads[i % len(payloads)], headers=headers)
            response = conn.getresponse()
            body = response.read()
            latencies.append(time.monotonic() - started)
            requests += 1
            if response.status == 201:
                accepted += per_request
            else:
                errors += 1
                first_error = first_error or f"{response.status} {body[:200]!r}"
            i += 1
        conn.close()
        with lock:
            totals["accepted"] += accepted
            totals["requests"] += requests
            totals["errors"] += errors
            totals["latencies"] += latencies
            totals["first_error"] = totals["first_error"] or first_error

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n * 7,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals["elapsed"] = time.monotonic() - started  # includes the last requests in flight
    return totals


def measure(scenarios, *, token: str, config: str, clients: int, duration: int, batch: int, log=print) -> list[dict]:
    from django.db import connection

    results = []
    for scenario in scenarios:
        reset()
        connection.close()
        run_id = f"bench-{scenario}-{int(time.time())}"
        payloads, per_request, keys = bodies(scenario, run_id, batch)
        server = Server(config, token)
        try:
            # Warm-up, not timed: the workers load, and the keys' alerts and incidents open
            # (opening 200 incidents is the service desk's cost, not ingestion's).
            warm = drive(server.port, token, payloads[:1], per_request, clients=1, duration=0)
            totals = drive(server.port, token, payloads, per_request, clients=clients, duration=duration)
        finally:
            server.stop()
        latencies = sorted(totals["latencies"]) or [0.0]
        rate = totals["accepted"] / totals["elapsed"]
        row = {
            "scenario": scenario,
            "config": config,
            "clients": clients,
            "batch": per_request,
            "duration_s": duration,
            "events": totals["accepted"],
            "requests": totals["requests"],
            "errors": totals["errors"],
            "first_error": totals["first_error"],
            "events_per_s": round(rate, 1),
            "requests_per_s": round(totals["requests"] / totals["elapsed"], 1),
            "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1 if len(latencies) > 1 else 0] * 1000, 1),
            "target_met": rate >= TARGET if scenario != "single" else None,
            **check(run_id, warm["accepted"] + totals["accepted"], keys),
        }
        results.append(row)
        log(
            f"  [{config}] {scenario}: {row['events_per_s']:.0f} events/s ({row['requests_per_s']:.1f} req/s of {per_request}), "
            f"p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, errors {row['errors']}, "
            f"{row['alerts']} alert(s) counting {row['counted']:,}, {row['incidents']} incident(s), consistent: {row['consistent']}"
        )
    return results


def run_from_bench(*, small: bool = False) -> list[dict]:
    """Rows for bench/run.py's table: this bench in its own process (its own database)."""
    out = Path(tempfile.mkstemp(prefix="mof-events-", suffix=".json")[1])
    cmd = [sys.executable, str(Path(__file__)), "--output", str(out)] + (["--duration", "10"] if small else [])
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    print("Event ingestion under gunicorn (bench/bench_events.py, database mof_bench_events)")
    done = subprocess.run(cmd, cwd=ROOT, env=env)
    try:
        results = json.loads(out.read_text())["results"] if done.returncode == 0 else []
    finally:
        out.unlink(missing_ok=True)
    if not results:
        return [
            {
                "group": "events",
                "name": "Event ingestion (bench/bench_events.py)",
                "status": f"failed (exit {done.returncode})",
            }
        ]
    rows = []
    for r in results:
        name = {
            "storm": "events: POST batches, one key (storm)",
            "spread": "events: POST batches, 200 keys",
            "single": "events: POST one event per request",
        }[r["scenario"]]
        target = f" (target >= {TARGET})" if r["target_met"] is not None else ""
        rows.append(
            {
                "group": "events",
                "name": name,
                "status": "ok" if r["consistent"] and not r["errors"] else "check",
                "median_ms": r["p50_ms"],
                "p95_ms": r["p95_ms"],
                **r,
                "note": f"{r['events_per_s']:.0f} events/s{target}, batch {r['batch']}, gunicorn {r['config']}, {r['clients']} clients, consistent {r['consistent']}",
            }
        )
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Monitoring event ingestion under gunicorn (PostgreSQL mof_bench_events)"
    )
    parser.add_argument("--scenario", action="append", choices=SCENARIOS)
    parser.add_argument("--config", default=CONFIG, help=f"gunicorn options (default {CONFIG!r})")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "events.json"))
    args = parser.parse_args(argv)
    token = setup()
    print(
        f"Database mof_bench_events; gunicorn {args.config}; {args.clients} clients; load average {os.getloadavg()[0]:.2f}"
    )
    results = measure(
        args.scenario or SCENARIOS,
        token=token,
        config=args.config,
        clients=args.clients,
        duration=args.duration,
        batch=args.batch,
    )
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "load_1min": os.getloadavg()[0],
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"Written {out}")


if __name__ == "__main__":
    main()
