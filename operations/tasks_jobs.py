"""Celery tasks of the job schedule: thin; the work is in operations.jobs, done as the
portal's system account (mof.services.system_user) so it passes the same policy checks
and shows in the audit trail. Scheduled by beat from the database (migration 0005)."""

from celery import shared_task

from operations import jobs


@shared_task(name="operations.jobs_check")
def jobs_check() -> dict:
    """Record missed and overdue runs and open (or note) each job's incident."""
    return jobs.check_overdue()


@shared_task(name="operations.jobs_refresh")
def jobs_refresh() -> int:
    """Re-take the IT services each active job's CIs reach (for the off-peak flags)."""
    return jobs.refresh_reach()
