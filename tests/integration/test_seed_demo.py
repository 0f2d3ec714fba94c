"""The demo organisation (manage.py seed_demo): complete, idempotent, DEBUG only.
Runs on any database."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from mof import impact
from mof.choices import RoleCluster
from mof.models import AuditEntry, CIRelationship, ConfigurationItem, Service, Team, User

pytestmark = pytest.mark.django_db


def seed(settings) -> str:
    settings.DEBUG = True
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_refuses_to_run_without_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.exists()


def test_creates_the_organisation_and_prints_the_logins(settings):
    settings.MOF_DEMO_PASSWORD = "demo-password-for-tests"
    output = seed(settings)

    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("demo-password-for-tests")
    assert User.objects.get(username="manager").is_manager
    for cluster in RoleCluster.values:
        assert User.objects.filter(role_assignments__role=cluster).exists(), cluster
        assert Team.objects.filter(role_cluster=cluster, members__isnull=False).exists(), cluster
    for user in User.objects.all():
        assert user.check_password("demo-password-for-tests") and user.email
        assert f"{user.username} " in output
    assert "demo-password-for-tests" in output

    assert dict(Service.objects.values_list("name", "criticality")) == {
        "Exchange mail": "critical",
        "Directory (Active Directory)": "critical",
        "Outlook Web Access": "high",
        "Mobile mail (ActiveSync)": "medium",
        "Storage (SAN)": "high",
    }
    assert Service.objects.get(name="Exchange mail").hours_of_service == "24x7"

    statuses = list(ConfigurationItem.objects.values_list("status", flat=True))
    assert statuses.count("retired") == 1
    assert statuses.count("planned") == 2
    assert statuses.count("in_service") == len(statuses) - 3
    assert not ConfigurationItem.objects.filter(owner__isnull=True).exists()
    classes = set(ConfigurationItem.objects.values_list("ci_class__slug", flat=True))
    assert {
        "network-device",
        "firewall",
        "server",
        "mailbox-server",
        "directory-service",
        "storage",
        "application",
        "virtual-machine",
    } <= classes
    assert CIRelationship.objects.count() > 30


def test_impact_of_the_core_router_reaches_exchange_mail_through_firewall_and_hub(settings):
    seed(settings)
    router = ConfigurationItem.objects.get(name="core-rtr-01")
    result = impact.analyse([router.pk], impact.DOWNSTREAM)
    cis = {c.name: c for c in result.cis}
    assert {"fw-internal-01", "EX-HUB-01", "EX-MBX-01", "EX-CAS-01", "Outlook Web Access"} <= set(cis)
    assert [p["name"] for p in cis["EX-HUB-01"].path] == ["core-rtr-01", "fw-internal-01", "EX-HUB-01"]
    services = {s.name for s in result.services}
    assert {
        "Exchange mail",
        "Outlook Web Access",
        "Mobile mail (ActiveSync)",
        "Directory (Active Directory)",
    } <= services

    san = ConfigurationItem.objects.get(name="SAN-01")
    assert "EX-MBX-01" in {c.name for c in impact.analyse([san.pk], impact.DOWNSTREAM).cis}


def test_a_second_run_changes_nothing(settings):
    seed(settings)
    entries = AuditEntry.objects.count()
    counts = [m.objects.count() for m in (User, Team, Service, ConfigurationItem, CIRelationship)]
    states = dict(ConfigurationItem.objects.values_list("name", "status"))

    output = seed(settings)

    assert "nothing changed" in output
    assert AuditEntry.objects.count() == entries
    assert [m.objects.count() for m in (User, Team, Service, ConfigurationItem, CIRelationship)] == counts
    assert dict(ConfigurationItem.objects.values_list("name", "status")) == states


def test_a_run_restores_what_was_changed_and_only_that(settings):
    seed(settings)
    mail = Service.objects.get(name="Exchange mail")
    Service.objects.filter(pk=mail.pk).update(criticality="low")
    before = AuditEntry.objects.count()

    seed(settings)

    assert Service.objects.get(pk=mail.pk).criticality == "critical"
    assert AuditEntry.objects.count() == before + 1


def test_demo_work_fills_every_quadrant_once(settings):
    from changes.models import RequestForChange
    from incidents.models import Incident
    from reviews.models import AgendaItem
    from slas.models import ServiceLevelAgreement, SLAClock

    seed(settings)
    call_command("seed_work", stdout=StringIO())
    assert ServiceLevelAgreement.objects.filter(status="active").count() == 2
    desk = Incident.objects.exclude(channel="monitoring")
    assert desk.count() == 3 and SLAClock.objects.exists()
    assert set(desk.values_list("status", flat=True)) == {"new", "in_progress", "on_hold"}
    # Operations: two jobs with runs; each job's failed run opened its one incident; events deduplicated.
    from operations.models import Job, JobRun, MonitoringAlert

    assert Job.objects.count() == 2 and JobRun.objects.filter(status="failed").count() == 2
    assert Incident.objects.filter(channel="monitoring").count() == 2
    assert MonitoringAlert.objects.get(key="EX-MBX-02/queue").count == 2
    change = RequestForChange.objects.get()
    assert change.status == "assessed" and change.affected_services
    assert AgendaItem.objects.filter(object_id=str(change.pk)).exists()
    before = AuditEntry.objects.count()
    out = StringIO()
    call_command("seed_work", stdout=out)
    assert "nothing changed" in out.getvalue() and AuditEntry.objects.count() == before
