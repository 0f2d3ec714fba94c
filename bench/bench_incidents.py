"""Incidents at scale: the service desk queue pages, GET /api/v1/incidents/ and full-text
search at 1,000,000 incidents (PostgreSQL).

    .venv/bin/python bench/run.py --only incidents        # from the runner
    .venv/bin/python bench/bench_incidents.py [--incidents 1000000] [--seed 42] [--regenerate]   # load only

BENCH DATA IS NOT BUSINESS DATA. `generate_incidents()` TRUNCATEs incidents_incident
(CASCADE: notes, CI links, related incidents, proposals) and bulk-loads incidents, their
affected CIs and work notes with COPY: no save(), no transitions, no audit rows, FK
triggers skipped during the load (superuser) and the secondary indexes dropped and rebuilt
around it. The bench people and the 50 assignment groups come from bench/bench_changes.py
(`ensure_people()`).

Shape: two years of incidents up to 2026-11-25 (about 1,370 a day), in number order; about
5 % open (most of them from the last weeks, in new / assigned / in progress / on hold),
the rest closed, resolved (the last days) or cancelled; 50 assignment groups of very
unequal size (the two service desks take a quarter); callers among 2,000 employees;
priority from the matrix; titles and descriptions composed from a vocabulary of ~60
subjects, ~40 symptoms and ~60 detail sentences (with CI host names), so that words are
frequent, rare or unique as in a real service desk; 30 % with an affected CI; 0-3 notes
per open incident.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_changes import NOW, copy_rows, drop_secondary_indexes, ensure_people, model_rows  # noqa: E402

N_INCIDENTS = 1_000_000
CHUNK = 100_000

CATEGORIES = {
    "Network": [
        "VPN",
        "Wi-Fi",
        "the network drive",
        "the internet connection",
        "the office LAN",
        "remote desktop",
        "the proxy",
    ],
    "E-mail": [
        "Outlook",
        "the shared mailbox",
        "the calendar",
        "e-mail delivery",
        "the distribution list",
        "mobile mail",
    ],
    "Hardware": [
        "the laptop",
        "the docking station",
        "the monitor",
        "the keyboard",
        "the printer on floor 3",
        "the scanner",
        "the headset",
    ],
    "Software": ["Excel", "Teams", "the browser", "the PDF reader", "Word", "the antivirus", "the software centre"],
    "Access": [
        "my password",
        "the account",
        "the badge reader",
        "multi-factor authentication",
        "the SharePoint site",
        "the shared folder",
    ],
    "Business application": [
        "SAP",
        "the payroll report",
        "the CRM",
        "the web shop checkout",
        "the expenses app",
        "the HR portal",
        "the data warehouse dashboard",
        "the billing run",
        "the ticketing system",
        "the time tracking app",
    ],
    "Telephony": ["the desk phone", "the conference bridge", "voicemail", "the call centre queue", "the mobile phone"],
    "Server": [
        "the file server",
        "the print server",
        "the database server",
        "the batch job",
        "the backup job",
        "the web server",
    ],
}
SYMPTOMS = [
    "is very slow",
    "cannot connect",
    "keeps crashing",
    "shows error 500",
    "fails to start",
    "times out",
    "is not working",
    "freezes after login",
    "asks for the password again and again",
    "shows a certificate warning",
    "cannot be reached",
    "drops every few minutes",
    "is missing data",
    "shows the wrong totals",
    "returns access denied",
    "will not sync",
    "prints blank pages",
    "is stuck in a loop",
    "gives a blue screen",
    "reports the disk is full",
    "lost its settings",
    "sends duplicate messages",
    "has no sound",
    "does not open attachments",
    "shows an outdated version",
    "is locked",
    "rejects the licence",
    "cannot find the server",
    "stopped after the update",
    "runs out of memory",
    "is unavailable",
    "shows garbled characters",
    "is intermittently failing",
    "hangs on saving",
    "refuses the upload",
    "reports a database error",
    "is overheating",
    "has a flickering screen",
    "cannot send",
    "cannot receive",
]
WHEN = [
    "since this morning",
    "since yesterday",
    "after the update",
    "for the whole team",
    "for several users",
    "for one user",
    "when working from home",
    "in the lon1 office",
    "in the fra1 office",
    "every Monday",
    "since the weekend",
    "after a password change",
    "during month-end closing",
    "after the migration",
    "",
]
DETAILS = [
    "The user already restarted the device.",
    "Clearing the browser cache did not help.",
    "The error message mentions a timeout.",
    "Kerberos authentication fails in the event log.",
    "DNS resolution of the host name fails.",
    "The certificate expired last night.",
    "The mailbox quota is exceeded.",
    "The disk on the server is at 98 percent.",
    "The VPN client log shows a TLS handshake failure.",
    "A colleague on the same floor has the same problem.",
    "The issue started after the firmware upgrade.",
    "The application log shows a deadlock.",
    "The nightly batch did not finish.",
    "The user cannot work and has a deadline today.",
    "The printer queue has over 200 jobs.",
    "The antivirus quarantined a system file.",
    "A reboot fixed it for one hour only.",
    "Group policy was not applied.",
    "The account is locked after too many attempts.",
    "Single sign-on redirects in a loop.",
    "The load balancer marks the pool member down.",
    "The backup reported a checksum mismatch.",
    "Replication lag is over an hour.",
    "Screenshots attached by the caller.",
    "The caller is a VIP in the finance department.",
    "Works on the wired network, not on Wi-Fi.",
    "The same incident happened last month.",
    "The licence server is unreachable.",
    "Memory usage grows until the service restarts.",
    "The SSL inspection on the proxy breaks the upload.",
    "Time on the client is off by ten minutes.",
    "The LDAP bind fails.",
    "The shared drive mapping disappeared.",
    "Characters in the export are garbled (encoding).",
    "The patch KB5031356 was installed yesterday.",
    "The connection pool is exhausted.",
    "Teams meetings drop after five minutes.",
    "The webhook returns HTTP 502.",
    "The storage latency spiked to 200 ms.",
    "The switch port flaps.",
    "The payroll export has duplicate lines.",
    "The SAP transaction hangs at 'processing'.",
    "Outlook is stuck in 'trying to connect'.",
    "The docking station firmware is outdated.",
    "The monitoring alert fired at 03:12.",
    "Users in the call centre are affected.",
    "The caller has tried another browser.",
    "The print server spooler service stopped.",
    "Excel macros are blocked by policy.",
    "The mobile device is not compliant.",
    "The fibre link to the data centre is degraded.",
    "The database log file filled the volume.",
    "The cron job exits with code 137.",
    "A vendor ticket was opened.",
    "Workaround: use the web client.",
    "Workaround: restart the spooler.",
    "The user's home directory is read-only.",
    "The ERP interface queue is blocked.",
    "Only Mac users are affected.",
]
CHANNELS = [("portal", 45), ("phone", 25), ("email", 12), ("monitoring", 10), ("api", 8)]
OPEN_STATUSES = [("new", 15), ("assigned", 30), ("in_progress", 40), ("on_hold", 15)]
HOLD_REASONS = ["awaiting_caller", "awaiting_vendor", "awaiting_change"]
RESOLUTION_CODES = [
    ("fixed", 45),
    ("workaround", 15),
    ("known_error", 8),
    ("no_fault", 10),
    ("user_error", 17),
    ("change", 5),
]
NOTE_BODIES = [
    "Called the user, no answer.",
    "Remote session: reproduced the problem.",
    "Escalated to the vendor.",
    "Waiting for the change window.",
    "Asked the caller for a screenshot.",
    "Checked the logs, nothing obvious.",
]


def incident_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM incidents_incident")
        return cursor.fetchone()[0]


def _weighted(rng, pairs):
    values, weights = [v for v, _ in pairs], [w for _, w in pairs]
    cum = []
    total = 0
    for w in weights:
        total += w
        cum.append(total)
    import bisect

    return lambda: values[bisect.bisect_right(cum, rng.random() * total)]


def build_incidents(n: int, seed: int, people: dict, services: list[int], cis: list[tuple[int, str]], matrix: dict):
    """Yield (incident dict, [ci ids], [note tuples]) in number order."""
    rng = random.Random(seed)
    employees, _agents = people["employees"], people["agents"]
    groups = people["groups"]  # [(team id, [member ids])]
    # Very unequal groups: the two service desks (index 0 and 25) take ~25 %, then a long tail.
    gweights = [1.0 / (1 + (i % 25)) ** 0.9 for i in range(len(groups))]
    gweights[0] *= 3
    if len(gweights) > 25:
        gweights[25] *= 2
    group_pick = _weighted(rng, list(zip(range(len(groups)), gweights)))
    channel = _weighted(rng, CHANNELS)
    open_status = _weighted(rng, OPEN_STATUSES)
    resolution = _weighted(rng, RESOLUTION_CODES)
    impact_pick = _weighted(rng, [(1, 10), (2, 35), (3, 55)])
    urgency_pick = _weighted(rng, [(1, 15), (2, 40), (3, 45)])
    categories = list(CATEGORIES.items())
    span = 730 * 86400
    offsets = sorted(rng.randrange(0, span) for _ in range(n))
    for i, offset in enumerate(offsets):
        pk = i + 1
        created = NOW - timedelta(seconds=span - offset)
        age = (NOW - created).total_seconds() / 86400
        p_open = 0.8 if age < 7 else 0.5 if age < 30 else 0.08 if age < 180 else 0.015
        category, subjects = categories[rng.randrange(len(categories))]
        subject = rng.choice(subjects)
        title = f"{subject[0].upper()}{subject[1:]} {rng.choice(SYMPTOMS)} {rng.choice(WHEN)}".strip()
        ci_ids = []
        details = rng.sample(DETAILS, rng.randint(1, 3))
        if rng.random() < 0.3:
            ci_id, ci_name = cis[rng.randrange(len(cis))]
            ci_ids.append(ci_id)
            details.insert(rng.randrange(len(details) + 1), f"Affected host: {ci_name}.")
        description = f"Caller reports that {subject} {rng.choice(SYMPTOMS)} {rng.choice(WHEN)}. " + " ".join(details)
        g = group_pick()
        group_id, members = groups[g]
        impact, urgency = impact_pick(), urgency_pick()
        row = {
            "id": pk,
            "number": pk,
            "title": title[:200],
            "description": description,
            "channel": channel(),
            "impact": impact,
            "urgency": urgency,
            "priority": matrix[(impact, urgency)],
            "category": category,
            "hold_reason": "",
            "resolution_code": "",
            "resolution_notes": "",
            "resolved_at": None,
            "closed_at": None,
            "reopen_count": 1 if rng.random() < 0.02 else 0,
            "is_major": False,
            "outage_start": None,
            "outage_end": None,
            "created_at": created,
            "updated_at": created,
            "caller_id": employees[rng.randrange(len(employees))],
            "assignment_group_id": group_id,
            "assignee_id": members[rng.randrange(len(members))],
            "service_id": services[rng.randrange(len(services))] if services and rng.random() < 0.85 else None,
            "major_incident_manager_id": None,
            "parent_id": None,
            "known_error_id": None,
            "problem_id": None,
        }
        notes = []
        if rng.random() < p_open:
            status = open_status()
            row["status"] = status
            if status == "new":
                row["assignee_id"] = None
                if rng.random() < 0.2:
                    row["assignment_group_id"] = None
            elif status == "assigned" and rng.random() < 0.3:
                row["assignee_id"] = None  # in the group's queue, nobody took it yet
            elif status == "on_hold":
                row["hold_reason"] = rng.choice(HOLD_REASONS)
            row["updated_at"] = created + timedelta(hours=rng.randint(0, max(0, int(age * 24))))
            if status != "new":
                for k in range(rng.randint(0, 3)):
                    notes.append(
                        (
                            rng.choice(("work_note", "work_note", "comment")),
                            rng.choice(NOTE_BODIES),
                            (created + timedelta(minutes=30 * (k + 1))).isoformat(),
                            row["assignee_id"] or members[0],
                            pk,
                        )
                    )
        else:
            resolved = created + timedelta(hours=rng.choice((1, 2, 4, 8, 24, 48, 96, 200)), minutes=rng.randint(0, 59))
            if rng.random() < 0.03:
                row["status"] = "cancelled"
                row["resolution_notes"] = "Duplicate of another incident."
                row["updated_at"] = resolved
            else:
                row["resolution_code"] = resolution()
                row["resolution_notes"] = "Resolved by the service desk. " + rng.choice(DETAILS)
                row["resolved_at"] = min(resolved, NOW)
                if NOW - resolved < timedelta(days=5):
                    row["status"] = "resolved"
                    row["updated_at"] = min(resolved, NOW)
                else:
                    row["status"] = "closed"
                    row["closed_at"] = resolved + timedelta(days=5)
                    row["updated_at"] = row["closed_at"]
        yield row, ci_ids, notes


def generate_incidents(n: int = N_INCIDENTS, seed: int = 42, log=print) -> dict:
    from django.db import connection, transaction

    from incidents.models import Incident

    if connection.vendor != "postgresql":
        raise SystemExit("bench/bench_incidents.py needs PostgreSQL (COPY, full-text search).")
    started = time.perf_counter()
    log(
        f"Generating {n:,} incidents (seed {seed}) into {connection.settings_dict['NAME']} -- benchmark data, not business data"
    )
    people = ensure_people(log)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM mof_service ORDER BY id")
        services = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT id, name FROM mof_configurationitem ORDER BY id")
        cis = cursor.fetchall()
        cursor.execute("SELECT impact, urgency, priority FROM incidents_priorityrule")
        matrix = {(i, u): p for i, u, p in cursor.fetchall()}
    for i in (1, 2, 3):
        for u in (1, 2, 3):
            matrix.setdefault((i, u), min(5, i + u - 1))
    if not cis:
        raise SystemExit("The CMDB is empty: run bench/run.py (or bench/generate.py) first.")
    table = Incident._meta.db_table
    ci_table = Incident.affected_cis.through._meta.db_table
    counts = {"incidents": 0, "ci_links": 0, "notes": 0, "open": 0}
    with transaction.atomic(), connection.cursor() as cursor:
        t = time.perf_counter()
        cursor.execute(f"TRUNCATE {table} RESTART IDENTITY CASCADE")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")  # consistent by construction
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")  # index rebuilds (the GIN full-text index above all)
        dropped = {name: drop_secondary_indexes(cursor, name) for name in (table, ci_table, "incidents_incidentnote")}
        log(
            f"  truncated, {sum(len(v) for v in dropped.values())} secondary indexes dropped ({time.perf_counter() - t:.1f}s)"
        )
        batch, links, notes = [], [], []
        t = time.perf_counter()

        def flush():
            columns, rows = model_rows(Incident, batch)
            copy_rows(cursor, table, columns, rows)
            copy_rows(cursor, ci_table, ("incident_id", "configurationitem_id"), links)
            copy_rows(
                cursor, "incidents_incidentnote", ("kind", "body", "created_at", "author_id", "incident_id"), notes
            )
            counts["incidents"] += len(batch)
            counts["ci_links"] += len(links)
            counts["notes"] += len(notes)
            batch.clear(), links.clear(), notes.clear()
            log(f"  COPY {counts['incidents']:,} / {n:,} incidents ({time.perf_counter() - t:.1f}s)")

        for row, ci_ids, row_notes in build_incidents(n, seed, people, services, cis, matrix):
            batch.append(row)
            links.extend((row["id"], c) for c in ci_ids)
            notes.extend(row_notes)
            if row["status"] in ("new", "assigned", "in_progress", "on_hold"):
                counts["open"] += 1
            if len(batch) >= CHUNK:
                flush()
        if batch:
            flush()
        t = time.perf_counter()
        for name, definitions in dropped.items():
            for definition in definitions:
                cursor.execute(definition)
        log(f"  {sum(len(v) for v in dropped.values())} indexes rebuilt ({time.perf_counter() - t:.1f}s)")
        cursor.execute("SET LOCAL session_replication_role = origin")
        for seq_table in (table, ci_table, "incidents_incidentnote"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{seq_table}', 'id'), greatest(1, (SELECT max(id) FROM {seq_table})))"
            )
    t = time.perf_counter()
    with connection.cursor() as cursor:
        # The bench people too: without statistics on mof_user (2,420 rows COPYed) the planner
        # guessed 172 users and chose a nested loop over them for the queue pages.
        for name in (
            table,
            ci_table,
            "incidents_incidentnote",
            "mof_user",
            "mof_team",
            "mof_team_members",
            "mof_roleassignment",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {name}")
    log(
        f"  VACUUM ANALYZE ({time.perf_counter() - t:.1f}s); {counts['open']:,} open; done in {time.perf_counter() - started:.1f}s"
    )
    return counts


# --- measuring ----------------------------------------------------------------------------

QUEUE_USER = "bench-agent-001"  # a member of the largest group (Service Desk EMEA)
SEARCHES = [  # each detail sentence is in ~3 % of the incidents, a subject in ~1-2 %, a host name in a handful
    ("two words", "kerberos authentication"),
    ("a frequent word", "outlook"),
    ("a phrase", '"certificate warning"'),
    ("three words", "vpn tls handshake"),
    ("a CI host name", None),  # taken from the data: the host named in incident 1000's description, if any
]


def run(
    bench,
    *,
    seed: int = 42,
    regenerate: bool = False,
    generate: bool = True,
    small: bool = False,
    n_incidents: int | None = None,
):
    """Add the incident queue pages, list endpoint and search measurements to `bench`."""
    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse
    from rest_framework.authtoken.models import Token

    from bench.run import drf_cursor, with_query
    from mof.models import User

    n = n_incidents or (50_000 if small else N_INCIDENTS)
    have = incident_count()
    if generate and (regenerate or have != n):
        print(f"{have:,} incidents, {n:,} requested: generating")
        generate_incidents(n, seed)
    else:
        ensure_people()
    total = incident_count()
    agent = User.objects.get(username=QUEUE_USER)
    token, _ = Token.objects.get_or_create(user=agent)
    page_client = Client()
    page_client.force_login(agent)
    api_client = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE status IN ('new','assigned','in_progress','on_hold')) FROM incidents_incident"
        )
        open_count = cursor.fetchone()[0]
    print(
        f"Incident queue pages (logged in as {QUEUE_USER}, Support, in {len(agent.team_ids)} group(s)), "
        f"{total:,} incidents, {open_count:,} open"
    )
    try:
        base = reverse("incident_queue")
    except NoReverseMatch:
        base = None
    if base is None:
        bench.add(
            {"group": "incidents", "name": "Incident queue pages", "status": "not available (route not built yet)"}
        )
    else:
        group = next(iter(sorted(agent.team_ids)), None)
        for queue, label in (
            ("mine", "my work"),
            ("unassigned", "unassigned in my groups"),
            ("on_hold", "on hold"),
            ("breaching", "breaching soon"),
            ("open", "all open"),
        ):
            sizes = {size: with_query(base, queue=queue, page=1, page_size=size) for size in (10, 50, 200)}
            bench.http(
                "incidents", f"Queue page: {label}", page_client, with_query(base, queue=queue, page=1), size_urls=sizes
            )
        bench.http(
            "incidents",
            "Queue page: all open, in my group",
            page_client,
            with_query(base, queue="open", in_group=group, page=1),
        )
        bench.http(
            "incidents",
            "Queue page: all open, P1-P2, sorted by created",
            page_client,
            with_query(base, queue="open", priority=1, sort="-created", page=1) + "&priority=2",
        )
        bench.http("incidents", "Queue page: all open, page 20", page_client, with_query(base, queue="open", page=20))
    print("Incident API (token authentication)")
    api = "/api/v1/incidents/"
    sizes = {size: with_query(api, page=1, page_size=size) for size in (10, 50, 200)}
    bench.http("incidents", "GET /api/v1/incidents/ page 1", api_client, with_query(api, page=1), size_urls=sizes)
    bench.http("incidents", "GET /api/v1/incidents/ page 200", api_client, with_query(api, page=200))
    csizes = {size: with_query(api, cursor="", page_size=size) for size in (10, 50, 200)}
    bench.http(
        "incidents",
        "GET /api/v1/incidents/ cursor, first page",
        api_client,
        with_query(api, cursor=""),
        size_urls=csizes,
    )
    bench.http(
        "incidents",
        "GET /api/v1/incidents/ cursor after id 500000",
        api_client,
        with_query(api, cursor=drf_cursor(total // 2)),
    )
    group = next(iter(sorted(agent.team_ids)), None)
    bench.http(
        "incidents",
        "GET /api/v1/incidents/ open in a group (status__in, group)",
        api_client,
        with_query(api, status__in="new,assigned,in_progress,on_hold", assignment_group=group),
    )
    bench.http(
        "incidents",
        "GET /api/v1/incidents/ cursor, open in a group",
        api_client,
        with_query(api, cursor="", status__in="new,assigned,in_progress,on_hold", assignment_group=group),
    )
    detail_id = total // 2 or 1
    bench.http("incidents", "GET /api/v1/incidents/{id}/", api_client, f"{api}{detail_id}/")
    print("Full-text search (GET /api/v1/incidents/search/?q=)")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT substring(description from 'Affected host: ([a-z0-9-]+)') FROM incidents_incident "
            "WHERE id >= 1000 AND description LIKE '%%Affected host:%%' ORDER BY id LIMIT 1"
        )
        host = (cursor.fetchone() or ["lon1-db-00012"])[0]
    for label, q in SEARCHES:
        q = q or host
        row = bench.http("incidents", f"search: {label} ({q})", api_client, with_query(f"{api}search/", q=q))
        if row:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM incidents_incident WHERE to_tsvector('english'::regconfig, COALESCE(title, '') || ' ' || COALESCE(description, '')) "
                    "@@ websearch_to_tsquery('english'::regconfig, %s)",
                    [q],
                )
                row["matches"] = cursor.fetchone()[0]
                row["note"] = f"{row['matches']:,} matching incidents"
            print(f"    {row['matches']:,} matching incidents")
    try:
        search_page = reverse("support_search")
        bench.http(
            "incidents",
            "Search page (q=kerberos authentication)",
            page_client,
            with_query(search_page, q="kerberos authentication"),
        )
    except NoReverseMatch:
        pass


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(
        description="Load the bench incidents (measure with bench/run.py --only incidents)"
    )
    parser.add_argument("--incidents", type=int, default=N_INCIDENTS)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args(argv)
    from bench.run import configure_environment, ensure_database

    ensure_database(configure_environment())
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    if args.regenerate or incident_count() != args.incidents:
        generate_incidents(args.incidents, args.seed)
    else:
        print(f"{args.incidents:,} incidents already there (--regenerate to reload)")


if __name__ == "__main__":
    main()
