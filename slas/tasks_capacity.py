"""Capacity tasks (imported by slas/tasks.py, which Celery autodiscovers)."""

from celery import shared_task


@shared_task(name="slas.capacity_forecast", acks_late=True, reject_on_worker_lost=True)
def capacity_forecast() -> dict:
    """Forecast every thresholded CI metric and open or refresh capacity warnings.
    Idempotent: one open warning per CI and metric is enforced by the database."""
    from slas.capacity import raise_warnings

    return raise_warnings()
