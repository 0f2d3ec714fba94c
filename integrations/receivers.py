"""Events of the other apps written to the outbox, in their own transactions, without
those apps knowing of webhooks: the one transition door's `transitioned` signal, creation
(post_save), the SLA sweep's `clock_notifications_recorded` and the major incident
declaration's `major_incident_declared` (both sent inside those apps' transactions)."""

from django.apps import apps
from django.db.models.signals import post_save
from django.dispatch import receiver

from integrations.choices import EventType
from integrations.outbox import build, listened_to, publish, publish_many
from mof.transitions import transitioned

# (model label, transition) -> event type
TRANSITION_EVENTS = {
    ("changes.requestforchange", "approve"): EventType.CHANGE_APPROVED,
    ("changes.requestforchange", "pre_approve"): EventType.CHANGE_APPROVED,
    ("changes.requestforchange", "reject"): EventType.CHANGE_REJECTED,
    ("changes.requestforchange", "complete"): EventType.CHANGE_IMPLEMENTED,
    ("changes.requestforchange", "back_out"): EventType.CHANGE_BACKED_OUT,
    ("changes.requestforchange", "close"): EventType.CHANGE_CLOSED,
    ("incidents.incident", "resolve"): EventType.INCIDENT_RESOLVED,
    ("incidents.incident", "reopen"): EventType.INCIDENT_REOPENED,
}


def _change_data(change) -> dict:
    return {
        "title": change.title,
        "change_type": change.type,
        "approval_path": change.approval_path or None,
        "risk_level": change.risk_assessment.level if change.risk_assessment_id else None,
        "decision_reason": change.decision_reason or None,
        "outcome": change.outcome or None,
        "planned_start": change.planned_start,
        "planned_end": change.planned_end,
    }


def _incident_data(incident) -> dict:
    return {
        "title": incident.title,
        "priority": incident.priority,
        "impact": incident.impact,
        "urgency": incident.urgency,
        "service_id": incident.service_id,
        "assignment_group_id": incident.assignment_group_id,
        "is_major": incident.is_major,
        "resolution_code": incident.resolution_code or None,
    }


@receiver(transitioned, dispatch_uid="integrations_transitioned")
def transition_to_outbox(sender, instance, name, source, target, actor, **kwargs):
    event_type = TRANSITION_EVENTS.get((sender._meta.label_lower, name))
    if event_type is None:
        return
    data = _change_data(instance) if sender._meta.label_lower.startswith("changes.") else _incident_data(instance)
    publish(event_type, {"transition": name, "from": source, "to": target, **data}, subject=instance, actor=actor)


def incident_created(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        publish(EventType.INCIDENT_CREATED, {"channel": instance.channel, **_incident_data(instance)}, subject=instance)


def problem_created(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        publish(EventType.PROBLEM_CREATED, {"title": instance.title}, subject=instance)


def alert_opened(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        publish(
            EventType.MONITORING_ALERT_OPENED,
            {
                "key": instance.key,
                "source": instance.source,
                "severity": instance.severity,
                "message": instance.message[:500],
                "ci_id": instance.ci_id,
                "service_id": instance.service_id,
                "incident_id": instance.incident_id,
            },
            subject=instance,
        )


def major_incident_to_outbox(sender, incident_id, actor, **kwargs):
    incident = sender.objects.get(pk=incident_id)  # as the declaration left it, in its transaction
    data = {
        **_incident_data(incident),
        "major_incident_manager": getattr(incident.major_incident_manager, "username", None),
        "outage_start": incident.outage_start,
    }
    publish(EventType.INCIDENT_MAJOR_DECLARED, data, subject=incident, actor=actor)


def sla_notifications_to_outbox(sender, ids, **kwargs):
    """Warnings and breaches the sweep recorded (once each): one event per notification.

    A sweep records thousands at once: when no active subscription wants SLA events, none
    are stored (a subscription receives the events that happen after it exists)."""
    from incidents.models import Incident

    if not ids:
        return
    wanted = listened_to([EventType.SLA_WARNING, EventType.SLA_BREACHED])
    if not wanted:
        return
    notifications = [
        n
        for n in sender.objects.filter(pk__in=ids).select_related("clock__version__sla")
        if (EventType.SLA_BREACHED if n.threshold >= 100 else EventType.SLA_WARNING) in wanted
    ]
    incident_ids = {n.clock.ticket_id for n in notifications if n.clock.ticket_type == "incidents.incident"}
    incidents = Incident.objects.in_bulk(incident_ids)
    events = []
    for n in notifications:
        clock = n.clock
        ticket = incidents.get(clock.ticket_id) if clock.ticket_type == "incidents.incident" else None
        breached = n.threshold >= 100
        data = {
            "threshold": n.threshold,
            "metric": clock.metric,
            "sla": {"id": clock.version.sla_id, "name": clock.version.sla.name},
            "crossed_at": n.crossed_at,
            "due_at": clock.due_at,
            "ticket_type": clock.ticket_type,
            "ticket_id": clock.ticket_id,
        }
        events.append(build(EventType.SLA_BREACHED if breached else EventType.SLA_WARNING, data, subject=ticket))
    publish_many(events)


def connect():
    """Creation hooks on models that may not be installed (monitoring alerts arrive with operations)."""
    hooks = [
        ("incidents", "Incident", incident_created),
        ("incidents", "Problem", problem_created),
        ("operations", "MonitoringAlert", alert_opened),
    ]
    for app_label, model_name, handler in hooks:
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue
        post_save.connect(handler, sender=model, dispatch_uid=f"integrations_{model_name.lower()}_created")
    from incidents.services import major_incident_declared
    from slas.services import clock_notifications_recorded

    major_incident_declared.connect(major_incident_to_outbox, dispatch_uid="integrations_major_incident")
    clock_notifications_recorded.connect(sla_notifications_to_outbox, dispatch_uid="integrations_sla_notifications")
