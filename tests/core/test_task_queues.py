"""Every Celery task has a queue named for its kind of work (mof.settings.MOF_TASK_QUEUES), the
SLA sweep one of its own, and a worker started without -Q consumes them all. The flood test
with real workers is tests/integration/test_task_queues_flood.py."""

import pytest
from django.conf import settings

from mof.celery import app


def portal_tasks() -> set[str]:
    app.loader.import_default_modules()  # what a worker imports at start: every app's tasks
    return {name for name in app.tasks if not name.startswith("celery.")}


def test_every_task_is_routed_by_name_to_a_declared_queue():
    tasks = portal_tasks()
    assert len(tasks) > 20
    unrouted = sorted(tasks - set(settings.CELERY_TASK_ROUTES))
    assert not unrouted, f"add these tasks to MOF_TASK_QUEUES in mof/settings.py: {unrouted}"
    assert not set(settings.CELERY_TASK_ROUTES) - tasks, "MOF_TASK_QUEUES names a task that does not exist"
    for name in tasks:
        assert app.amqp.router.route({}, name)["queue"].name == settings.CELERY_TASK_ROUTES[name]["queue"]


def test_the_sla_sweep_and_its_notifications_have_a_queue_of_their_own():
    sla = {name for name, route in settings.CELERY_TASK_ROUTES.items() if route["queue"] == "sla"}
    assert sla == {"slas.sweep", "slas.send_clock_notification"}
    for flood in (
        "integrations.deliver",
        "integrations.relay_outbox",
        "slas.recompute_chunk",
        "mof.send_outgoing_mail",
        "operations.events_purge",
    ):
        assert settings.CELERY_TASK_ROUTES[flood]["queue"] != "sla"


def test_a_worker_started_without_q_consumes_every_queue():
    consumed = {queue.name for queue in app.amqp.queues.consume_from.values()}
    assert consumed == set(settings.MOF_TASK_QUEUES) == {"sla", "webhooks", "mail", "recompute", "batch", "celery"}
    assert app.conf.task_default_queue in consumed  # and what was queued before the split


@pytest.mark.django_db
def test_every_task_in_the_beat_schedule_is_routed():
    from django_celery_beat.models import PeriodicTask

    scheduled = set(PeriodicTask.objects.values_list("task", flat=True))
    assert {"slas.sweep", "integrations.relay_pending", "mof.send_outgoing_mail"} <= scheduled
    assert scheduled <= set(settings.CELERY_TASK_ROUTES)
