"""Forward schedule of change at scale: conflict detection for a change on a CI with tens
of thousands of dependents against 50,000 scheduled changes (PostgreSQL).

    .venv/bin/python bench/run.py --only schedule      # from the runner (the CMDB must be there)
    .venv/bin/python bench/bench_schedule.py [--runs 30] [--changes 50000]   # on its own

Inside ONE transaction that is rolled back at the end (so the bench database keeps no
changes and nothing else measured there is disturbed), it COPYs `--changes` changes in
scheduled-ish states, spread over a year from now, 1-6 hours long, each on 1-3 CIs
sampled from the CMDB with its real impact snapshot (`impacted_ci_ids`: the CIs and
everything downstream, from mof_ci_reach), 30 % with one of 20 implementers; then a
change on the headline core router (`impacted_ci_ids` = its ~27,000 dependents) planned
in a 4-hour slot 14 days ahead, and measures:

* `changes.conflicts.conflicts_for()` of the router change (the headline, target < 300 ms
  median), and of a change on one application CI (small impact set);
* `next_free_slots()` of both (30-day horizon: every colliding change in it is examined);
* `GET /api/v1/changes/{id}/conflicts/` (conflicts + 3 free slots) and
  `GET /api/v1/schedule/` for 7 days, and the calendar page (week view).

BENCH DATA IS NOT BUSINESS DATA: rows are COPYed with no save(), no transitions, no audit.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N_CHANGES = 50_000
CI_POOL = 2_000
SCHEDULED = ["approved", "scheduled", "in_development", "in_test", "tested", "ready_for_deployment", "implementing"]


def _users(count=20) -> list[int]:
    from mof.choices import RoleCluster
    from mof.models import RoleAssignment, User

    ids = []
    for i in range(1, count + 1):
        user, created = User.objects.get_or_create(
            username=f"bench-implementer-{i:02d}",
            defaults={
                "first_name": "Bench",
                "last_name": f"Implementer {i:02d}",
                "email": f"bench-implementer-{i:02d}@example.test",
            },
        )
        if created:
            user.set_unusable_password()
            user.save(update_fields=["password"])
            RoleAssignment.objects.get_or_create(user=user, role=RoleCluster.RELEASE)
        ids.append(user.pk)
    return ids


def _csv_value(value):
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _reach(ci_ids) -> dict[int, list[int]]:
    from mof import impact

    return {pk: sorted(impact.reach([pk], impact.DOWNSTREAM)) for pk in ci_ids}


def load_changes(n: int, seed: int, *, log=print) -> dict:
    """COPY `n` scheduled changes (call inside a transaction you roll back)."""
    import csv
    import io

    from django.db import connection

    from changes.models import RequestForChange
    from mof.models import ConfigurationItem

    rng = random.Random(seed)
    t0 = time.perf_counter()
    requester = _users(1)[0]
    implementers = _users(20)
    ids = list(ConfigurationItem.objects.order_by("pk").values_list("pk", flat=True))
    pool = rng.sample(ids, min(CI_POOL, len(ids)))
    reach = _reach(pool)
    log(
        f"  impact snapshots of {len(pool):,} sampled CIs: {time.perf_counter() - t0:.1f}s "
        f"(median {sorted(len(v) for v in reach.values())[len(reach) // 2]} CIs each, max {max(len(v) for v in reach.values()):,})"
    )

    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    first_number = (RequestForChange.objects.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('changes_requestforchange', 'id'))")
        first_id = cursor.fetchone()[0] + 10  # leave room; setval below
    explicit = {}
    fields = [f for f in RequestForChange._meta.concrete_fields]
    rows, links = [], []
    for i in range(n):
        pk = first_id + i
        cis = rng.sample(pool, rng.choice((1, 1, 1, 2, 3)))
        impacted = sorted(set().union(*(reach[c] for c in cis)))
        start = now + dt.timedelta(hours=rng.randrange(-24 * 7, 24 * 365))
        explicit = {
            "id": pk,
            "number": first_number + i,
            "title": f"bench-schedule change {i}",
            "type": rng.choice(("normal", "normal", "standard", "emergency")),
            "status": rng.choice(SCHEDULED),
            "requester_id": requester,
            "implementer_id": rng.choice(implementers) if rng.random() < 0.3 else None,
            "planned_start": start,
            "planned_end": start + dt.timedelta(hours=rng.randint(1, 6)),
            "impacted_ci_ids": impacted,
            "affected_services": [],
            "created_at": now,
            "updated_at": now,
            "impact_analysed_at": now,
        }
        row = []
        for f in fields:
            if f.attname in explicit:
                value = explicit[f.attname]
            elif f.has_default():
                value = f.get_default()
            elif f.null:
                value = None
            else:
                value = ""
            row.append(_csv_value(value))
        rows.append(row)
        links.extend((pk, c) for c in cis)

    def copy(table, columns, data):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(data)
        buf.seek(0)
        with connection.cursor() as cursor:
            with cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            ) as copy:  # psycopg 3
                copy.write(buf.getvalue())

    t1 = time.perf_counter()
    copy(RequestForChange._meta.db_table, [f.column for f in fields], rows)
    through = RequestForChange.affected_cis.through
    copy(through._meta.db_table, ["requestforchange_id", "configurationitem_id"], links)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('changes_requestforchange', 'id'), %s)", [first_id + n])
        cursor.execute(f"ANALYZE {RequestForChange._meta.db_table}, {through._meta.db_table}")
    log(f"  COPY {n:,} changes and {len(links):,} CI links: {time.perf_counter() - t1:.1f}s")
    return {"changes": n, "ci_links": len(links), "pool": len(pool), "now": now}


def _windows_and_freezes(now):
    """Every service a weekly maintenance window (Sat or Sun night, London / New York /
    Singapore), and two approved service-scoped freezes: what conflict detection reads."""
    from mof.models import Service, User
    from operations.models import FreezeWindow, MaintenanceWindow

    services = list(Service.objects.order_by("pk"))
    zones = ["Europe/London", "America/New_York", "Asia/Singapore"]
    MaintenanceWindow.objects.bulk_create(
        MaintenanceWindow(
            name=f"bench window {s.pk}",
            service=s,
            weekdays=[6 + (s.pk % 2)],
            start_time=dt.time(22),
            duration_minutes=360,
            time_zone=zones[s.pk % 3],
        )
        for s in services
    )
    proposer = User.objects.get(username="bench-implementer-01")
    for i, days in enumerate((40, 120)):
        freeze = FreezeWindow.objects.create(
            name=f"bench freeze {i}",
            start=now + dt.timedelta(days=days),
            end=now + dt.timedelta(days=days + 5),
            proposed_by=proposer,
        )
        freeze.services.set(services[i::7])
        FreezeWindow.objects.filter(pk=freeze.pk).update(status="approved")


def _subject(core, now, *, title, hours=4, days=14, implementer=None):
    """A change in 'approved' with its impact snapshot, planned `days` ahead at 22:00 UTC."""
    from changes.models import RequestForChange
    from mof import impact
    from mof.models import User

    start = (now + dt.timedelta(days=days)).replace(hour=22)
    result = impact.analyse([core.pk], impact.DOWNSTREAM)  # the snapshot change_analyse_impact takes
    impacted = sorted([core.pk] + [c.id for c in result.cis])
    services = [
        {"id": s.id, "name": s.name, "criticality": s.criticality, "via_ci": s.via_ci, "path": s.path}
        for s in result.services
    ]
    change = RequestForChange.objects.create(
        title=title,
        type="normal",
        requester=User.objects.get(username="bench-implementer-01"),
        implementer_id=implementer,
        planned_start=start,
        planned_end=start + dt.timedelta(hours=hours),
    )
    change.affected_cis.set([core])
    RequestForChange.objects.filter(pk=change.pk).update(
        status="approved", impacted_ci_ids=impacted, affected_services=services
    )
    return RequestForChange.objects.get(pk=change.pk)


def run(bench, *, core, runs: int, client=None, n_changes: int = N_CHANGES, seed: int = 42):
    """Add the schedule measurements to `bench` (bench/run.py's Bench). All data is rolled back."""
    from django.db import transaction
    from django.test import Client

    from bench.run import count_queries, timed
    from changes.conflicts import SCHEDULED_STATES, _others, _Subject, conflicts_for, next_free_slots
    from mof.models import ConfigurationItem

    print(f"Forward schedule: {n_changes:,} scheduled changes (COPY, rolled back afterwards)")
    with transaction.atomic():
        info = load_changes(n_changes, seed)
        now = info["now"]
        from bench.bench_schedule_jobs import store_marks

        store_marks()  # the marks the services keep on every write, for the week/month rows (untimed)
        _windows_and_freezes(now)
        router = _subject(core, now, title="bench-schedule: core router firmware", implementer=_users(1)[0])
        app = (
            ConfigurationItem.objects.filter(name="lon1-app-00100").first()
            or ConfigurationItem.objects.order_by("pk").last()
        )
        small = _subject(app, now, title="bench-schedule: application patch", hours=2)

        for change, label in ((router, core.name), (small, app.name)):
            subject = _Subject(change)
            overlapping = len(_others(subject, change.planned_start, change.planned_end))
            found = {}

            def once(change=change):
                found["conflicts"] = conflicts_for(change)
                return found["conflicts"]

            queries, _ = count_queries(once)
            row = {
                "group": "schedule",
                "name": f"conflicts_for() change on {label}",
                "status": "ok",
                "queries": queries,
            }
            row.update(timed(once, runs, bench.warmup))
            kinds = {}
            for c in found["conflicts"]:
                kinds[c.kind] = kinds.get(c.kind, 0) + 1
            row.update(
                {
                    "impact_set": len(subject.impact),
                    "overlapping_changes": overlapping,
                    "conflicts": kinds,
                    "scheduled_changes": n_changes,
                }
            )
            bench.add(row)
            print(
                f"    impact set {len(subject.impact):,} CIs; {overlapping} scheduled changes overlap in time; conflicts {kinds}"
            )

            slots = {}

            def free(change=change):
                slots["slots"] = next_free_slots(change, count=3, horizon_days=30)
                return slots["slots"]

            queries, _ = count_queries(free)
            row = {
                "group": "schedule",
                "name": f"next_free_slots() change on {label} (30 days)",
                "status": "ok",
                "queries": queries,
            }
            row.update(timed(free, max(5, runs // 3), 1))
            row["slots"] = [s.start.isoformat() for s in slots["slots"]]
            bench.add(row)
            print(
                f"    free slots: {', '.join(s.start.strftime('%Y-%m-%d %H:%M') for s in slots['slots']) or 'none in 30 days'}"
            )

        if client is None:
            from bench.run import bench_user

            user, _ = bench_user()
            client = Client()
            client.force_login(user)
        bench.http(
            "schedule",
            "GET /api/v1/changes/{id}/conflicts/ (router change, + 3 free slots)",
            client,
            f"/api/v1/changes/{router.pk}/conflicts/",
        )
        week = router.planned_start.date()
        end = week + dt.timedelta(days=6)
        bench.http(
            "schedule",
            "GET /api/v1/schedule/ (7 days)",
            client,
            f"/api/v1/schedule/?start={week.isoformat()}&end={end.isoformat()}",
        )
        bench.http(
            "schedule", "calendar page, week view", client, f"/operating/calendar/?view=week&date={week.isoformat()}"
        )
        transaction.set_rollback(True)
    print(f"    ({', '.join(SCHEDULED_STATES)} count as scheduled; all bench-schedule rows rolled back)")


def main(argv=None):
    import argparse

    sys.path.insert(0, str(ROOT))
    from bench import run as runner

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--changes", type=int, default=N_CHANGES)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    url = runner.configure_environment()
    runner.ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    core = runner.core_router()
    if core is None:
        raise SystemExit("The bench CMDB is empty: run bench/run.py (or bench/generate.py) first.")
    bench = runner.Bench(args.runs, args.warmup)
    run(bench, core=core, runs=args.runs, n_changes=args.changes, seed=args.seed)


if __name__ == "__main__":
    main()
