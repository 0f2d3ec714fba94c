from celery import shared_task


@shared_task(name="changes.notify_stakeholders", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_stakeholders(change_id: int, stakeholder_ids: list[int]) -> int:
    """Kept for messages queued before the notification outbox: inform_stakeholders now stores
    the mail in its own transaction (changes.mail). Writes it to the outbox."""
    from changes.mail import stakeholder_mail
    from changes.models import ChangeStakeholder, RequestForChange

    change = RequestForChange.objects.filter(pk=change_id).first()
    if change is None:
        return 0
    return len(
        stakeholder_mail(change, ChangeStakeholder.objects.filter(pk__in=stakeholder_ids).select_related("user"))
    )
