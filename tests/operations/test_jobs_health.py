"""The Operations Review's job health figures: runs due or started in the period, by job."""

import datetime as dt

import pytest

from operations.jobs_selectors import job_health
from tests.operations.jobs_factories import JobFactory, run

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc
START, END = dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 12, 1, tzinfo=UTC)


def test_health_counts_outcomes_per_job_in_the_period():
    ledger, backup = JobFactory(name="ledger"), JobFactory(name="backup")
    day = START + dt.timedelta(days=3)
    for status in ("success", "success", "success", "failed", "partial", "missed"):
        run(ledger, start=day, status=status)
        day += dt.timedelta(hours=1)
    run(backup, start=day, status="success")
    run(backup, start=day, status="running")  # no outcome yet: not counted
    run(backup, start=START - dt.timedelta(hours=1), status="failed")  # before the period
    run(backup, start=END, status="failed")  # the end is not in it
    health = job_health(START, END)
    assert (health["runs"], health["succeeded"], health["failed"], health["missed"]) == (7, 4, 2, 1)
    assert health["success_rate"] == pytest.approx(4 / 7)
    assert health["jobs"] == [
        {"job_id": backup.pk, "name": "backup", "runs": 1, "succeeded": 1, "failed": 0, "missed": 0},
        {"job_id": ledger.pk, "name": "ledger", "runs": 6, "succeeded": 3, "failed": 2, "missed": 1},
    ]


def test_a_period_without_runs_has_no_success_rate():
    JobFactory()
    assert job_health(START, END) == {
        "runs": 0,
        "succeeded": 0,
        "failed": 0,
        "missed": 0,
        "success_rate": None,
        "jobs": [],
    }
