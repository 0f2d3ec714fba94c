"""The job schedule's API: who may define jobs and report runs, validation with field
messages, run reporting (started, finished, one call), and list query counts."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import Incident
from mof.choices import RoleCluster
from operations.models_jobs import LOG_EXCERPT_MAX, Job, JobRun
from tests.conftest import api_as
from tests.factories import CIFactory, TeamFactory, UserFactory
from tests.operations.jobs_factories import JobFactory, backup_job, operator

pytestmark = pytest.mark.django_db


def job_body(group, cis, **overrides):
    body = {
        "name": "Nightly ledger batch",
        "kind": "batch",
        "schedule": "30 2 * * *",
        "time_zone": "Europe/London",
        "target_cis": [c.pk for c in cis],
        "expected_duration_minutes": 45,
        "owner_group": group.pk,
    }
    body.update(overrides)
    return body


def test_operations_role_defines_a_job_and_its_services_are_taken_from_the_cmdb():
    from tests.factories import RelationshipFactory, ServiceFactory

    mail = ServiceFactory(name="Exchange mail")
    san = CIFactory(name="san-01")
    mailbox = CIFactory(name="mbx-01", services=[mail])
    RelationshipFactory(source=mailbox, target=san)  # the mailbox server depends on the SAN
    group = TeamFactory()
    response = api_as(operator()).post("/api/v1/jobs/", job_body(group, [san]), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["service_ids"] == [mail.pk]  # reached downstream through the mailbox server
    assert body["flags"] == []
    assert Job.objects.get(pk=body["id"]).owner_group == group


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"schedule": "99 * * * *"}, "schedule"),
        ({"schedule": "0 0 30 2 *"}, "schedule"),
        ({"time_zone": "Europe/Atlantis"}, "time_zone"),
        ({"kind": "backup"}, "backup_max_age_hours"),
        ({"backup_max_age_hours": 24}, "backup_max_age_hours"),
        ({"target_cis": []}, "target_cis"),
        ({"expected_duration_minutes": 0}, "expected_duration_minutes"),
        ({"owner_group": 999999}, "owner_group"),
    ],
)
def test_a_bad_job_is_refused_with_the_field_named_and_nothing_written(overrides, field):
    response = api_as(operator()).post(
        "/api/v1/jobs/", job_body(TeamFactory(), [CIFactory()], **overrides), format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not Job.objects.exists()


@pytest.mark.parametrize("roles", [[RoleCluster.SUPPORT], [RoleCluster.PARTNER], []])
def test_only_managers_and_operations_define_jobs(roles):
    user = UserFactory(username="someone", roles=roles)
    response = api_as(user).post("/api/v1/jobs/", job_body(TeamFactory(), [CIFactory()]), format="json")
    assert response.status_code == 403
    assert not Job.objects.exists()


def test_partners_do_not_see_jobs(partner_user):
    JobFactory()
    assert api_as(partner_user).get("/api/v1/jobs/").json()["results"] == []


def test_owner_group_member_reports_a_run_start_and_finish():
    reporter = UserFactory(username="backup-tool", roles=[RoleCluster.PARTNER])
    job = backup_job(owner_group=TeamFactory(members=[reporter]), schedule="0 1 * * *")
    client = api_as(reporter)
    started = timezone.now().replace(microsecond=0) - dt.timedelta(minutes=20)
    response = client.post(f"/api/v1/jobs/{job.pk}/runs/", {"started_at": started.isoformat()}, format="json")
    assert response.status_code == 201, response.json()
    run_id = response.json()["id"]
    assert response.json()["status"] == "running"
    response = client.patch(
        f"/api/v1/jobs/{job.pk}/runs/{run_id}/",
        {"status": "success", "bytes_processed": 123456, "items_processed": 12, "log_excerpt": "ok"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    run = JobRun.objects.get(pk=run_id)
    assert (run.status, run.bytes_processed, run.items_processed, run.log_excerpt) == ("success", 123456, 12, "ok")
    assert run.finished_at is not None and run.end == run.finished_at
    assert sorted(response.json()["cis"]) == sorted(job.target_cis.values_list("pk", flat=True))


def test_someone_outside_the_owner_group_may_not_report_runs():
    outsider = UserFactory(username="outsider", roles=[RoleCluster.PARTNER])
    job = JobFactory()
    response = api_as(outsider).post(f"/api/v1/jobs/{job.pk}/runs/", {}, format="json")
    assert response.status_code in (403, 404)
    assert not JobRun.objects.exists()


def test_a_run_reported_in_one_call_started_and_failed_opens_an_incident():
    job = JobFactory(schedule="*/5 * * * *")
    now = timezone.now().replace(microsecond=0)
    response = api_as(operator()).post(
        f"/api/v1/jobs/{job.pk}/runs/",
        {
            "started_at": (now - dt.timedelta(minutes=10)).isoformat(),
            "finished_at": now.isoformat(),
            "status": "failed",
            "log_excerpt": "disk full",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    incident = Incident.objects.get()
    assert response.json()["incident"] == incident.pk
    assert incident.channel == "monitoring" and "disk full" in incident.description


@pytest.mark.parametrize(
    "body, field",
    [
        ({"status": "exploded"}, "status"),
        ({"status": "running"}, "status"),
        ({"status": "success", "bytes_processed": -1}, "bytes_processed"),
        ({"status": "success", "items_processed": "many"}, "items_processed"),
        ({"status": "success", "finished_at": "yesterday-ish"}, "finished_at"),
        ({"status": "success", "log_excerpt": "x" * 100_001}, "log_excerpt"),
        ({}, "status"),
    ],
)
def test_a_bad_finish_report_is_refused_and_the_run_stays_running(body, field):
    job = JobFactory()
    client = api_as(operator())
    run_id = client.post(f"/api/v1/jobs/{job.pk}/runs/", {}, format="json").json()["id"]
    response = client.patch(f"/api/v1/jobs/{job.pk}/runs/{run_id}/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert JobRun.objects.get(pk=run_id).status == "running"


def test_finish_before_start_and_a_second_finish_are_refused():
    job = JobFactory()
    client = api_as(operator())
    run = client.post(f"/api/v1/jobs/{job.pk}/runs/", {}, format="json").json()
    early = (dt.datetime.fromisoformat(run["start"]) - dt.timedelta(hours=1)).isoformat()
    assert (
        "finished_at"
        in client.patch(
            f"/api/v1/jobs/{job.pk}/runs/{run['id']}/", {"status": "success", "finished_at": early}, format="json"
        ).json()
    )
    assert (
        client.patch(f"/api/v1/jobs/{job.pk}/runs/{run['id']}/", {"status": "success"}, format="json").status_code
        == 200
    )
    again = client.patch(f"/api/v1/jobs/{job.pk}/runs/{run['id']}/", {"status": "failed"}, format="json")
    assert again.status_code == 400 and "status" in again.json()
    assert JobRun.objects.get(pk=run["id"]).status == "success"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"started_at": "2999-01-01T00:00:00Z"}, "started_at"),
        ({"planned_for": "2026-01-01T02:31:00Z"}, "planned_for"),
        ({"log_excerpt": "x"}, "status"),
    ],
)
def test_a_bad_start_report_is_refused(body, field):
    job = JobFactory(schedule="30 2 * * *")
    response = api_as(operator()).post(f"/api/v1/jobs/{job.pk}/runs/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not JobRun.objects.exists()


def test_a_start_naming_a_ci_outside_the_job_is_refused():
    job = JobFactory()
    other = CIFactory()
    response = api_as(operator()).post(f"/api/v1/jobs/{job.pk}/runs/", {"cis": [other.pk]}, format="json")
    assert response.status_code == 400 and "cis" in response.json()


def test_the_same_occurrence_cannot_be_reported_twice():
    job = JobFactory(schedule="30 2 * * *")
    client = api_as(operator())
    body = {"planned_for": "2026-01-05T02:30:00Z", "started_at": "2026-01-05T02:31:00Z"}
    assert client.post(f"/api/v1/jobs/{job.pk}/runs/", body, format="json").status_code == 201
    second = client.post(f"/api/v1/jobs/{job.pk}/runs/", body, format="json")
    assert second.status_code == 400 and "planned_for" in second.json()


def test_a_start_without_planned_for_answers_the_matching_occurrence():
    job = JobFactory(schedule="30 2 * * *", expected_duration_minutes=60)
    client = api_as(operator())
    first = client.post(f"/api/v1/jobs/{job.pk}/runs/", {"started_at": "2026-01-05T02:34:00Z"}, format="json").json()
    assert first["planned_for"] == "2026-01-05T02:30:00Z"
    rerun = client.post(f"/api/v1/jobs/{job.pk}/runs/", {"started_at": "2026-01-05T02:50:00Z"}, format="json").json()
    assert rerun["planned_for"] is None  # that occurrence has its run: an extra run


def test_the_log_excerpt_keeps_the_tail_within_its_bound():
    job = JobFactory()
    client = api_as(operator())
    run_id = client.post(f"/api/v1/jobs/{job.pk}/runs/", {}, format="json").json()["id"]
    log = "start\n" + "line\n" * 5000 + "ERROR: tape jammed"
    client.patch(f"/api/v1/jobs/{job.pk}/runs/{run_id}/", {"status": "failed", "log_excerpt": log}, format="json")
    kept = JobRun.objects.get(pk=run_id).log_excerpt
    assert len(kept) <= LOG_EXCERPT_MAX and kept.endswith("ERROR: tape jammed") and "cut" in kept


def test_unknown_run_or_job_is_404():
    job = JobFactory()
    client = api_as(operator())
    assert client.get(f"/api/v1/jobs/{job.pk}/runs/999999/").status_code == 404
    assert client.post("/api/v1/jobs/999999/runs/", {}, format="json").status_code == 404


def test_job_list_queries_do_not_grow_with_the_page(manager):
    client = api_as(manager)
    for _ in range(3):
        JobFactory()
    client.get("/api/v1/jobs/")  # warm caches (content types, calendars)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/v1/jobs/").status_code == 200
    for _ in range(12):
        JobFactory()
    with CaptureQueriesContext(connection) as many:
        body = client.get("/api/v1/jobs/").json()
    assert len(body["results"]) == 15
    assert len(many) == len(few)


def test_run_list_queries_do_not_grow_with_the_page(manager):
    from tests.operations.jobs_factories import run

    job = JobFactory()
    client = api_as(manager)
    start = timezone.now() - dt.timedelta(days=30)
    run(job, start=start)
    client.get(f"/api/v1/jobs/{job.pk}/runs/")
    with CaptureQueriesContext(connection) as few:
        client.get(f"/api/v1/jobs/{job.pk}/runs/")
    for i in range(1, 20):
        run(job, start=start + dt.timedelta(hours=i))
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(f"/api/v1/jobs/{job.pk}/runs/").json()["results"]) == 20
    assert len(many) == len(few)


def test_manager_deletes_a_job_operations_may_not(manager):
    job = JobFactory()
    assert api_as(operator()).delete(f"/api/v1/jobs/{job.pk}/").status_code == 403
    assert api_as(manager).delete(f"/api/v1/jobs/{job.pk}/").status_code == 204
    assert not Job.objects.exists()


def test_sparse_fields_leave_the_flags_out_and_uncomputed(manager):
    JobFactory(name="sparse job")
    client = api_as(manager)
    body = client.get("/api/v1/jobs/?fields=id,name").json()
    assert body["results"][0] == {"id": body["results"][0]["id"], "name": "sparse job"}
    assert client.get("/api/v1/jobs/?fields=nope").status_code == 400
