"""Anything with history is retired, not deleted: a delete that would lose history (a CI named
by a change, a job's runs, a CI's lifecycle) is refused with the reason, through the API, the
pages and the admin (one object and the bulk action); something with no history still goes."""

import datetime as dt

import pytest
from django.utils import timezone

from changes.models import RequestForChange
from mof.models import AuditEntry, ConfigurationItem, Service
from operations.models_jobs import Job, JobRun
from tests.changes.factories import ChangeFactory
from tests.conftest import api_as
from tests.factories import CIFactory, ServiceFactory
from tests.operations.jobs_factories import backup_job, run

pytestmark = pytest.mark.django_db


def _named_by_an_approved_change(ci):
    change = ChangeFactory()
    change.affected_cis.add(ci)
    RequestForChange.objects.filter(pk=change.pk).update(status="approved")
    return RequestForChange.objects.get(pk=change.pk)


def test_deleting_a_ci_named_by_an_approved_change_is_refused_with_the_reason(admin_user):
    ci = CIFactory(name="EX-MBX-01")
    change = _named_by_an_approved_change(ci)
    response = api_as(admin_user).delete(f"/api/v1/cis/{ci.pk}/")
    assert response.status_code == 409, response.json()
    detail = response.json()["detail"]
    assert response.json()["code"] == "has_history"
    assert "EX-MBX-01" in detail and f"{change.reference} (approved)" in detail and "retire it instead" in detail
    assert change.affected_cis.filter(pk=ci.pk).exists()
    assert api_as(admin_user).get(f"/api/v1/cis/{ci.pk}/history/").status_code == 200


def test_a_ci_with_a_lifecycle_is_retired_not_deleted(admin_user):
    ci = CIFactory()
    AuditEntry.objects.create(
        actor_name="admin",
        via="api",
        action="transition",
        model_label="mof.configurationitem",
        object_id=str(ci.pk),
        object_repr=str(ci),
        changes={},
        transition="commission",
    )
    response = api_as(admin_user).delete(f"/api/v1/cis/{ci.pk}/")
    assert response.status_code == 409 and "1 lifecycle entry" in response.json()["detail"]


def test_a_ci_with_no_history_may_still_be_deleted(admin_user):
    ci = CIFactory()
    services_ci = CIFactory()
    from mof.models import CIRelationship

    CIRelationship.objects.create(source=ci, target=services_ci)  # its own edges go with it
    assert api_as(admin_user).delete(f"/api/v1/cis/{ci.pk}/").status_code == 204
    assert not ConfigurationItem.objects.filter(pk=ci.pk).exists()


def test_deleting_a_job_with_runs_is_refused_and_keeps_them(admin_user):
    job = backup_job()
    run(job, start=timezone.now() - dt.timedelta(hours=3))
    response = api_as(admin_user).delete(f"/api/v1/jobs/{job.pk}/")
    assert response.status_code == 409, response.json()
    assert "job runs (1)" in response.json()["detail"] and "deactivate it instead" in response.json()["detail"]
    assert Job.objects.filter(pk=job.pk).exists() and JobRun.objects.filter(job=job).count() == 1
    idle = backup_job()
    assert api_as(admin_user).delete(f"/api/v1/jobs/{idle.pk}/").status_code == 204


def test_a_job_run_protects_its_job_in_the_data_model_too():
    from django.db.models import ProtectedError

    job = backup_job()
    run(job, start=timezone.now() - dt.timedelta(hours=3))
    with pytest.raises(ProtectedError):
        Job.objects.filter(pk=job.pk).delete()


def test_deleting_a_service_with_history_is_refused(admin_user):
    from slas import availability

    service = ServiceFactory()
    start = timezone.now() - dt.timedelta(days=2)
    availability.outage_record_create(
        actor=admin_user, service=service, start=start, end=start + dt.timedelta(hours=1), reason="Power cut."
    )
    response = api_as(admin_user).delete(f"/api/v1/services/{service.pk}/")
    assert response.status_code == 409 and "outage records (1)" in response.json()["detail"], response.json()
    assert Service.objects.filter(pk=service.pk).exists()
    assert api_as(admin_user).delete(f"/api/v1/services/{ServiceFactory().pk}/").status_code == 204


def test_the_ci_page_refuses_the_delete_with_the_reason(client, admin_user):
    ci = CIFactory(name="EX-MBX-01")
    change = _named_by_an_approved_change(ci)
    client.force_login(admin_user)
    response = client.post(f"/cmdb/cis/{ci.pk}/delete/", follow=True)
    assert response.status_code == 200
    assert change.reference in response.content.decode() and "retire it instead" in response.content.decode()
    assert ConfigurationItem.objects.filter(pk=ci.pk).exists()


def test_the_job_page_refuses_the_delete_with_the_reason(client, admin_user):
    job = backup_job()
    run(job, start=timezone.now() - dt.timedelta(hours=3))
    client.force_login(admin_user)
    from django.urls import reverse

    response = client.post(reverse("job_delete", args=[job.pk]), follow=True)
    assert response.status_code == 200 and "deactivate it instead" in response.content.decode()
    assert Job.objects.filter(pk=job.pk).exists()


def test_the_admin_refuses_to_delete_a_ci_with_history_one_or_in_bulk(admin_client):
    ci, spare = CIFactory(name="EX-MBX-01"), CIFactory(name="SPARE-01")
    change = _named_by_an_approved_change(ci)
    page = admin_client.post(f"/admin/mof/configurationitem/{ci.pk}/delete/", {"post": "yes"})
    assert page.status_code == 200 and change.reference in page.content.decode()
    bulk = admin_client.post(
        "/admin/mof/configurationitem/",
        {"action": "delete_selected", "_selected_action": [ci.pk, spare.pk], "post": "yes"},
    )
    assert bulk.status_code == 200 and "retire it instead" in bulk.content.decode()
    assert ConfigurationItem.objects.filter(pk__in=[ci.pk, spare.pk]).count() == 2
    # Without history it goes.
    admin_client.post(f"/admin/mof/configurationitem/{spare.pk}/delete/", {"post": "yes"})
    assert not ConfigurationItem.objects.filter(pk=spare.pk).exists()


def test_every_delete_endpoint_checks_for_history():
    """The services behind every API and page delete ask mof.deletion first."""
    import inspect

    from mof import services as core
    from operations import jobs
    from operations import services as ops
    from slas import availability, capacity

    for function in (
        core.service_delete,
        core.ci_delete,
        jobs.job_delete,
        ops.maintenance_delete,
        availability.outage_record_delete,
        capacity.threshold_delete,
    ):
        assert "deletion.check_delete(" in inspect.getsource(function), function.__qualname__
