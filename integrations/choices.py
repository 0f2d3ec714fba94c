from django.db import models


class EventType(models.TextChoices):
    """What a subscription can be told. The values are the `type` of the JSON body: stable."""

    CHANGE_APPROVED = "change.approved", "Change approved"
    CHANGE_REJECTED = "change.rejected", "Change rejected"
    CHANGE_IMPLEMENTED = "change.implemented", "Change implemented"
    CHANGE_BACKED_OUT = "change.backed_out", "Change backed out"
    CHANGE_CLOSED = "change.closed", "Change closed"
    INCIDENT_CREATED = "incident.created", "Incident created"
    INCIDENT_RESOLVED = "incident.resolved", "Incident resolved"
    INCIDENT_REOPENED = "incident.reopened", "Incident reopened"
    INCIDENT_MAJOR_DECLARED = "incident.major_declared", "Major incident declared"
    PROBLEM_CREATED = "problem.created", "Problem created"
    SLA_WARNING = "sla.warning", "SLA warning"
    SLA_BREACHED = "sla.breached", "SLA breached"
    MONITORING_ALERT_OPENED = "monitoring.alert_opened", "Monitoring alert opened"
    PING = "ping", "Test ping"


# A subscription chooses among these; a ping goes only to the subscription it tests.
SUBSCRIBABLE = [value for value in EventType.values if value != EventType.PING]


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
