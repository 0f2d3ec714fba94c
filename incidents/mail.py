"""The service desk's notification mail, stored in the outbox (mof.notifications) in the
transaction of the change it reports: to the caller on assignment, comments and resolution;
to the group when an incident lands in its queue; to the group's manager on a hierarchical
escalation; a major incident's updates to their recipients. Each from its template under
templates/mail/incidents/."""

from django.conf import settings

from mof import notifications
from mof.notifications import person


def _facts(incident) -> list:
    return [
        ("Priority", f"P{incident.priority}"),
        ("Status", incident.get_status_display()),
        ("Service", str(incident.service) if incident.service_id else "none named"),
        ("Caller", person(incident.caller)),
    ]


def incident_mail(event: str, incident, note=None) -> list:
    """Outbox rows for one event of an incident (none when nobody is to be told)."""

    def write(people, what, **context):
        return notifications.write_from_template(
            people,
            f"incidents/{event}",
            {"incident": incident, "note": note, "fields": _facts(incident), **context},
            subject=f"{incident.title}: {what}",
            about=incident,
        )

    if event == "landed_in_queue" and incident.assignment_group_id:
        # The group's name and its members in one query (a filing pays for it).
        from mof.models import Team

        rows = list(
            Team.objects.filter(pk=incident.assignment_group_id)
            .values_list("name", "members__email", "members__id", "members__is_active")
            .order_by("members__id")
        )
        members = [(email, pk) for _, email, pk, active in rows if pk is not None and active and email]
        if not members:
            return []
        return write(members, f"new in {rows[0][0]}", group=rows[0][0])
    if event == "escalated" and incident.assignment_group_id and incident.assignment_group.manager:
        return write([incident.assignment_group.manager], "escalated to you", group=str(incident.assignment_group))
    if event == "assigned":
        return write(
            [incident.caller],
            "assigned",
            assignee=person(incident.assignee),
            group=str(incident.assignment_group or "no group"),
        )
    if event == "commented":
        if note is None or note.kind != "comment":  # never mail a work note
            return []
        return write([incident.caller], "new comment", author=person(note.author))
    if event == "resolved":
        return write(
            [incident.caller],
            "resolved",
            resolution=incident.get_resolution_code_display(),
            reopen_days=settings.MOF_INCIDENT_AUTO_CLOSE_DAYS,
        )
    return []


def major_update_mail(update) -> list:
    incident = update.incident
    return notifications.write_from_template(
        update.recipients,
        "incidents/major_update",
        {"incident": incident, "update": update, "author": person(update.author), "fields": _facts(incident)},
        subject=f"{incident.title}: major incident update",
        about=incident,
    )
