"""Pages of the job schedule: list with filters and flags, form (who may, what is
refused), job page with runs, backup coverage and the CI page's backup line."""

import datetime as dt

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mof.choices import RoleCluster
from operations.models_jobs import Job
from tests.factories import CIFactory, TeamFactory, UserFactory
from tests.operations.factories import freeze
from tests.operations.jobs_factories import JobFactory, backup_job, operator, run

pytestmark = pytest.mark.django_db


def login(user):
    client = Client()
    client.force_login(user)
    return client


def test_job_list_filters_by_kind_and_shows_flags(manager):
    backup_job(name="mailbox backup")
    JobFactory(name="ledger batch", kind="batch")
    now = timezone.now()
    freeze(start=now, end=now + dt.timedelta(days=3), name="Quarter end")  # every job's run overlaps it
    page = login(manager).get("/operating/jobs/?kind=backup").content.decode()
    assert "mailbox backup" in page and "ledger batch" not in page
    assert "change freeze" in page and "Quarter end" in page


def test_job_list_queries_stay_constant_with_the_page(manager):
    client = login(manager)
    JobFactory()
    client.get("/operating/jobs/")
    with CaptureQueriesContext(connection) as few:
        client.get("/operating/jobs/")
    for _ in range(15):
        JobFactory()
    with CaptureQueriesContext(connection) as many:
        response = client.get("/operating/jobs/")
    assert response.content.decode().count('<tr id="job-') == 16
    assert len(many) == len(few)


def test_operations_role_creates_a_job_from_the_form():
    ci = CIFactory(name="mbx-01")
    group = TeamFactory(name="Storage team")
    response = login(operator()).post(
        "/operating/jobs/new/",
        {
            "name": "Mailbox backup",
            "kind": "backup",
            "schedule": "0 1 * * *",
            "time_zone": "Europe/London",
            "target_cis": "mbx-01",
            "expected_duration_minutes": 90,
            "owner_group": group.pk,
            "backup_max_age_hours": 26,
            "active": "on",
        },
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response.url == f"/operating/jobs/{job.pk}/"
    assert list(job.target_cis.all()) == [ci] and job.backup_max_age_hours == 26


@pytest.mark.parametrize(
    "changes, field_text",
    [
        ({"schedule": "0 25 * * *"}, "Not a valid cron expression"),
        ({"time_zone": "Moon/Base"}, "Unknown time zone"),
        ({"target_cis": "no-such-ci"}, "No configuration item named no-such-ci"),
        ({"kind": "backup"}, "needs a policy"),
    ],
)
def test_the_form_shows_what_is_wrong_and_saves_nothing(changes, field_text):
    CIFactory(name="mbx-01")
    body = {
        "name": "Job",
        "kind": "batch",
        "schedule": "0 1 * * *",
        "time_zone": "UTC",
        "target_cis": "mbx-01",
        "expected_duration_minutes": 30,
        "owner_group": TeamFactory().pk,
        **changes,
    }
    response = login(operator()).post("/operating/jobs/new/", body)
    assert response.status_code == 400
    assert field_text in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.parametrize("roles", [[RoleCluster.SUPPORT], [RoleCluster.PARTNER]])
def test_only_managers_and_operations_open_the_form(roles):
    user = UserFactory(username="nope", roles=roles)
    assert login(user).get("/operating/jobs/new/").status_code == 403


def test_partners_do_not_see_the_schedule_or_coverage(partner_user):
    job = JobFactory()
    client = login(partner_user)
    assert client.get("/operating/jobs/").status_code == 403
    assert client.get(f"/operating/jobs/{job.pk}/").status_code == 404
    assert client.get("/operating/backups/").status_code == 403


def test_job_page_lists_runs_and_the_last_good_backup(manager):
    ci = CIFactory(name="mbx-01")
    job = backup_job(name="Mailbox backup", targets=[ci])
    good = run(job, start=timezone.now() - dt.timedelta(hours=3))
    run(job, start=timezone.now() - dt.timedelta(hours=1), status="failed")
    page = login(manager).get(f"/operating/jobs/{job.pk}/").content.decode()
    assert f'id="run-{good.pk}"' in page and "Failed" in page
    assert "Last good backup per CI" in page and "covered" in page


def test_backup_coverage_lists_cis_without_a_good_backup_within_policy(manager):
    fresh, stale, never = CIFactory(name="fresh-01"), CIFactory(name="stale-01"), CIFactory(name="never-01")
    job = backup_job(targets=[fresh, stale, never], backup_max_age_hours=24)
    now = timezone.now()
    run(job, start=now - dt.timedelta(hours=2), cis=[fresh])
    run(job, start=now - dt.timedelta(hours=30), cis=[stale])
    run(job, start=now - dt.timedelta(hours=1), cis=[never], status="partial")  # partial is not a good backup
    page = login(manager).get("/operating/backups/").content.decode()
    assert "stale-01" in page and "never-01" in page and "fresh-01" not in page
    assert "<strong>2</strong> CIs at risk" in page
    assert "fresh-01" in login(manager).get("/operating/backups/?all=1").content.decode()


def test_a_stricter_policy_of_a_second_job_decides_the_risk(manager):
    from operations.jobs_selectors import backup_coverage

    ci = CIFactory()
    weekly = backup_job(backup_max_age_hours=24 * 7, targets=[ci])
    backup_job(backup_max_age_hours=12, targets=[ci])
    run(weekly, start=timezone.now() - dt.timedelta(hours=20))
    (row,) = backup_coverage(user=manager)
    assert row.policy_hours == 12 and row.at_risk


def test_the_ci_page_shows_its_backup_state(manager):
    ci = CIFactory(name="mbx-02")
    backup_job(targets=[ci], name="Mailbox backup")
    page = login(manager).get(f"/cmdb/cis/{ci.pk}/").content.decode()
    assert 'id="backup"' in page and "at risk" in page and "Mailbox backup" in page


def test_manager_deletes_a_job_from_its_page(manager):
    job = JobFactory()
    client = login(manager)
    assert login(operator()).post(f"/operating/jobs/{job.pk}/delete/").status_code == 403
    assert client.post(f"/operating/jobs/{job.pk}/delete/").status_code == 302
    assert not Job.objects.exists()


def test_the_admin_lists_jobs_and_runs_read_only(admin_user):
    job = JobFactory(name="admin-visible job")
    run(job, start=timezone.now())
    client = login(admin_user)
    assert "admin-visible job" in client.get("/admin/operations/job/").content.decode()
    assert client.get("/admin/operations/jobrun/").status_code == 200
    assert client.get("/admin/operations/job/add/").status_code == 403
