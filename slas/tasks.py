from celery import shared_task
from django.db import OperationalError

from mof import audit


@shared_task(name="slas.sweep", acks_late=True)
def sweep() -> dict:
    from slas.services import sweep as run

    return run()


@shared_task(
    name="slas.send_clock_notification", acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def send_clock_notification(notification_id: int) -> int:
    """Store a recorded warning's or breach's mail in the notification outbox and mark it sent,
    in one transaction (slas.services.notify_clock). A worker that dies meanwhile rolls it all
    back; the sweep queues what is left unsent again."""
    from slas.services import notify_clock

    with audit.acting_as(None, via="task:slas.send_clock_notification"):
        return notify_clock(notification_id)


# A deadlock with a ticket's own recomputation, or a lost connection, is retried: the tasks are idempotent.
@shared_task(
    name="slas.recompute_plan", acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5
)
def recompute_plan(job_id: int) -> int:
    """Split a calendar or SLA edit's recomputation into chunks and fan them out to the workers."""
    from slas import recompute

    return len(recompute.plan(job_id))


@shared_task(
    name="slas.recompute_chunk", acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5
)
def recompute_chunk(chunk_id: int) -> int:
    """Recompute a chunk of a few thousand clocks; idempotent (a chunk done is skipped)."""
    from slas import recompute

    return recompute.run_chunk(chunk_id)


from slas.tasks_capacity import *
