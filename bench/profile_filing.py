"""CPU and SQL of one filing (POST /api/v1/incidents/), in-process, against a bench database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/<copy> .venv/bin/python bench/profile_filing.py --runs 300
    ... --profile 30          # also a cProfile of 30 filings (top functions by cumulative time)
    ... --show-sql            # print the SQL of one filing

The gunicorn server's settings of bench/load.py (DEBUG=0, the Redis cache for rate counters and
generations, BENCH_CACHE_URL to choose its database), a portal token (mof.tokens) of its Support
agent, the same JSON bodies as its `file` scenario, through Django's WSGI handler. CPU is
`time.process_time()` of this process over the filings, and the CPU of the PostgreSQL backend
serving it (from /proc); queries are counted on one filing with CaptureQueriesContext. The
incidents filed and their SLA events and clocks are deleted again afterwards (plain SQL);
their audit rows stay (the trail is append-only).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def setup(db_url: str) -> dict:
    """The server's environment (bench/load.py) in this process, then Django; the portal token."""
    from bench import load

    os.environ.update(load.server_env(db_url, tempfile.mkdtemp(prefix="mof-profile-filing-")))
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    return load.setup(db_url)


def ensure_slas(agent, log=print) -> None:
    """A realistic SLA set, as the demo work has (the bench data holds none): office-hours and 24x7
    calendars, SLAs by priority for every service, a stricter one for the first service and an
    OLA owed by the agent's group; active at once (bench data, no SLA Review)."""
    import datetime as dt

    from mof.models import Service, User
    from slas import services as sla
    from slas.models import ServiceLevelAgreement, SLAStatus

    if ServiceLevelAgreement.objects.filter(name__startswith="bench-filing").exists():
        return
    manager = User.objects.filter(username__startswith="bench-manager").order_by("username").first()
    office = sla.calendar_save(
        actor=manager,
        name="bench-filing London office",
        time_zone="Europe/London",
        country="GB",
        subdivision="ENG",
        intervals=[(d, dt.time(8), dt.time(18)) for d in range(5)],
    )
    always = sla.calendar_save(
        actor=manager,
        name="bench-filing 24x7",
        time_zone="UTC",
        intervals=[(d, dt.time(0), dt.time(0)) for d in range(7)],
    )
    first_service = Service.objects.order_by("id").first()
    group = sorted(agent.team_ids)[0]
    for name, kind, extra in (
        (
            "bench-filing P1-P2",
            "sla",
            {"priorities": [1, 2], "response_seconds": 15 * 60, "resolution_seconds": 4 * 3600, "calendar": always},
        ),
        (
            "bench-filing P3-P5",
            "sla",
            {
                "priorities": [3, 4, 5],
                "response_seconds": 4 * 3600,
                "resolution_seconds": 3 * 36000,
                "calendar": office,
            },
        ),
        (
            "bench-filing first service",
            "sla",
            {"service": first_service, "priorities": [1, 2, 3], "resolution_seconds": 8 * 3600, "calendar": always},
        ),
        ("bench-filing OLA", "ola", {"assignment_group_id": group, "resolution_seconds": 8 * 3600, "calendar": office}),
    ):
        extra = dict(extra)
        group_id = extra.pop("assignment_group_id", None)
        if group_id:
            from mof.models import Team

            extra["assignment_group"] = Team.objects.get(pk=group_id)
        agreement = sla.sla_create(
            actor=manager, name=name, kind=kind, pause_on=["awaiting_caller", "awaiting_vendor"], **extra
        )
        ServiceLevelAgreement.objects.filter(pk=agreement.pk).update(status=SLAStatus.ACTIVE)
    log("SLA set created: 4 agreements on 2 calendars")


def bodies(services, group, n=500, seed=42):
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            json.dumps(
                {
                    "title": rng.choice(["VPN drops every few minutes", "Outlook cannot send", "SAP transaction hangs"])
                    + f" (profile {i})",
                    "description": "Filed by bench/profile_filing.py through the API.",
                    "service": rng.choice(services) if services else None,
                    "impact": rng.randint(1, 3),
                    "urgency": rng.randint(1, 3),
                    "category": "Network",
                    "assignment_group": group,
                    "channel": "monitoring",
                }
            )
        )
    return out


def backend_cpu(pid) -> float | None:
    """User + system CPU seconds of a PostgreSQL backend on this machine (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument(
        "--rounds", type=int, default=3, help="measured rounds of --runs filings (the best is reported)"
    )
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", type=int, default=0, help="filings under cProfile (0: none)")
    parser.add_argument("--show-sql", action="store_true")
    parser.add_argument("--top", type=int, default=80, help="functions listed by the profile")
    parser.add_argument(
        "--ensure-slas", action="store_true", help="create the SLA set first if the database has none of it"
    )
    args = parser.parse_args(argv)
    db_url = os.environ.get("DATABASE_URL", "")
    if not db_url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Set DATABASE_URL to your copy of the bench database.")
    info = setup(db_url)
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from bench.load import AGENT
    from mof.models import User
    from mof.wsgi import application

    if args.ensure_slas:
        ensure_slas(User.objects.get(username=AGENT))
    max_id = info["max_id"]
    payloads = [b.encode() for b in bodies(info["services"], info["group"])]

    def file(i):
        body = payloads[i % len(payloads)]
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/v1/incidents/",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Token {info['token']}",
            "HTTP_ACCEPT": "application/json",
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
        }
        status = []
        out = b"".join(application(environ, lambda line, headers: status.append(line)))
        if not status[0].startswith("201"):
            raise SystemExit(f"HTTP {status[0]}: {out[:500]!r}")
        return out

    try:
        for i in range(args.warmup):
            file(i)
        with CaptureQueriesContext(connection) as ctx:
            file(0)
        sql = [q["sql"] for q in ctx.captured_queries]  # now: every request clears the connection's log
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM slas_slaclock WHERE ticket_type = 'incidents.incident' AND ticket_id > %s",
                [max_id],
            )
            clocks = cursor.fetchone()[0]
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        rounds = []
        for _ in range(args.rounds):
            samples = []
            pg0, t0 = backend_cpu(pid), time.process_time()
            for i in range(args.runs):
                s0 = time.process_time()
                file(i)
                samples.append((time.process_time() - s0) * 1000)
            total, pg1 = time.process_time() - t0, backend_cpu(pid)
            postgres = (pg1 - pg0) * 1000 / args.runs if pg0 is not None and pg1 is not None else None
            rounds.append((total * 1000 / args.runs, samples, postgres))
            print(
                f"  round: {rounds[-1][0]:.2f} ms CPU per filing (median {statistics.median(samples):.2f}), "
                f"PostgreSQL backend {postgres if postgres is None else f'{postgres:.2f}'} ms"
            )
        mean, samples, postgres = min(rounds, key=lambda r: r[0])
        print(
            f"filings: {args.rounds} x {args.runs}, best round: CPU per filing mean {mean:.2f} ms, median {statistics.median(samples):.2f} ms, "
            f"p90 {statistics.quantiles(samples, n=10)[-1]:.2f} ms; PostgreSQL backend {postgres if postgres is None else f'{postgres:.2f}'} ms; "
            f"queries per filing: {len(sql)}; clocks started by the first {args.warmup + 1} filings: {clocks}; load average {os.getloadavg()[0]:.2f}"
        )
        if args.show_sql:
            for q in sql:
                print("  ", q[:220])
        if args.profile:
            profiler = cProfile.Profile(time.process_time)  # CPU, as the samples
            profiler.enable()
            for i in range(args.profile):
                file(i)
            profiler.disable()
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top // 2)
            print(out.getvalue())
    finally:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM slas_clocknotification WHERE clock_id IN (SELECT id FROM slas_slaclock WHERE ticket_type = 'incidents.incident' AND ticket_id > %s)",
                [max_id],
            )
            cursor.execute(
                "DELETE FROM slas_slaclock WHERE ticket_type = 'incidents.incident' AND ticket_id > %s", [max_id]
            )
            cursor.execute(
                "SET LOCAL session_replication_role = replica"
            )  # the event log refuses DELETE (a trigger); superuser only
            cursor.execute(
                "DELETE FROM slas_ticketevent WHERE ticket_type = 'incidents.incident' AND ticket_id > %s", [max_id]
            )
            cursor.execute("SET LOCAL session_replication_role = origin")
            cursor.execute("DELETE FROM incidents_incident_affected_cis WHERE incident_id > %s", [max_id])
            cursor.execute("DELETE FROM incidents_incident WHERE id > %s", [max_id])
            n = cursor.rowcount
        print(
            f"{n} filed incidents deleted again (with their SLA events and clocks; the audit trail is append-only: their audit rows stay)"
        )


if __name__ == "__main__":
    main()
