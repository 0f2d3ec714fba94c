"""The service desk's notification mail, stored in the outbox (mof.notifications) in the
transaction of the change it reports: to the caller on assignment, comments and resolution;
to the group when an incident lands in its queue; to the group's manager on a hierarchical
escalation; a major incident's updates to their recipients."""
from django.conf import settings

from mof import notifications
from mof.links import absolute_url


def incident_mail(event: str, incident, note=None) -> list:
    """Outbox rows for one event of an incident (none when nobody is to be told)."""
    url = absolute_url(incident)
    subject = f"[MOF] {incident.reference} {incident.title}"
    kind = f"incidents.{event}"

    def write(people, subject, body):
        return notifications.write(people, subject=subject, body=body, kind=kind, about=incident)

    if event == "landed_in_queue" and incident.assignment_group_id:
        # The group's name and its members in one query (a filing pays for it).
        from mof.models import Team

        rows = list(Team.objects.filter(pk=incident.assignment_group_id).values_list("name", "members__email", "members__id", "members__is_active").order_by("members__id"))
        members = [(email, pk) for _, email, pk, active in rows if pk is not None and active and email]
        if not members:
            return []
        return write(members, f"{subject}: new in {rows[0][0]}", f"P{incident.priority} incident in your queue.\n{url}\n")
    if event == "escalated" and incident.assignment_group_id and incident.assignment_group.manager:
        return write([incident.assignment_group.manager], f"{subject}: escalated to you", f"{note.body if note else ''}\n{url}\n")
    if event == "assigned":
        return write([incident.caller], f"{subject}: assigned", f"Your incident is with {incident.assignee} ({incident.assignment_group}).\n{url}\n")
    if event == "commented":
        if note is None or note.kind != "comment":  # never mail a work note
            return []
        return write([incident.caller], f"{subject}: new comment", f"{note.author}: {note.body}\n\n{url}\n")
    if event == "resolved":
        return write(
            [incident.caller], f"{subject}: resolved",
            f"{incident.get_resolution_code_display()}: {incident.resolution_notes}\n\nNot fixed? Reopen it within {settings.MOF_INCIDENT_AUTO_CLOSE_DAYS} days: {url}\n",
        )
    return []


def major_update_mail(update) -> list:
    return notifications.write(
        update.recipients, subject=f"[MOF] Major incident {update.incident.reference}: update",
        body=f"{update.body}\n\n{absolute_url(update.incident)}\n", kind="incidents.major_update", about=update.incident,
    )
