"""Failed and missed runs open one incident per job: later failures add notes while it is
open, a success adds a note without resolving it, a resolved incident lets the next
failure open a new one. Missed-run detection runs as the system account, once per
occurrence."""

import datetime as dt

import pytest
from django.utils import timezone

from incidents.models import Incident, IncidentNote
from mof.services import system_user
from operations import jobs
from operations.models_jobs import Job, JobRun
from operations.tasks_jobs import jobs_check
from tests.factories import CIFactory, ServiceFactory
from tests.operations.jobs_factories import JobFactory, operator

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc


def fail(job, actor, *, minutes_ago=30, status="failed"):
    started = timezone.now() - dt.timedelta(minutes=minutes_ago)
    run = jobs.run_start(actor=actor, job=job, started_at=started)
    return jobs.run_finish(actor=actor, run=run, data={"status": status, "log_excerpt": "exit 2"})


def test_failures_open_one_incident_per_job_and_later_ones_add_notes():
    mail = ServiceFactory(name="Exchange mail", criticality="critical")
    job = JobFactory(schedule="*/10 * * * *", targets=[CIFactory(services=[mail])])
    other = JobFactory(schedule="*/10 * * * *")
    ops = operator()
    first = fail(job, ops, minutes_ago=50)
    second = fail(job, ops, minutes_ago=30)
    fail(other, ops)
    incident = Incident.objects.get(pk=first.incident_id)
    assert second.incident_id == incident.pk
    assert Incident.objects.count() == 2  # one per job
    assert incident.channel == "monitoring" and incident.service == mail and incident.caller == system_user()
    assert IncidentNote.objects.filter(incident=incident, body__startswith="Again").count() == 1
    assert Job.objects.get(pk=job.pk).incident == incident


def test_a_success_after_a_failure_adds_a_note_and_leaves_the_incident_open():
    job = JobFactory(schedule="*/10 * * * *")
    ops = operator()
    failed = fail(job, ops, minutes_ago=40)
    fail(job, ops, minutes_ago=10, status="success")
    incident = Incident.objects.get(pk=failed.incident_id)
    assert incident.status == "new"
    assert incident.notes.filter(body__startswith="Recovered").exists()


def test_after_the_incident_is_resolved_the_next_failure_opens_a_new_one():
    job = JobFactory(schedule="*/10 * * * *")
    ops = operator()
    first = fail(job, ops, minutes_ago=40)
    Incident.objects.filter(pk=first.incident_id).update(status="resolved")
    second = fail(job, ops, minutes_ago=10)
    assert second.incident_id != first.incident_id
    assert Incident.objects.count() == 2


def test_a_partial_run_opens_no_incident():
    job = JobFactory(schedule="*/10 * * * *")
    run = fail(job, operator(), status="partial")
    assert run.incident_id is None and not Incident.objects.exists()


def test_missed_occurrences_are_recorded_once_and_open_one_incident():
    job = JobFactory(schedule="0 * * * *", expected_duration_minutes=20)
    now = timezone.now().replace(minute=50, second=0, microsecond=0)
    Job.objects.filter(pk=job.pk).update(checked_until=now - dt.timedelta(hours=3, minutes=30))
    done = jobs.check_overdue(now=now)
    # Occurrences at -2:50, -1:50 and -0:50 (relative to :50) are past their end + 15 min grace.
    assert done["missed"] == 3 and done["incidents"] == 1
    missed = JobRun.objects.filter(job=job, status="missed")
    assert missed.count() == 3
    assert len({r.incident_id for r in missed}) == 1
    again = jobs.check_overdue(now=now + dt.timedelta(minutes=1))
    assert again["missed"] == 0 and JobRun.objects.filter(job=job).count() == 3
    assert Incident.objects.count() == 1


def test_an_occurrence_with_a_run_is_not_missed_and_inactive_jobs_owe_nothing():
    job = JobFactory(schedule="0 * * * *", expected_duration_minutes=20)
    idle = JobFactory(schedule="0 * * * *", active=False)
    now = timezone.now().replace(minute=50, second=0, microsecond=0)
    due = now - dt.timedelta(minutes=50)
    Job.objects.filter(pk__in=[job.pk, idle.pk]).update(checked_until=due - dt.timedelta(minutes=5))
    run = jobs.run_start(actor=operator(), job=job, started_at=due + dt.timedelta(minutes=2))
    jobs.run_finish(actor=operator(), run=run, data={"status": "success"})
    assert jobs.check_overdue(now=now)["missed"] == 0
    assert not JobRun.objects.filter(job=idle).exists()


def test_a_started_run_not_finished_by_its_expected_end_is_missed_and_may_still_report():
    job = JobFactory(schedule="0 * * * *", expected_duration_minutes=20)
    now = timezone.now()
    Job.objects.filter(pk=job.pk).update(checked_until=now)
    run = jobs.run_start(actor=operator(), job=job, started_at=now - dt.timedelta(minutes=40))
    done = jobs_check.apply().get()  # the beat task, as the system account
    assert done["overdue"] == 1
    run.refresh_from_db()
    assert run.status == "missed" and run.incident_id is not None
    late = jobs.run_finish(actor=operator(), run=run, data={"status": "success"})
    assert late.status == "success"
    assert Incident.objects.get(pk=run.incident_id).notes.filter(body__startswith="Recovered").exists()


def test_two_failures_at_once_for_the_same_job_open_a_single_incident():
    # Serialised by the job row lock: the second one sees the first's incident.
    job = JobFactory(schedule="*/5 * * * *")
    ops = operator()
    runs = [jobs.run_start(actor=ops, job=job, started_at=timezone.now() - dt.timedelta(minutes=m)) for m in (12, 7)]
    for run in runs:
        jobs.run_finish(actor=ops, run=run, data={"status": "failed"})
    assert Incident.objects.count() == 1


def test_many_missed_runs_after_a_beat_outage_make_one_incident_with_a_bounded_description():
    job = JobFactory(schedule="*/5 * * * *", expected_duration_minutes=1)
    now = timezone.now().replace(second=0, microsecond=0)
    Job.objects.filter(pk=job.pk).update(checked_until=now - dt.timedelta(hours=2))
    done = jobs.check_overdue(now=now)
    assert done["missed"] >= 20 and done["incidents"] == 1
    incident = Incident.objects.get()
    assert f"and {done['missed'] - 10} more runs" in incident.description
    assert incident.description.count("Missed run of") == 10
