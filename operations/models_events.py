"""Service monitoring and control: events posted by monitoring tools, the alerts they
deduplicate into, and the mapping of names monitoring tools use to configuration items.

An event is raw telemetry; an alert is one problem as monitoring sees it (one open
alert per deduplication key), and an alert at or above the configured severity has
an incident. Writes go through operations.events, reads through operations.events_selectors.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mof.audit import AuditedModel
from mof.models import ConfigurationItem, Service

__all__ = ["AlertCloseReason", "EventCIMapping", "MonitoringAlert", "MonitoringEvent", "SEVERITY_NAMES", "Severity"]


class Severity(models.IntegerChoices):
    """Higher is worse; CLEAR says the condition behind the key is over."""

    CLEAR = 0, "Clear"
    INFO = 1, "Info"
    WARNING = 2, "Warning"
    MINOR = 3, "Minor"
    MAJOR = 4, "Major"
    CRITICAL = 5, "Critical"


# How the API names severities (the stored value is the number: comparisons stay simple).
SEVERITY_NAMES = tuple(member.name.lower() for member in Severity)


class AlertCloseReason(models.TextChoices):
    CLEARED = "cleared", "Cleared by monitoring"
    INCIDENT_RESOLVED = "incident_resolved", "Incident resolved by a person"


class MonitoringAlert(AuditedModel):
    """All events of one deduplication key while the condition lasts.

    Opening, escalating and closing an alert are audited; the count and last-seen bumps
    of an event storm are telemetry and are written past the audit (see events.py).
    """

    key = models.CharField(max_length=200, verbose_name="deduplication key")
    # Indexed below together with last_seen, which the pages sort by.
    ci = models.ForeignKey(
        ConfigurationItem,
        on_delete=models.CASCADE,
        related_name="monitoring_alerts",
        verbose_name="configuration item",
        db_index=False,
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="monitoring_alerts", db_index=False
    )
    source = models.CharField(max_length=100)
    severity = models.PositiveSmallIntegerField(
        choices=Severity.choices, help_text="The worst severity seen while open."
    )
    last_severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    message = models.CharField(max_length=1000, help_text="The latest message.")
    count = models.PositiveBigIntegerField(default=0, help_text="Events received for the key while open.")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="monitoring_alerts"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=20, choices=AlertCloseReason.choices, blank=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            # Concurrent requests for a new key cannot open two alerts (nor two incidents).
            models.UniqueConstraint(fields=["key"], condition=Q(closed_at__isnull=True), name="one_open_alert_per_key"),
            models.CheckConstraint(
                condition=Q(closed_at__isnull=True) | ~Q(closed_reason=""), name="closed_alert_has_reason"
            ),
        ]
        indexes = [
            models.Index(fields=["ci", "last_seen"], name="alert_ci_seen_idx"),
            models.Index(fields=["service", "last_seen"], name="alert_service_seen_idx"),
        ]

    def __str__(self):
        return f"{self.key} on {self.ci}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def severity_name(self) -> str:
        return Severity(self.severity).name.lower()


class MonitoringEvent(models.Model):
    """One event as a monitoring tool posted it. Append-only telemetry, kept for
    MOF_EVENTS_RETENTION_DAYS: not an AuditedModel, since auditing every row of an
    event storm would double its writes and tell nothing the row does not."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    occurred_at = models.DateTimeField(help_text="When the monitoring tool saw it.")
    source = models.CharField(max_length=100)
    ci = models.ForeignKey(
        ConfigurationItem,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="monitoring_events",
        verbose_name="configuration item",
        db_index=False,
    )
    ci_name = models.CharField(max_length=150, help_text="The CI as the monitoring tool named it.")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices)
    message = models.CharField(max_length=1000)
    key = models.CharField(max_length=200, verbose_name="deduplication key")
    alert = models.ForeignKey(MonitoringAlert, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    parked = models.BooleanField(default=False, help_text="Waiting for a person to map its CI name to a CI.")

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["ci", "received_at"], name="event_ci_received_idx"),
            models.Index(fields=["key", "received_at"], name="event_key_received_idx"),
            models.Index(fields=["ci_name"], condition=Q(parked=True), name="event_parked_idx"),
        ]

    def __str__(self):
        return f"{self.get_severity_display()} {self.key} at {self.received_at:%Y-%m-%d %H:%M:%S}"

    @property
    def severity_name(self) -> str:
        return Severity(self.severity).name.lower()


class EventCIMapping(AuditedModel):
    """A name a monitoring tool uses for a CI, mapped by a person: later events with
    that name go to the CI without parking."""

    name = models.CharField(max_length=150, unique=True)
    ci = models.ForeignKey(
        ConfigurationItem,
        on_delete=models.CASCADE,
        related_name="event_name_mappings",
        verbose_name="configuration item",
    )
    mapped_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = "event CI mapping"

    def __str__(self):
        return f"{self.name} -> {self.ci}"
