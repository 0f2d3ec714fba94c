from celery import shared_task

from mof.identity import sync


@shared_task(name="identity.sync_directory", ignore_result=True)
def sync_directory() -> dict:
    """Beat runs it hourly (the schedule is in the database; edit it in the admin)."""
    try:
        return sync.sync_directory().as_dict()
    except sync.NotConfigured as exc:
        return {"skipped": str(exc)}
