"""Requests for change at scale: the change list page and GET /api/v1/changes/ at 100,000
changes (PostgreSQL).

    .venv/bin/python bench/run.py --only changes          # from the runner
    .venv/bin/python bench/bench_changes.py [--changes 100000] [--seed 42] [--regenerate]   # load only

BENCH DATA IS NOT BUSINESS DATA. `generate_changes()` TRUNCATEs changes_requestforchange
(CASCADE: comments, stakeholders, release links, agenda items that point at changes) and
bulk-loads the changes and their risk assessments with COPY: no save(), no transitions,
no audit rows. The bench people (employees, agents, change managers, 50 assignment groups)
are COPYed too (`ensure_people()`, shared with bench/bench_incidents.py), once.

Shape: two years of changes up to 2026-11-25 (about 140 a day), 70 % normal, 20 %
standard, 10 % emergency; changes planned more than a month ago are closed (with the odd
rejected, cancelled or backed-out one), recent and future ones spread over the open states;
requesters among 2,000 bench employees and 400 agents, 20 change managers.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

N_CHANGES = 100_000
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)  # fixed: deterministic data
NULL = "\\N"

# --- shared: bench people and COPY ------------------------------------------------------

N_EMPLOYEES = 2_000
N_GROUPS = 50
AGENTS_PER_GROUP = 8
N_MANAGERS = 20
AREAS = [
    "Service Desk",
    "Network Operations",
    "Database Administration",
    "Windows Server",
    "Linux Server",
    "Messaging",
    "Identity and Access",
    "Workplace Support",
    "Storage and Backup",
    "Application Support",
    "ERP Support",
    "Security Operations",
    "Telephony",
    "Cloud Platform",
    "Web Hosting",
    "Printing",
    "Field Services",
    "Data Warehouse",
    "Payroll Systems",
    "Mobile Devices",
    "Monitoring",
    "Middleware",
    "Virtualisation",
    "CRM Support",
    "Facilities IT",
]
REGIONS = ["EMEA", "Americas"]


def group_names() -> list[str]:
    return [f"{area} {region}" for region in REGIONS for area in AREAS][:N_GROUPS]


def csv_value(value):
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def copy_rows(cursor, table: str, columns, rows) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    buf.seek(0)
    with cursor.copy(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    ) as copy:  # psycopg 3
        copy.write(buf.getvalue())


def model_rows(model, dicts):
    """Rows for every concrete column of `model`: given values, else the field's default,
    else NULL when nullable, else '' (what bench/bench_schedule.py does too)."""
    fields = list(model._meta.concrete_fields)
    defaults = {}
    for f in fields:
        if f.has_default() and not callable(f.default):
            defaults[f.attname] = f.get_default()
        elif f.has_default():
            defaults[f.attname] = None  # callables (timezone.now, dict): always given explicitly below
        elif f.null:
            defaults[f.attname] = None
        else:
            defaults[f.attname] = ""
    columns = [f.column for f in fields]
    names = [f.attname for f in fields]

    def gen():
        for d in dicts:
            yield [csv_value(d[n] if n in d else defaults[n]) for n in names]

    return columns, gen()


def ensure_people(log=print) -> dict:
    """Bench employees (bench-user-NNNN), agents (bench-agent-NNN, Support role, 8 per group),
    change managers (bench-manager-NN) and 50 assignment groups, COPYed (no audit rows)
    once; returns their ids."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM mof_user WHERE username LIKE 'bench-agent-%%' OR username LIKE 'bench-user-%%' OR username LIKE 'bench-manager-%%'"
        )
        have = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM mof_team WHERE name = ANY(%s)", [group_names()])
        have_groups = cursor.fetchone()[0]
    wanted = N_EMPLOYEES + N_GROUPS * AGENTS_PER_GROUP + N_MANAGERS
    if have != wanted or have_groups != N_GROUPS:
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            users = [(f"bench-user-{i:04d}", "Employee", f"{i:04d}", False) for i in range(1, N_EMPLOYEES + 1)]
            users += [
                (f"bench-agent-{i:03d}", "Agent", f"{i:03d}", False) for i in range(1, N_GROUPS * AGENTS_PER_GROUP + 1)
            ]
            users += [(f"bench-manager-{i:02d}", "Manager", f"{i:02d}", True) for i in range(1, N_MANAGERS + 1)]
            cursor.execute(
                "CREATE TEMP TABLE bench_people (username text, first_name text, last_name text, is_manager bool) ON COMMIT DROP"
            )
            copy_rows(cursor, "bench_people", ("username", "first_name", "last_name", "is_manager"), users)
            joined = NOW - timedelta(days=900)
            cursor.execute(
                """INSERT INTO mof_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
                                         date_joined, is_manager, is_system, is_service_account)
                   SELECT '!bench', false, p.username, 'Bench', p.first_name || ' ' || p.last_name, p.username || '@example.test',
                          false, true, %s, p.is_manager, false, false
                   FROM bench_people p ON CONFLICT (username) DO NOTHING""",
                [joined],
            )
            cursor.execute(
                """INSERT INTO mof_roleassignment (user_id, role)
                   SELECT u.id, 'support' FROM mof_user u
                   WHERE (u.username LIKE 'bench-agent-%%' OR u.username LIKE 'bench-manager-%%')
                     AND NOT EXISTS (SELECT 1 FROM mof_roleassignment r WHERE r.user_id = u.id AND r.role = 'support')"""
            )
            for index, name in enumerate(group_names()):
                cursor.execute(
                    """INSERT INTO mof_team (name, role_cluster, description, manager_id)
                       SELECT %s, 'support', 'Assignment group (benchmark data)', id FROM mof_user WHERE username = %s
                       ON CONFLICT (name) DO NOTHING""",
                    [name, f"bench-manager-{index % N_MANAGERS + 1:02d}"],
                )
            cursor.execute("SELECT name, id FROM mof_team WHERE name = ANY(%s)", [group_names()])
            team_ids = dict(cursor.fetchall())
            cursor.execute("SELECT username, id FROM mof_user WHERE username LIKE 'bench-agent-%%'")
            agent_ids = dict(cursor.fetchall())
            pairs = [
                (team_ids[name], agent_ids[f"bench-agent-{g * AGENTS_PER_GROUP + k:03d}"])
                for g, name in enumerate(group_names())
                for k in range(1, AGENTS_PER_GROUP + 1)
            ]
            cursor.execute("DELETE FROM mof_team_members WHERE team_id = ANY(%s)", [list(team_ids.values())])
            copy_rows(cursor, "mof_team_members", ("team_id", "user_id"), pairs)
        log(
            f"  bench people: {wanted:,} users and {N_GROUPS} assignment groups COPYed ({time.perf_counter() - t0:.1f}s)"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM mof_user WHERE username LIKE 'bench-user-%%' ORDER BY username")
        employees = [r[0] for r in cursor.fetchall()]
        cursor.execute("SELECT id FROM mof_user WHERE username LIKE 'bench-manager-%%' ORDER BY username")
        managers = [r[0] for r in cursor.fetchall()]
        cursor.execute(
            """SELECT t.id, t.name, array_agg(m.user_id ORDER BY u.username) FROM mof_team t
               JOIN mof_team_members m ON m.team_id = t.id JOIN mof_user u ON u.id = m.user_id
               WHERE t.name = ANY(%s) GROUP BY t.id, t.name""",
            [group_names()],
        )
        by_name = {name: (pk, members) for pk, name, members in cursor.fetchall()}
    groups = [by_name[name] for name in group_names()]
    agents = [a for _, members in groups for a in members]
    return {"employees": employees, "managers": managers, "groups": groups, "agents": agents}


def drop_secondary_indexes(cursor, table: str) -> list[str]:
    """Drop the indexes that back no constraint (recreated after the COPY: much faster than
    maintaining them row by row). Returns their definitions."""
    cursor.execute(
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.tablename = %s AND i.schemaname = current_schema()
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)""",
        [table],
    )
    found = cursor.fetchall()
    for name, _ in found:
        cursor.execute(f'DROP INDEX "{name}"')
    return [d for _, d in found]


# --- changes ------------------------------------------------------------------------------

VERBS = [
    "Upgrade",
    "Patch",
    "Replace",
    "Migrate",
    "Decommission",
    "Reconfigure",
    "Install",
    "Expand",
    "Renew",
    "Restart",
]
OBJECTS = [
    "firmware on the core routers",
    "the distribution switches",
    "the edge firewall rule base",
    "the SQL Server cluster",
    "the Exchange mailbox servers",
    "the payroll application",
    "the storage array controllers",
    "the VPN concentrators",
    "the domain controllers",
    "the web shop front ends",
    "the backup media servers",
    "the CRM database",
    "the load balancer certificates",
    "the monitoring agents",
    "the hypervisor hosts",
    "the print servers",
    "the data warehouse ETL jobs",
    "the identity provider",
    "the DNS resolvers",
    "the file servers",
]
WHERES = ["in lon1", "in fra1", "in ams1", "in nyc1", "in sin1", "in syd1", "in all sites", "in the DR site"]
REASONS = [
    "to apply the vendor's security advisory",
    "to get back into vendor support",
    "for the capacity forecast of next quarter",
    "to fix the recurring problem",
    "as requested by the service owner",
    "to meet the audit finding",
    "to reduce licence cost",
]
OPEN_RECENT = [
    "draft",
    "submitted",
    "assessed",
    "approved",
    "scheduled",
    "in_development",
    "in_test",
    "tested",
    "ready_for_deployment",
    "implementing",
    "implemented",
]
OPEN_WEIGHTS = [6, 8, 8, 10, 14, 10, 8, 6, 6, 2, 8]


def _risk(rng):
    probability, impact = (
        rng.choices((1, 2, 3, 4, 5), (30, 30, 20, 15, 5))[0],
        rng.choices((1, 2, 3, 4, 5), (20, 30, 25, 15, 10))[0],
    )
    score = probability * impact
    level = "critical" if score >= 17 else "high" if score >= 10 else "medium" if score >= 5 else "low"
    return probability, impact, score, level


def build_changes(n: int, seed: int, people: dict):
    rng = random.Random(seed)
    requesters = people["employees"][:600] + people["agents"]
    managers = people["managers"]
    agents = people["agents"]
    span = 730 * 86400
    starts = sorted(rng.randrange(0, span) for _ in range(n))  # created over two years, in number order
    changes, risks = [], []
    for i, offset in enumerate(starts):
        pk = i + 1
        created = NOW - timedelta(seconds=span - offset)
        kind = rng.choices(("normal", "standard", "emergency"), (70, 20, 10))[0]
        lead = (
            timedelta(hours=rng.randint(2, 24))
            if kind == "emergency"
            else timedelta(days=rng.randint(1, 45), hours=rng.randint(0, 23))
        )
        planned_start = (created + lead).replace(minute=0, second=0, microsecond=0)
        planned_end = planned_start + timedelta(hours=rng.choice((1, 2, 2, 4, 4, 6, 8)))
        age_days = (NOW - planned_start).days
        if age_days > 30:
            status = rng.choices(("closed", "cancelled", "rejected", "backed_out", "implemented"), (86, 5, 5, 2, 2))[0]
        elif age_days > 0:
            status = rng.choices(
                ("closed", "implemented", "backed_out", "cancelled", "implementing", "ready_for_deployment"),
                (45, 35, 3, 5, 2, 10),
            )[0]
        else:
            status = rng.choices(OPEN_RECENT, OPEN_WEIGHTS)[0]
            if status in ("implementing", "implemented"):
                status = "scheduled"
        assessed = status not in ("draft", "submitted")
        risk_id = None
        level = "low"
        if assessed and kind != "standard":
            probability, impact, score, level = _risk(rng)
            risk_id = len(risks) + 1
            risks.append(
                [
                    risk_id,
                    probability,
                    impact,
                    score,
                    level,
                    "bench: risk of the change",
                    (created + timedelta(days=1)).isoformat(),
                    csv_value(rng.choice(managers)),
                ]
            )
        if kind == "standard":
            path = "pre_approved" if assessed else ""
        elif kind == "emergency":
            path = "emergency_cab" if assessed else ""
        else:
            path = (
                {"low": "change_manager", "medium": "cab", "high": "cab", "critical": "cab_quorum"}[level]
                if assessed
                else ""
            )
        implemented = status in ("implemented", "closed", "backed_out")
        approved = status not in ("draft", "submitted", "assessed", "rejected") and not (
            status == "cancelled" and rng.random() < 0.5
        )
        title = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(WHERES)}"
        changes.append(
            {
                "id": pk,
                "number": pk,
                "title": title,
                "description": f"{title} {rng.choice(REASONS)}. Benchmark data.",
                "business_justification": rng.choice(REASONS).capitalize() + ".",
                "type": kind,
                "status": status,
                "approval_path": path,
                "approved_at": created + timedelta(days=2) if approved else None,
                "approved_by_id": rng.choice(managers) if approved else None,
                "decision_reason": "Approved at the Release Approved Review" if approved else "",
                "affected_services": [],
                "impacted_ci_ids": [],
                "impact_analysed_at": created + timedelta(days=1) if assessed else None,
                "implementation_plan": "Follow the runbook.",
                "backout_plan": "Restore the previous version.",
                "test_plan": "Smoke tests.",
                "planned_start": planned_start,
                "planned_end": planned_end,
                "actual_start": planned_start if implemented else None,
                "actual_end": planned_end if implemented else None,
                "outcome": (
                    "failed"
                    if status == "backed_out"
                    else rng.choices(("successful", "successful_with_issues"), (92, 8))[0]
                )
                if implemented
                else "",
                "created_at": created,
                "updated_at": max(created, min(NOW, planned_end)),
                "requester_id": rng.choice(requesters),
                "change_manager_id": rng.choice(managers),
                "implementer_id": rng.choice(agents) if status not in ("draft", "submitted") else None,
                "developer_id": None,
                "tester_id": None,
                "template_id": None,
                "risk_assessment_id": risk_id,
            }
        )
    return changes, risks


def change_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM changes_requestforchange WHERE description LIKE '%%Benchmark data.'")
        return cursor.fetchone()[0]


def generate_changes(n: int = N_CHANGES, seed: int = 42, log=print) -> dict:
    from django.db import connection, transaction

    from changes.models import RequestForChange

    if connection.vendor != "postgresql":
        raise SystemExit("bench/bench_changes.py needs PostgreSQL (COPY).")
    started = time.perf_counter()
    log(
        f"Generating {n:,} changes (seed {seed}) into {connection.settings_dict['NAME']} -- benchmark data, not business data"
    )
    people = ensure_people(log)
    changes, risks = build_changes(n, seed, people)
    log(f"  built {len(changes):,} changes and {len(risks):,} risk assessments ({time.perf_counter() - started:.1f}s)")
    table = RequestForChange._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        t = time.perf_counter()
        cursor.execute(f"TRUNCATE {table} CASCADE")
        cursor.execute("DELETE FROM mof_riskassessment WHERE notes LIKE 'bench:%%'")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            cursor.execute("SET LOCAL session_replication_role = replica")  # consistent by construction
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")  # index rebuilds (the GIN full-text index above all)
        cursor.execute("SELECT coalesce(max(id), 0) FROM mof_riskassessment")
        risk_base = cursor.fetchone()[0]
        for row in risks:
            row[0] += risk_base
        for c in changes:
            if c["risk_assessment_id"] is not None:
                c["risk_assessment_id"] += risk_base
        copy_rows(
            cursor,
            "mof_riskassessment",
            ("id", "probability", "impact", "score", "level", "notes", "assessed_at", "assessed_by_id"),
            risks,
        )
        indexes = drop_secondary_indexes(cursor, table)
        columns, rows = model_rows(RequestForChange, changes)
        copy_rows(cursor, table, columns, rows)
        log(f"  COPY {len(changes):,} changes ({time.perf_counter() - t:.1f}s)")
        t = time.perf_counter()
        for definition in indexes:
            cursor.execute(definition)
        log(f"  {len(indexes)} indexes rebuilt ({time.perf_counter() - t:.1f}s)")
        cursor.execute("SET LOCAL session_replication_role = origin")
        for seq_table in (table, "mof_riskassessment"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{seq_table}', 'id'), (SELECT max(id) FROM {seq_table}))"
            )
    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("VACUUM (ANALYZE) mof_riskassessment")
    log(f"  VACUUM ANALYZE ({time.perf_counter() - t:.1f}s); done in {time.perf_counter() - started:.1f}s")
    return {"changes": len(changes), "risk_assessments": len(risks)}


# --- measuring ----------------------------------------------------------------------------


def run(
    bench,
    *,
    client,
    api_client,
    n_changes: int = N_CHANGES,
    seed: int = 42,
    regenerate: bool = False,
    generate: bool = True,
):
    """Add the change list page and endpoint measurements to `bench` (a bench.run.Bench)."""
    from django.urls import NoReverseMatch, reverse

    from bench.run import drf_cursor, with_query

    have = change_count()
    if generate and (regenerate or have != n_changes):
        print(f"{have:,} bench changes, {n_changes:,} requested: generating")
        generate_changes(n_changes, seed)
    with __import__("django.db").db.connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM changes_requestforchange")
        total = cursor.fetchone()[0]
    print(f"Change list page (logged in as an Infrastructure user), {total:,} changes")
    try:
        base = reverse("change_list")
    except NoReverseMatch:
        base = "/changing/changes/"
    deep = max(2, total // (50 * 10))
    sizes = {size: with_query(base, page=1, page_size=size) for size in (10, 50, 200)}
    bench.http("changes", "Change list page 1", client, with_query(base, page=1), size_urls=sizes)
    bench.http("changes", f"Change list page {deep} (offset ~{(deep - 1) * 50:,})", client, with_query(base, page=deep))
    bench.http(
        "changes", "Change list filtered (status=scheduled)", client, with_query(base, status="scheduled", page=1)
    )
    bench.http(
        "changes",
        "Change list filtered (status=closed, type=normal)",
        client,
        with_query(base, status="closed", type="normal", page=1),
    )
    bench.http("changes", "Change list search (q=certificates)", client, with_query(base, q="certificates", page=1))
    print("Change API (token authentication)")
    api = "/api/v1/changes/"
    sizes = {size: with_query(api, page=1, page_size=size) for size in (10, 50, 200)}
    bench.http("changes", "GET /api/v1/changes/ page 1", api_client, with_query(api, page=1), size_urls=sizes)
    bench.http("changes", f"GET /api/v1/changes/ page {deep}", api_client, with_query(api, page=deep))
    csizes = {size: with_query(api, cursor="", page_size=size) for size in (10, 50, 200)}
    bench.http(
        "changes", "GET /api/v1/changes/ cursor, first page", api_client, with_query(api, cursor=""), size_urls=csizes
    )
    position = (deep - 1) * 50
    bench.http(
        "changes",
        f"GET /api/v1/changes/ cursor after id {position}",
        api_client,
        with_query(api, cursor=drf_cursor(position)),
    )
    bench.http(
        "changes", "GET /api/v1/changes/ filtered (status=scheduled)", api_client, with_query(api, status="scheduled")
    )
    bench.http(
        "changes", "GET /api/v1/changes/ search (certificates)", api_client, with_query(api, search="certificates")
    )


def main(argv=None):
    import argparse
    import os

    parser = argparse.ArgumentParser(description="Load the bench changes (measure with bench/run.py --only changes)")
    parser.add_argument("--changes", type=int, default=N_CHANGES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args(argv)
    from bench.run import configure_environment, ensure_database

    ensure_database(configure_environment())
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    if args.regenerate or change_count() != args.changes:
        generate_changes(args.changes, args.seed)
    else:
        print(f"{args.changes:,} bench changes already there (--regenerate to reload)")
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)


if __name__ == "__main__":
    main()
