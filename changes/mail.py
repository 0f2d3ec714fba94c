"""Mail to a change's stakeholders, stored in the outbox (mof.notifications) in the
transaction that assesses the change: what, when and why (MOF's key goal)."""
from django.utils import timezone

from mof import notifications
from mof.links import absolute_url


def stakeholder_mail(change, stakeholders) -> list:
    when = (
        f"{timezone.localtime(change.planned_start):%Y-%m-%d %H:%M} to {timezone.localtime(change.planned_end):%Y-%m-%d %H:%M}"
        if change.planned_start and change.planned_end
        else "not scheduled yet"
    )
    rows = []
    for stakeholder in stakeholders:
        body = (
            f"{change.reference} {change.title}\n\n"
            f"What: {change.description or change.title}\nWhen: {when}\nWhy: {change.business_justification or '-'}\n"
            f"Risk: {change.risk_assessment or 'not assessed'}\n\n"
            f"You are told because you are: {'; '.join(stakeholder.reasons)}.\n"
            f"Comment on the change before it is decided: {absolute_url(change)}\n"
        )
        rows += notifications.build([stakeholder.user], subject=f"[MOF] {change.reference} may affect you: {change.title}",
                                    body=body, kind="changes.stakeholder", about=change)
    return notifications.write_rows(rows)
