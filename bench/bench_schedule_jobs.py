"""The forward schedule for a month with 10,000 items: changes, maintenance windows and
job runs mixed (PostgreSQL; target: under 300 ms median).

    .venv/bin/python bench/run.py --only schedule          # after bench_schedule.py, same runner
    .venv/bin/python bench/bench_schedule_jobs.py [--runs 30]   # on its own (the CMDB must be there)

Inside ONE transaction that is rolled back at the end, for the 30 days around now
(15 days back, 15 ahead), it COPYs ~4,350 changes in scheduled-ish states (1-6 h, each on
1-3 CIs sampled from the CMDB with its real impact snapshot, 30 % with one of 20
implementers), adds a weekly maintenance window to each of the 200 services (~860
occurrences in the month) and two approved freezes, and 55 jobs - 3 hourly, 12 every six
hours, 40 daily, each on 1-3 CIs - whose past 15 days have their runs (90 % succeeded,
7 % failed, 3 % missed: ~2,400) and whose next 15 days are planned occurrences (~2,400).
The COPY bypasses the services, so it then stores the changes' conflict marks with
`changes.conflicts.refresh_all_marks()` - what `manage.py refresh_conflict_marks` runs -
outside the timed part (its time is printed). Then it measures `operations.calendar.build()`
for the month, `GET /api/v1/schedule/` for the month (the headline, which reads those stored
marks) and the calendar page's month view.

BENCH DATA IS NOT BUSINESS DATA: rows are COPYed or bulk-created, no services, no audit.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N_CHANGES = 4_350
JOB_MIX = (("0 * * * *", 3), ("0 */6 * * *", 12), ("30 2 * * *", 40))  # schedule, how many jobs


def _copy(table, columns, rows):
    import csv
    import io

    from django.db import connection

    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    buf.seek(0)
    with connection.cursor() as cursor:
        with cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
        ) as copy:  # psycopg 3
            copy.write(buf.getvalue())


def load_changes(start, end, n: int, rng, *, log=print) -> int:
    """COPY `n` scheduled changes starting inside [start, end)."""
    from django.db import connection

    from bench.bench_schedule import CI_POOL, SCHEDULED, _csv_value, _reach, _users
    from changes.models import RequestForChange
    from mof.models import ConfigurationItem

    t0 = time.perf_counter()
    requester, implementers = _users(1)[0], _users(20)
    ids = list(ConfigurationItem.objects.order_by("pk").values_list("pk", flat=True))
    pool = rng.sample(ids, min(CI_POOL, len(ids)))
    reach = _reach(pool)
    first_number = (RequestForChange.objects.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('changes_requestforchange', 'id'))")
        first_id = cursor.fetchone()[0] + 10
    fields = list(RequestForChange._meta.concrete_fields)
    hours = int((end - start).total_seconds() // 3600)
    rows, links = [], []
    for i in range(n):
        pk = first_id + i
        cis = rng.sample(pool, rng.choice((1, 1, 1, 2, 3)))
        begins = start + dt.timedelta(hours=rng.randrange(hours))
        explicit = {
            "id": pk,
            "number": first_number + i,
            "title": f"bench-month change {i}",
            "type": rng.choice(("normal", "normal", "standard", "emergency")),
            "status": rng.choice(SCHEDULED),
            "requester_id": requester,
            "implementer_id": rng.choice(implementers) if rng.random() < 0.3 else None,
            "planned_start": begins,
            "planned_end": begins + dt.timedelta(hours=rng.randint(1, 6)),
            "impacted_ci_ids": sorted(set().union(*(reach[c] for c in cis))),
            "affected_services": [],
            "created_at": start,
            "updated_at": start,
            "impact_analysed_at": start,
        }
        row = []
        for f in fields:
            value = (
                explicit[f.attname]
                if f.attname in explicit
                else f.get_default()
                if f.has_default()
                else None
                if f.null
                else ""
            )
            row.append(_csv_value(value))
        rows.append(row)
        links.extend((pk, c) for c in cis)
    _copy(RequestForChange._meta.db_table, [f.column for f in fields], rows)
    through = RequestForChange.affected_cis.through
    _copy(through._meta.db_table, ["requestforchange_id", "configurationitem_id"], links)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('changes_requestforchange', 'id'), %s)", [first_id + n])
        cursor.execute(f"ANALYZE {RequestForChange._meta.db_table}, {through._meta.db_table}")
    log(f"  COPY {n:,} changes in the month: {time.perf_counter() - t0:.1f}s")
    return n


def store_marks(*, log=print) -> None:
    """The conflict marks of every scheduled change, as the services would have kept them
    (the one function manage.py refresh_conflict_marks runs; not timed)."""
    from changes.conflicts import refresh_all_marks

    t0 = time.perf_counter()
    scheduled, changed = refresh_all_marks()
    log(
        f"  conflict marks of {scheduled:,} scheduled changes stored ({changed:,} marked): {time.perf_counter() - t0:.1f}s"
    )


def load_jobs(start, now, rng, *, log=print) -> dict:
    """The jobs of JOB_MIX with runs for their occurrences in [start, now)."""
    from django.db import connection

    from mof.choices import RoleCluster
    from mof.models import ConfigurationItem, Team
    from operations.models_jobs import Job, JobRun

    t0 = time.perf_counter()
    team, _ = Team.objects.get_or_create(
        name="bench-jobs operations", defaults={"role_cluster": RoleCluster.OPERATIONS}
    )
    ids = list(ConfigurationItem.objects.order_by("pk").values_list("pk", flat=True)[:20_000])
    jobs = []
    for schedule, count in JOB_MIX:
        for i in range(count):
            kind = rng.choice(("backup", "batch", "maintenance"))
            jobs.append(
                Job(
                    name=f"bench-month job {len(jobs):03d}",
                    kind=kind,
                    schedule=schedule,
                    time_zone=rng.choice(("UTC", "Europe/London", "America/New_York")),
                    expected_duration_minutes=rng.choice((10, 20, 45)),
                    owner_group=team,
                    backup_max_age_hours=26 if kind == "backup" else None,
                    checked_until=now,
                    created_at=start,
                )
            )
    jobs = Job.objects.bulk_create(jobs)
    Job.target_cis.through.objects.bulk_create(
        [
            Job.target_cis.through(job_id=j.pk, configurationitem_id=c)
            for j in jobs
            for c in rng.sample(ids, rng.choice((1, 2, 3)))
        ]
    )
    runs = []
    for job in jobs:
        for at in job.occurrences(start, now - job.expected_duration):
            roll = rng.random()
            status = "success" if roll < 0.90 else "failed" if roll < 0.97 else "missed"
            finished = (
                None if status == "missed" else at + dt.timedelta(minutes=rng.randint(1, job.expected_duration_minutes))
            )
            runs.append(
                JobRun(
                    job=job,
                    planned_for=at,
                    start=at,
                    end=finished or at + job.expected_duration,
                    started_at=None if status == "missed" else at,
                    finished_at=finished,
                    status=status,
                    bytes_processed=rng.randint(10**6, 10**10) if status != "missed" else None,
                )
            )
    for i in range(0, len(runs), 2000):
        JobRun.objects.bulk_create(runs[i : i + 2000])
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Job._meta.db_table}, {JobRun._meta.db_table}")
    log(f"  {len(jobs)} jobs and {len(runs):,} runs: {time.perf_counter() - t0:.1f}s")
    return {"jobs": len(jobs), "runs": len(runs)}


def cpu_ms(fn, runs: int, warmup: int) -> float:
    """Median CPU time of this process (ms): the portal's own work, less sensitive than wall
    time to other processes on a busy machine (PostgreSQL's side is not in it)."""
    import statistics

    from django.test.utils import override_settings

    with override_settings(DEBUG=False):
        for _ in range(warmup):
            fn()
        samples = []
        for _ in range(runs):
            t = time.process_time()
            fn()
            samples.append((time.process_time() - t) * 1000)
    return round(statistics.median(samples), 1)


def run(bench, *, runs: int, client=None, seed: int = 42, n_changes: int = N_CHANGES):
    """Add the month measurements to `bench` (bench/run.py's Bench). All data is rolled back."""
    from django.db import transaction
    from django.test import Client

    from bench.bench_schedule import _windows_and_freezes
    from bench.run import bench_user, count_queries, timed
    from operations import calendar

    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)
    start, end = now - dt.timedelta(days=15), now + dt.timedelta(days=15)
    print(
        f"Forward schedule for a month ({start:%Y-%m-%d} to {end:%Y-%m-%d}): changes, windows and job runs (rolled back afterwards)"
    )
    user, _ = bench_user()
    with transaction.atomic():
        load_changes(start, end, n_changes, rng)
        store_marks()
        _windows_and_freezes(now)
        load_jobs(start, now, rng)
        found = {}

        total = 0
        for marks in (False, True):

            def build(marks=marks):
                found["schedule"] = calendar.build(user=user, start=start, end=end, marks=marks)
                return found["schedule"]

            queries, _ = count_queries(build)
            kinds = {}
            for item in found["schedule"].items:
                kinds[item.kind] = kinds.get(item.kind, 0) + 1
            total = sum(kinds.values())
            label = "with conflict marks" if marks else "without conflict marks"
            row = {
                "group": "schedule",
                "name": f"calendar.build() month, {total:,} items, {label}",
                "status": "ok",
                "queries": queries,
            }
            row.update(timed(build, runs, bench.warmup))
            row.update(
                {"items": kinds, "truncated": found["schedule"].truncated, "cpu_median_ms": cpu_ms(build, runs, 1)}
            )
            bench.add(row)
            print(f"    CPU time of the portal process: median {row['cpu_median_ms']} ms")
        print(f"    items {kinds}; truncated: {found['schedule'].truncated}")

        if client is None:
            client = Client()
            client.force_login(user)
        url = f"/api/v1/schedule/?start={start.isoformat()}&end={end.isoformat()}".replace("+00:00", "Z")
        row = bench.http(
            "schedule", f"GET /api/v1/schedule/?marks=0 (month, {total:,} items)", client, url + "&marks=0"
        )
        if row is not None:
            row["cpu_median_ms"] = cpu_ms(lambda: client.get(url + "&marks=0"), runs, 1)
            print(f"    CPU time of the portal process: median {row['cpu_median_ms']} ms")
        row = bench.http(
            "schedule", f"GET /api/v1/schedule/ (month, {total:,} items, with conflict marks)", client, url
        )
        if row is not None:
            row["cpu_median_ms"] = cpu_ms(lambda: client.get(url), runs, 1)
            print(f"    CPU time of the portal process: median {row['cpu_median_ms']} ms")
        bench.http(
            "schedule",
            "calendar page, month view (same month)",
            client,
            f"/operating/calendar/?view=month&date={now.date().isoformat()}",
        )
        transaction.set_rollback(True)
    print("    (all bench-month rows rolled back)")


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
    if runner.core_router() is None:
        raise SystemExit("The bench CMDB is empty: run bench/run.py (or bench/generate.py) first.")
    bench = runner.Bench(args.runs, args.warmup)
    run(bench, runs=args.runs, n_changes=args.changes, seed=args.seed)


if __name__ == "__main__":
    main()
