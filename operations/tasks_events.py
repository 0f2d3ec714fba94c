"""Celery task of service monitoring: thin; the work is in operations.events.
Scheduled by beat from the database (migration 0006)."""

from celery import shared_task

from operations import events


@shared_task(name="operations.events_purge")
def events_purge() -> int:
    """Delete raw monitoring events older than MOF_EVENTS_RETENTION_DAYS."""
    return events.purge_old_events()
