"""The job schedule and the monitoring events pages export what they list, as CSV."""

import csv
import io

import pytest
from django.urls import reverse

from mof.choices import RoleCluster
from tests.factories import UserFactory


def _rows(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.django_db
def test_job_list_exports_the_filtered_jobs(client):
    from tests.operations.jobs_factories import JobFactory

    user = UserFactory(roles=[RoleCluster.OPERATIONS])
    JobFactory(name="nightly backup", kind="backup")
    JobFactory(name="=cmd|evil", kind="batch")
    client.force_login(user)
    rows = _rows(client.get(reverse("job_list"), {"export": "csv", "kind": "backup"}))
    assert rows[0][:3] == ["Name", "Kind", "Schedule"]
    assert [r[0] for r in rows[1:]] == ["nightly backup"]
    rows = _rows(client.get(reverse("job_list"), {"export": "csv", "kind": "batch"}))
    assert rows[1][0] == "'=cmd|evil"  # a formula is never exported as one


@pytest.mark.django_db
def test_ci_events_export_lists_the_ci_events(client):
    from operations import events
    from tests.factories import CIFactory

    user = UserFactory(roles=[RoleCluster.OPERATIONS])
    ci = CIFactory(name="db-01")
    events.ingest(
        actor=user,
        payload=[
            {"source": "nagios", "ci": "db-01", "severity": "warning", "message": "disk 91%", "key": "db-01/disk"}
        ],
    )
    client.force_login(user)
    rows = _rows(client.get(reverse("events_ci", args=[ci.pk]), {"export": "csv"}))
    assert rows[0][0] == "Received"
    assert len(rows) == 2 and rows[1][3] == "db-01" and rows[1][6] == "db-01/disk"
    rows = _rows(client.get(reverse("events_ci", args=[ci.pk]), {"export": "csv", "show": "alerts"}))
    assert rows[0][0] == "Key" and rows[1][0] == "db-01/disk" and rows[1][5] == "1"
