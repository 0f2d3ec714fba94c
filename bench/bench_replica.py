"""Report pages with and without the read replica, under a write load on the primary.

Starts a fresh PostgreSQL primary and a streaming replica of it (tests/integration/pgcluster.py,
ports 5441 and 5442, deleted afterwards), migrates the primary, COPYs SLA clocks (the SLA
bench's generator), and times the SLA compliance report, the availability summary and the
capacity dashboard through Django's test client twice: with the lag-tolerant reads on the
primary (as without DATABASE_REPLICA_URL) and on the replica, each while a thread commits
small writes on the primary (inserts, and updates of the clocks the report reads). Reports
the page latencies, the writes per second the primary took meanwhile and the replica's
largest replay lag. Both clusters run on this one machine, so the replica adds no CPU: what
the figures show is the cost of reading from a standby that is replaying a write load, and
what moving the reads off the primary gives its writers.

    .venv/bin/python bench/bench_replica.py [--runs 15] [--output bench/results/replica.json]

Skipped (with the reason) when the clusters cannot be started.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DB = "mof_bench_replica"
PAGES = (
    ("SLA compliance report", "sla_reports"),
    ("availability summary", "availability_summary"),
    ("capacity dashboard", "capacity_dashboard"),
)
N_OPEN, N_CLOSED = 2_000, 40_000


class WriteLoad(threading.Thread):
    """Commits small transactions on the primary until stopped: 100 inserted rows, and 20 of
    the SLA clocks touched (the sweep and recomputations write there too)."""

    def __init__(self, url: str, clock_ids: list[int]):
        super().__init__(daemon=True)
        self.url, self.clock_ids = url, clock_ids
        self.halt = threading.Event()
        self.commits = 0

    def run(self):
        import random

        import psycopg

        rnd = random.Random(1)
        with psycopg.connect(self.url, application_name="bench-write-load") as conn:
            while not self.halt.is_set():
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO bench_replica_load (payload) SELECT md5(random()::text) FROM generate_series(1, 100)"
                    )
                    cur.execute(
                        "UPDATE slas_slaclock SET elapsed_seconds = elapsed_seconds WHERE id = ANY(%s)",
                        [rnd.sample(self.clock_ids, 20)],
                    )
                self.commits += 1


def lag_bytes(primary) -> int:
    rows = primary.execute(
        "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)::bigint FROM pg_stat_replication"
    )
    return int(rows[0][0]) if rows else 0


def measure(primary, runs: int) -> list[dict]:
    from django.conf import settings
    from django.db import connections
    from django.test import Client
    from django.urls import reverse

    from bench.bench_slas import _actor, _setup_sla, generate
    from mof import db_router

    print(f"  COPY {N_OPEN:,} open and {N_CLOSED:,} closed SLA clocks", flush=True)
    _, calendar, version = _setup_sla()
    generate(calendar, version, n_open=N_OPEN, n_closed=N_CLOSED, seed=42)
    primary.execute(
        "CREATE TABLE IF NOT EXISTS bench_replica_load (id bigserial PRIMARY KEY, payload text)", database=DB
    )
    primary.execute("VACUUM ANALYZE", database=DB)
    clock_ids = [pk for (pk,) in primary.execute("SELECT id FROM slas_slaclock ORDER BY id LIMIT 5000", database=DB)]
    client = Client()
    client.force_login(_actor())
    urls = [(label, reverse(name)) for label, name in PAGES]
    real_replica_alias = db_router.replica_alias
    rows = []
    for mode in ("primary", "replica"):
        db_router.replica_alias = real_replica_alias if mode == "replica" else (lambda: None)
        settings.DEBUG = True  # one untimed pass: where the reads went
        for conn in connections.all():
            conn.queries_log.clear()
        for _, url in urls:
            assert client.get(url).status_code == 200, url
        on_replica = len(connections["replica"].queries)
        settings.DEBUG = False
        load = WriteLoad(primary.url(DB), clock_ids)
        load.start()
        started, lags, timings = time.perf_counter(), [], {label: [] for label, _ in urls}
        for _ in range(runs):
            for label, url in urls:
                t = time.perf_counter()
                response = client.get(url)
                timings[label].append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200, url
            lags.append(lag_bytes(primary))
        load.halt.set()
        load.join(timeout=30)
        elapsed = time.perf_counter() - started
        writes = load.commits / elapsed
        for label, samples in timings.items():
            samples.sort()
            row = {
                "group": "replica",
                "name": f"{label}, reads on the {mode}, writes on the primary",
                "status": "ok",
                "median_ms": round(statistics.median(samples), 1),
                "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 1),
                "runs": runs,
                "mode": mode,
                "primary_writes_per_s": round(writes),
                "max_replay_lag_bytes": max(lags),
                "queries_on_replica": on_replica,
            }
            row["note"] = f"primary took {writes:.0f} write tx/s meanwhile; replay lag up to {max(lags) / 1024:.0f} kB"
            if mode == "replica" and on_replica == 0 or mode == "primary" and on_replica:
                row["status"] = "check: the reads did not go where this mode sends them"
            rows.append(row)
            print(f"  {row['name']}: median {row['median_ms']} ms, p95 {row['p95_ms']} ms; {row['note']}", flush=True)
    db_router.replica_alias = real_replica_alias
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "replica.json"))
    args = parser.parse_args(argv)
    from tests.integration.pgcluster import ClusterUnavailable, streaming_pair

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        pair = streaming_pair()
        primary, replica = pair.__enter__()
    except ClusterUnavailable as exc:
        reason = f"skipped: cannot start a primary and a streaming replica ({exc})".splitlines()[0][:300]
        print(f"  {reason}")
        out.write_text(json.dumps({"skipped": reason, "results": []}, indent=2) + "\n")
        return
    try:
        print(
            f"  primary :{primary.port} and streaming replica :{replica.port} up in {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        primary.execute(f"CREATE DATABASE {DB}")
        os.environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "mof.settings",
                "DEBUG": "1",
                "ALLOWED_HOSTS": "testserver",
                "DATABASE_URL": primary.url(DB),
                "DATABASE_REPLICA_URL": replica.url(DB),
                "DATABASE_CONN_MAX_AGE": "600",
                "MOF_VAR_DIR": tempfile.mkdtemp(prefix="mof-bench-replica-"),
            }
        )
        os.environ.pop("DATABASE_POOL", None)
        import logging

        logging.getLogger("django.request").setLevel(logging.CRITICAL)
        import django

        django.setup()
        from django.core.management import call_command

        t = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        print(f"  migrated the primary in {time.perf_counter() - t:.0f} s", flush=True)
        replica.wait_for_replay(primary, timeout=60)
        rows = measure(primary, args.runs)
        from django.db import connections

        connections.close_all()
    finally:
        pair.__exit__(None, None, None)
    out.write_text(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "load_1min": os.getloadavg()[0],
                "seconds": round(time.perf_counter() - t0),
                "results": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"  done in {time.perf_counter() - t0:.0f} s; written {out}")


def run_from_bench() -> list[dict]:
    """Rows for bench/run.py's table: this bench in its own process (its own clusters)."""
    out = Path(tempfile.mkstemp(prefix="mof-replica-", suffix=".json")[1])
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DATABASE_REPLICA_URL", "DJANGO_SETTINGS_MODULE")
    }
    print(
        "Report pages with and without the read replica (bench/bench_replica.py, clusters on ports 5441/5442)",
        flush=True,
    )
    done = subprocess.run([sys.executable, str(Path(__file__)), "--output", str(out)], cwd=ROOT, env=env)
    try:
        result = json.loads(out.read_text()) if done.returncode == 0 and out.stat().st_size else {}
    finally:
        out.unlink(missing_ok=True)
    if result.get("skipped"):
        return [
            {"group": "replica", "name": "Report pages with and without the read replica", "status": result["skipped"]}
        ]
    if not result.get("results"):
        return [
            {
                "group": "replica",
                "name": "Report pages with and without the read replica (bench/bench_replica.py)",
                "status": f"failed (exit {done.returncode})",
            }
        ]
    return result["results"]


if __name__ == "__main__":
    main()
