"""The job schedule on real components: the missed-run check run by a Celery worker on
Redis against PostgreSQL, and two failures of one job reported at the same moment from
two connections (the job row lock makes them open a single incident). Skipped on a bare
machine, never in CI (.ci/run sets DATABASE_URL, CELERY_BROKER_URL and CI=1)."""

import datetime as dt
import threading
import time

import pytest
from django.db import connections
from django.utils import timezone

from incidents.models import Incident
from mof.services import system_user
from operations import jobs
from operations.models_jobs import Job, JobRun
from tests.integration.test_celery_worker import (  # noqa: F401 (fixtures)
    celery_worker,
    needs_postgres,
    needs_redis,
)
from tests.operations.jobs_factories import JobFactory, operator

pytestmark = [pytest.mark.integration, needs_postgres]


def _wait_for_check(job, after, timeout=60):
    """Until the worker's check has moved the job's watermark past `after` (no result backend)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        checked = Job.objects.filter(pk=job.pk).values_list("checked_until", flat=True).get()
        if checked > after:
            return checked
        time.sleep(0.2)
    raise AssertionError("the worker did not run operations.jobs_check")


@needs_redis
def test_a_worker_records_missed_runs_once_and_opens_one_incident(builtin_data, celery_worker):
    from operations.tasks_jobs import jobs_check

    job = JobFactory(schedule="*/10 * * * *", expected_duration_minutes=5)
    start = timezone.now() - dt.timedelta(hours=1)
    Job.objects.filter(pk=job.pk).update(checked_until=start)
    jobs_check.delay()
    checked = _wait_for_check(job, start)
    missed = JobRun.objects.filter(job=job, status="missed").count()
    assert missed >= 4
    jobs_check.delay()
    _wait_for_check(job, checked)
    assert JobRun.objects.filter(job=job).count() == missed  # nothing recorded twice
    incident = Incident.objects.get()
    assert incident.channel == "monitoring" and incident.caller.username == "mof-system"


def test_two_failures_reported_at_the_same_moment_open_one_incident(builtin_data):
    job = JobFactory(schedule="*/5 * * * *")
    reporter = operator()
    system_user()  # exists before the race (mof.services.system_user itself is not race-safe on first use)
    now = timezone.now()
    runs = [jobs.run_start(actor=reporter, job=job, started_at=now - dt.timedelta(minutes=m)) for m in (11, 6)]
    barrier = threading.Barrier(2)
    errors = []

    def report(run):
        try:
            barrier.wait(timeout=10)
            jobs.run_finish(actor=reporter, run=run, data={"status": "failed", "log_excerpt": f"run {run.pk} failed"})
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=report, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert Incident.objects.count() == 1
    assert set(JobRun.objects.filter(job=job).values_list("incident_id", flat=True)) == {Incident.objects.get().pk}
