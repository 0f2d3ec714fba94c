"""The request id travels through the broker: a request commits a transition, the mail relay it
queues runs in a real worker (its own thread: nothing of the request's context is there but the
message), and the relay's log line carries the request's id with the task's name and id.
Skipped on a bare machine, never in CI (.ci/run sets DATABASE_URL, CELERY_BROKER_URL and CI=1)."""

import time

import pytest
from rest_framework.test import APIClient

from tests.core.test_task_logs import Lines
from tests.factories import CIFactory, ManagerFactory, UserFactory
from tests.integration.test_celery_worker import (  # noqa: F401 - fixtures
    celery_worker,
    needs_postgres,
    needs_redis,
)

pytestmark = [pytest.mark.integration, needs_postgres, needs_redis]


@pytest.mark.django_db(transaction=True)
def test_a_task_run_by_a_worker_logs_with_the_id_of_the_request_that_queued_it(builtin_data, celery_worker, settings):
    import logging

    settings.EMAIL_BACKEND = "tests.core.test_task_logs.RefusingBackend"  # the relay logs a warning
    lines = Lines("json")
    logger = logging.getLogger("mof.notifications")
    logger.addHandler(lines.handler)
    try:
        ci = CIFactory(name="EX-RID-01", owner=UserFactory(username="rid-owner", email="owner@example.test"))
        api = APIClient()
        api.force_authenticate(ManagerFactory(username="rid-manager"))
        response = api.post(
            f"/api/v1/cis/{ci.pk}/transitions/commission/", {}, format="json", HTTP_X_REQUEST_ID="req-worker-7"
        )
        assert response.status_code == 200, response.content

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not lines.json():
            time.sleep(0.1)
    finally:
        logger.removeHandler(lines.handler)
    entries = lines.json()
    assert entries, "the worker logged no failed mail attempt within 20 s"
    entry = entries[0]
    assert "attempt 1 failed" in entry["message"]
    assert entry["request_id"] == "req-worker-7"
    assert entry["task"] == "mof.send_outgoing_mail" and len(entry["task_id"]) == 36
    assert "method" not in entry and "path" not in entry  # the worker has the id, not the request
