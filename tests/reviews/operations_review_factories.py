"""Set-up for the Operations Review tests: a month of operations across services (events,
alerts, incidents, changes, capacity warnings, job runs), written straight to the
tables the other apps own, as their own writes would leave them."""

import datetime as dt
import itertools

from django.utils import timezone

from changes.choices import ChangeStatus, Outcome
from slas.models import CapacityWarning, WarningStatus
from tests.changes.factories import ChangeFactory
from tests.factories import CIFactory, ServiceFactory, TeamFactory
from tests.incidents.factories import IncidentFactory

DAY = dt.timedelta(days=1)
_keys = itertools.count(1)


def event(ci, *, at, severity=4):
    from operations.models_events import MonitoringEvent

    return MonitoringEvent.objects.create(
        received_at=at,
        occurred_at=at,
        source="scom",
        ci=ci,
        ci_name=ci.name,
        severity=severity,
        message="Queue length high",
        key=f"queue-{next(_keys)}",
    )


def alert(ci, *, at, incident=None):
    from operations.models_events import MonitoringAlert

    return MonitoringAlert.objects.create(
        key=f"alert-{next(_keys)}",
        ci=ci,
        source="scom",
        severity=5,
        last_severity=5,
        message="Down",
        count=1,
        first_seen=at,
        last_seen=at,
        created_at=at,
        incident=incident,
    )


def incident(service, *, at, **fields):
    return IncidentFactory(service=service, created_at=at, **fields)


def change(status, *, outcome, at):
    made = ChangeFactory()
    type(made).objects.filter(pk=made.pk).update(
        status=status, outcome=outcome, actual_start=at - dt.timedelta(hours=1), actual_end=at
    )
    return type(made).objects.get(pk=made.pk)


def capacity_warning(*, at, metric="disk.used", status=WarningStatus.OPEN, ci=None):
    return CapacityWarning.objects.create(
        ci=ci or CIFactory(),
        metric=metric,
        threshold_value=90,
        current_value=80,
        forecast_at=at + 20 * DAY,
        created_at=at,
        status=status,
    )


def job(name, team):
    from operations.models_jobs import Job, JobKind

    return Job.objects.create(
        name=name,
        kind=JobKind.BATCH,
        schedule="0 2 * * *",
        time_zone="UTC",
        expected_duration_minutes=30,
        owner_group=team,
    )


def job_runs(a_job, statuses, *, at):
    """Runs of `a_job` with these statuses, an hour apart from `at`."""
    from operations.models_jobs import JobRun

    runs = []
    for n, status in enumerate(statuses):
        start = at + dt.timedelta(hours=n)
        end = start + dt.timedelta(minutes=30)
        runs.append(
            JobRun.objects.create(
                job=a_job,
                start=start,
                end=end,
                status=status,
                started_at=None if status == "missed" else start,
                finished_at=end if status in ("success", "failed") else None,
            )
        )
    return runs


def ops_world(people, *, suffix="", events_only=False):
    """Mail, Web and Storage with a month of operations (`suffix` names another set)."""
    now = timezone.now()
    mail, web, storage = (ServiceFactory(name=f"{n}{suffix}") for n in ("Mail", "Web", "Storage"))
    mail_ci, web_ci, _san_ci = CIFactory(services=[mail]), CIFactory(services=[web]), CIFactory(services=[storage])
    if events_only:
        event(mail_ci, at=now - 2 * DAY)
        return {"events_in_period": 1}
    # Events: four on Mail in the period (three in the last three days), one long before; one on Web.
    for at in (now - 2 * DAY, now - 2 * DAY, now - 2.5 * DAY, now - 10 * DAY, now - 40 * DAY):
        event(mail_ci, at=at)
    event(web_ci, at=now - 5 * DAY)
    # Incidents: three on Mail (one opened from a monitoring alert, one major, one that breached
    # its SLA), one on Web, and one on Storage before the period.
    from_alert = incident(mail, at=now - 2 * DAY)
    alert(mail_ci, at=now - 2 * DAY, incident=from_alert)
    major = incident(mail, at=now - 3 * DAY, is_major=True)
    incident(mail, at=now - 4 * DAY, sla_breached=True)
    incident(web, at=now - 6 * DAY)
    incident(storage, at=now - 40 * DAY)
    # Changes implemented in the period: two successful (one closed already), one with issues,
    # one backed out; one implemented before the period.
    ok = change(ChangeStatus.IMPLEMENTED, outcome=Outcome.SUCCESSFUL, at=now - 5 * DAY)
    change(ChangeStatus.CLOSED, outcome=Outcome.SUCCESSFUL, at=now - 6 * DAY)
    issues = change(ChangeStatus.IMPLEMENTED, outcome=Outcome.SUCCESSFUL_WITH_ISSUES, at=now - 4 * DAY)
    backed_out = change(ChangeStatus.BACKED_OUT, outcome=Outcome.FAILED, at=now - 2 * DAY)
    change(ChangeStatus.CLOSED, outcome=Outcome.FAILED, at=now - 45 * DAY)
    # Capacity: one warning open, one raised in the period and dismissed.
    warning = capacity_warning(at=now - 3 * DAY)
    capacity_warning(at=now - 4 * DAY, status=WarningStatus.DISMISSED)
    # Jobs: the nightly backup failed once and missed twice in four runs; log rotation ran twice.
    team = TeamFactory()
    backup, rotation = job(f"Nightly backup{suffix}", team), job(f"Log rotation{suffix}", team)
    job_runs(backup, ["success", "failed", "missed", "missed"], at=now - 8 * DAY)
    job_runs(backup, ["failed"], at=now - 50 * DAY)
    job_runs(rotation, ["success", "success"], at=now - 7 * DAY)
    return {
        "now": now,
        "mail": mail,
        "web": web,
        "storage": storage,
        "mail_ci": mail_ci,
        "major": major,
        "ok": ok,
        "issues": issues,
        "backed_out": backed_out,
        "warning": warning,
        "backup": backup,
        "events_in_period": 5,
        "events_last_3_days": 3,
    }
