"""The migrations put every periodic task in the database schedule, each naming a task the
Celery app really has (a typo would leave the work silently undone)."""

import pytest
from django_celery_beat.models import PeriodicTask

from mof.celery import app

pytestmark = pytest.mark.django_db

EXPECTED = {
    "slas.sweep": (1, "minutes"),
    "slas.capacity_forecast": (1, "hours"),
    "incidents.close_resolved": (60, "minutes"),
    "incidents.propose_problems": (24 * 60, "minutes"),
    "incidents.poll_mailbox": (1, "minutes"),
    "incidents.inbound_mail_purge": (1, "days"),
    "integrations.relay_pending": (1, "minutes"),
    "operations.freeze_clock": (5, "minutes"),
    "operations.jobs_check": (5, "minutes"),
    "operations.jobs_refresh": (60, "minutes"),
    "operations.events_purge": (1, "hours"),
    "mof.lockouts_prune": (1, "days"),
    "mof.heartbeat": (1, "minutes"),
}


def test_every_periodic_task_is_scheduled_by_the_migrations():
    scheduled = {
        t.task: (t.interval.every, t.interval.period)
        for t in PeriodicTask.objects.select_related("interval")
        if t.interval
    }
    for task, interval in EXPECTED.items():
        assert scheduled.get(task) == interval, task


def test_every_scheduled_task_exists_in_the_celery_app():
    app.loader.import_default_modules()
    names = set(PeriodicTask.objects.exclude(task="celery.backend_cleanup").values_list("task", flat=True))
    assert names and names <= set(app.tasks), sorted(names - set(app.tasks))
