"""Writes of the job schedule: jobs, their runs, and the incidents a failed or missed run
opens. Each checks the policy, validates, writes in one transaction and is recorded in
the audit trail; a run's outcome moves only through mof.transitions.perform_transition.

Incidents: a failed run, or a run not heard of by its expected end (start + expected
duration + grace), opens one incident per job, through incidents.services.incident_create
on the monitoring channel, as the portal's system account. While that incident is open,
further failures and misses add a note to it instead of opening another; a later good
run adds a note too, but does not resolve it: someone who knows why it failed says so.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from mof import audit, deletion, policy
from mof.services import apply_fields, system_user
from mof.transitions import (
    ConcurrentTransition,
    TransitionNotAllowed,
    perform_transition,
)
from operations.models_jobs import FINISHED_STATES, Job, JobKind, JobRun, RunStatus

JOB_FIELDS = (
    "name",
    "kind",
    "description",
    "schedule",
    "time_zone",
    "expected_duration_minutes",
    "owner_group",
    "active",
    "backup_max_age_hours",
)
CLOCK_SKEW = dt.timedelta(minutes=5)  # a start reported this far in the future is refused
CATCH_UP = dt.timedelta(days=7)  # missed-run detection never looks further back than this
# Reported instants are kept to a plausible range: date arithmetic near year 1 or 9999 overflows.
EARLIEST, LATEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(2900, 1, 1, tzinfo=dt.UTC)


def grace() -> dt.timedelta:
    """How long after its expected end a run may still report before it counts as missed."""
    return dt.timedelta(minutes=int(getattr(settings, "MOF_JOB_GRACE_MINUTES", 15)))


# --- jobs --------------------------------------------------------------------------


def reached_services(ci_ids) -> list[int]:
    """The IT services the CIs support, directly or through what depends on them (CMDB downstream)."""
    from mof import impact
    from mof.models import ConfigurationItem

    ci_ids = sorted(set(ci_ids))
    if not ci_ids:
        return []
    reached = sorted(impact.reach(ci_ids, impact.DOWNSTREAM))
    through = ConfigurationItem.services.through
    found: set[int] = set()
    for i in range(0, len(reached), 5000):
        found.update(
            through.objects.filter(configurationitem_id__in=reached[i : i + 5000]).values_list("service_id", flat=True)
        )
    return sorted(found)


def _check_targets(target_cis):
    if not target_cis:
        raise ValidationError({"target_cis": "Name at least one configuration item the job works on."})


def job_create(*, actor, target_cis=(), **fields) -> Job:
    policy.require(actor, "job.add")
    job = Job()
    apply_fields(job, fields, JOB_FIELDS)
    target_cis = list(target_cis)
    _check_targets(target_cis)
    with audit.acting_as(actor), transaction.atomic():
        job.service_ids = reached_services(c.pk for c in target_cis)
        job.checked_until = timezone.now()  # runs are owed from now on, not for the past
        job.save()
        job.target_cis.set(target_cis)
    return job


def job_update(*, actor, job: Job, target_cis=None, **fields) -> Job:
    policy.require(actor, "job.change", job)
    was_active = job.active
    apply_fields(job, fields, JOB_FIELDS)
    if target_cis is not None:
        target_cis = list(target_cis)
        _check_targets(target_cis)
    with audit.acting_as(actor), transaction.atomic():
        if target_cis is not None:
            job.service_ids = reached_services(c.pk for c in target_cis)
        if job.active and not was_active:
            job.checked_until = timezone.now()  # a paused job owes no runs for the pause
        job.save()
        if target_cis is not None:
            job.target_cis.set(target_cis)
    return job


def job_delete(*, actor, job: Job) -> None:
    policy.require(actor, "job.delete", job)
    with audit.acting_as(actor), transaction.atomic():
        deletion.check_delete(job)
        job.delete()


def refresh_reach(*, job_ids=None) -> int:
    """Re-take the services each active job's CIs reach (the CMDB changes under them)."""
    qs = Job.objects.filter(active=True).prefetch_related("target_cis")
    if job_ids is not None:
        qs = qs.filter(pk__in=list(job_ids))
    changed = 0
    with audit.acting_as(system_user(), via="task:operations.jobs_refresh"):
        for job in qs:
            ids = reached_services(c.pk for c in job.target_cis.all())
            if ids != job.service_ids:
                Job.objects.filter(pk=job.pk).update(service_ids=ids)
                changed += 1
    return changed


# --- runs --------------------------------------------------------------------------


def _matching_occurrence(job: Job, started_at: dt.datetime):
    """The occurrence a run started at `started_at` answers: the nearest one whose window
    (from `grace` before it to its expected end plus grace) holds the start."""
    slack = grace()
    candidates = job.occurrences(
        started_at - job.expected_duration - slack, started_at + slack + dt.timedelta(seconds=1)
    )
    if not candidates:
        return None
    return min(candidates, key=lambda at: abs((at - started_at).total_seconds()))


def run_start(*, actor, job: Job, started_at=None, planned_for=None, cis=()) -> JobRun:
    """Record that a run of `job` started. `planned_for` names the occurrence it answers
    (default: the one matching its start, if that has no run yet; else an extra run)."""
    policy.require(actor, "job.report_run", job)
    now = timezone.now()
    started_at = started_at or now
    errors = {}
    for name, value in (("started_at", started_at), ("planned_for", planned_for)):
        if value is not None and not EARLIEST <= value < LATEST:
            errors[name] = f"Out of range: between {EARLIEST:%Y} and {LATEST:%Y}."
    if errors:
        raise ValidationError(errors)
    if started_at > now + CLOCK_SKEW:
        errors["started_at"] = "A run cannot start in the future."
    targets = set(job.target_cis.values_list("pk", flat=True))
    cis = list(cis)
    strangers = sorted(c.pk for c in cis if c.pk not in targets)
    if strangers:
        errors["cis"] = f"Not target CIs of {job.name}: {', '.join(map(str, strangers))}."
    if planned_for is not None and not errors:
        if planned_for not in job.occurrences(planned_for, planned_for + dt.timedelta(seconds=1)):
            errors["planned_for"] = (
                f"{planned_for:%Y-%m-%d %H:%M} UTC is not an occurrence of the schedule '{job.schedule}' ({job.time_zone})."
            )
        elif JobRun.objects.filter(job=job, planned_for=planned_for).exists():
            errors["planned_for"] = "This occurrence already has a run."
    if errors:
        raise ValidationError(errors)
    if planned_for is None:
        match = _matching_occurrence(job, started_at)
        if match is not None and not JobRun.objects.filter(job=job, planned_for=match).exists():
            planned_for = match
    run = JobRun(
        job=job,
        planned_for=planned_for,
        start=started_at,
        end=started_at + job.expected_duration,
        started_at=started_at,
        reported_by=actor,
    )
    try:
        with audit.acting_as(actor), transaction.atomic():
            run.save()
            run.cis.set(cis or list(targets))  # what a good backup covers
    except IntegrityError:  # the same occurrence reported twice at once
        raise ValidationError({"planned_for": "This occurrence already has a run."}) from None
    return run


def run_finish(*, actor, run: JobRun, data: dict) -> JobRun:
    """Record a run's outcome (success, failed, partial) with its figures and log excerpt.
    A failure opens the job's incident (or adds to the open one); a success after a
    failure adds a note to it. All in one transaction."""
    with audit.refusals_survive_rollback(), transaction.atomic():
        run = perform_transition(model=JobRun, pk=run.pk, name="finish", actor=actor, data=data, notify=False)
        if run.status == RunStatus.FAILED:
            _raise(run.job, [run], "failed")
        elif run.status == RunStatus.SUCCESS:
            _note_recovery(run)
    return JobRun.objects.select_related("job").get(pk=run.pk)


# --- incidents ---------------------------------------------------------------------


def _describe(run: JobRun) -> str:
    parts = [f"{run.get_status_display()} run of {run.job.name} ({run.job.get_kind_display().lower()} job)"]
    if run.planned_for:
        parts.append(f"planned for {run.planned_for:%Y-%m-%d %H:%M} UTC")
    if run.started_at:
        parts.append(f"started {run.started_at:%Y-%m-%d %H:%M} UTC")
    if run.finished_at:
        parts.append(f"finished {run.finished_at:%Y-%m-%d %H:%M} UTC")
    text = ", ".join(parts) + "."
    if run.log_excerpt:
        text += "\n\nLog excerpt:\n" + run.log_excerpt[-1500:]
    return text


def _note(actor, incident, body):
    from incidents.choices import NoteKind
    from incidents.services import incident_note

    # The system account is the incident's caller: it may comment on it; staff read both kinds.
    kind = NoteKind.WORK_NOTE if policy.can(actor, "incident.work_note", incident) else NoteKind.COMMENT
    return incident_note(actor=actor, incident=incident, kind=kind, body=body)


def _open_incident(job: Job):
    from incidents.choices import OPEN_STATES

    incident = job.incident
    return incident if incident is not None and incident.status in OPEN_STATES else None


def _raise(job: Job, runs: list[JobRun], what: str):
    """Open the job's incident for failed or missed `runs`, or note them on the open one.
    The job row is locked, so two failures reported at once open one incident."""
    from incidents.choices import Channel, Scale
    from incidents.services import incident_create

    actor = system_user()
    # Lock the job row alone; its incident is read after the lock, in a fresh statement: a join
    # here would show a waiting reporter the incident as it was before the first one committed.
    job = Job.objects.select_for_update(of=("self",)).select_related("owner_group").get(pk=job.pk)
    body = "\n\n".join(_describe(r) for r in runs[:10])
    if len(runs) > 10:  # a beat outage can leave many missed runs of a frequent job
        body += f"\n\n... and {len(runs) - 10} more runs of this job; see the job page."
    with audit.acting_as(actor, via="operations.jobs"):
        incident = _open_incident(job)
        if incident is not None:
            _note(actor, incident, f"Again: {body}")
        else:
            fields = {
                "title": f"Job {job.name}: {'run missed' if what == 'missed' else 'run failed'}"[:200],
                "description": body + f"\n\nJob: {job.get_absolute_url()}",
                "urgency": Scale.HIGH if job.kind == JobKind.BACKUP else Scale.MEDIUM,
                "channel": Channel.MONITORING,
                "service": _service(job),
            }
            extra = {}
            if policy.can(actor, "incident.file_for_others"):  # what the system account may set
                extra = {"assignment_group": job.owner_group, "affected_cis": list(job.target_cis.all())}
            incident = incident_create(actor=actor, **fields, **extra)
            Job.objects.filter(pk=job.pk).update(incident=incident)
        JobRun.objects.filter(pk__in=[r.pk for r in runs]).update(incident=incident)
    return incident


def _service(job: Job):
    from mof.models import Service

    if not job.service_ids:
        return None
    # The most critical service it reaches leads the incident.
    services = list(Service.objects.filter(pk__in=job.service_ids).only("pk", "criticality", "name"))
    if not services:
        return None
    from mof.impact import CRITICALITY_RANK

    return min(services, key=lambda s: (CRITICALITY_RANK.get(s.criticality, 9), s.name))


def _note_recovery(run: JobRun):
    job = Job.objects.select_for_update().get(pk=run.job_id)
    incident = _open_incident(job)
    if incident is None:
        return
    actor = system_user()
    with audit.acting_as(actor, via="operations.jobs"):
        _note(
            actor,
            incident,
            f"Recovered: {_describe(run)} The incident stays open until someone resolves it with the cause.",
        )


# --- missed runs (Celery beat: operations.jobs_check) -------------------------------


def check_overdue(*, now=None) -> dict:
    """Record as missed every occurrence of an active job with no run by its expected end
    plus grace, and every started run not finished by then; open or note each job's
    incident. Idempotent: each occurrence is looked at once (`checked_until`) and has at
    most one run (unique per job and occurrence)."""
    now = now or timezone.now()
    actor = system_user()
    done = {"missed": 0, "overdue": 0, "incidents": 0}
    slack = grace()
    for job in Job.objects.filter(active=True).order_by("pk"):
        cutoff = now - job.expected_duration - slack
        since = max(job.checked_until or job.created_at, now - CATCH_UP)
        missed_runs = []
        with transaction.atomic(), audit.acting_as(actor, via="task:operations.jobs_check"):
            if since < cutoff:
                owed = job.occurrences(since, cutoff)
                if owed:
                    heard = set(
                        JobRun.objects.filter(job=job, planned_for__in=owed).values_list("planned_for", flat=True)
                    )
                    missing = [at for at in owed if at not in heard]
                    missed_runs = [
                        JobRun(
                            job=job,
                            planned_for=at,
                            start=at,
                            end=at + job.expected_duration,
                            status=RunStatus.MISSED,
                            log_excerpt="No run was reported by the expected end.",
                        )
                        for at in missing
                    ]
                    if missed_runs:
                        JobRun.objects.bulk_create(missed_runs)
                        missed_runs = list(JobRun.objects.filter(job=job, planned_for__in=missing))
                        done["missed"] += len(missed_runs)
                Job.objects.filter(pk=job.pk).update(checked_until=cutoff)
            stalled = list(
                JobRun.objects.filter(job=job, status=RunStatus.RUNNING, start__lt=cutoff).values_list("pk", flat=True)
            )
            for pk in stalled:
                try:
                    missed_runs.append(perform_transition(model=JobRun, pk=pk, name="miss", actor=actor, notify=False))
                    done["overdue"] += 1
                except (TransitionNotAllowed, ConcurrentTransition):
                    continue  # it reported meanwhile
            if missed_runs:
                had = _open_incident(Job.objects.select_related("incident").get(pk=job.pk))
                _raise(job, missed_runs, "missed")
                done["incidents"] += had is None
    return done


__all__ = [
    "FINISHED_STATES",
    "check_overdue",
    "grace",
    "job_create",
    "job_delete",
    "job_update",
    "reached_services",
    "refresh_reach",
    "run_finish",
    "run_start",
]
