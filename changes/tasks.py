from celery import shared_task
from django.conf import settings
from django.core.mail import send_mass_mail
from django.utils import timezone


@shared_task(name="changes.notify_stakeholders", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_stakeholders(change_id: int, stakeholder_ids: list[int]) -> int:
    """Tell everyone the change can touch: what, when and why (MOF's key goal)."""
    from changes.models import ChangeStakeholder, RequestForChange

    change = RequestForChange.objects.filter(pk=change_id).first()
    if change is None:
        return 0
    when = (
        f"{timezone.localtime(change.planned_start):%Y-%m-%d %H:%M} to {timezone.localtime(change.planned_end):%Y-%m-%d %H:%M}"
        if change.planned_start and change.planned_end
        else "not scheduled yet"
    )
    messages = []
    for stakeholder in ChangeStakeholder.objects.filter(pk__in=stakeholder_ids).select_related("user"):
        if not stakeholder.user.email:
            continue
        body = (
            f"{change.reference} {change.title}\n\n"
            f"What: {change.description or change.title}\nWhen: {when}\nWhy: {change.business_justification or '-'}\n"
            f"Risk: {change.risk_assessment or 'not assessed'}\n\n"
            f"You are told because you are: {'; '.join(stakeholder.reasons)}.\n"
            f"Comment on the change before it is decided: {getattr(settings, 'MOF_BASE_URL', '')}{change.get_absolute_url()}\n"
        )
        messages.append((f"[MOF] {change.reference} may affect you: {change.title}", body, settings.DEFAULT_FROM_EMAIL, [stakeholder.user.email]))
    if messages:
        send_mass_mail(messages)
    return len(messages)
