"""Run reports with instants far outside any plausible range are refused (400), never a 500."""

import pytest

from operations.models_jobs import JobRun
from tests.conftest import api_as
from tests.operations.jobs_factories import JobFactory, operator

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "body, field",
    [
        ({"started_at": "0001-01-01T00:00:00Z"}, "started_at"),
        ({"planned_for": "9999-12-31T23:59:59Z"}, "planned_for"),
        ({"planned_for": "0001-01-01T00:00:00Z"}, "planned_for"),
        ({"status": "success", "finished_at": "9999-12-31T23:59:59Z"}, "finished_at"),
    ],
)
def test_extreme_instants_are_refused(body, field):
    job = JobFactory()
    response = api_as(operator()).post(f"/api/v1/jobs/{job.pk}/runs/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not JobRun.objects.exists()


def test_a_finish_far_in_the_future_is_refused():
    job = JobFactory()
    client = api_as(operator())
    run_id = client.post(f"/api/v1/jobs/{job.pk}/runs/", {}, format="json").json()["id"]
    response = client.patch(
        f"/api/v1/jobs/{job.pk}/runs/{run_id}/",
        {"status": "success", "finished_at": "9999-12-31T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400 and "finished_at" in response.json()


@pytest.mark.parametrize("start, end", [("0001-01-01", "0001-01-05"), ("9999-12-20", "9999-12-30")])
def test_the_schedule_at_the_edges_of_time_answers(manager, start, end):
    JobFactory()
    response = api_as(manager).get(f"/api/v1/schedule/?start={start}&end={end}")
    assert response.status_code == 400 and "start" in response.json()
