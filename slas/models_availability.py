"""Availability management: a service's agreed service time (a business calendar), its
target, and the outages recorded against it (besides major incidents' outage times)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from mof.audit import AuditedModel
from mof.models import Service

__all__ = ["ServiceHours", "AvailabilityTarget", "OutageRecord"]


class ServiceHours(AuditedModel):
    """The agreed service time of a service, as a business calendar. No row: 24x7."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="agreed_hours")
    calendar = models.ForeignKey("slas.BusinessCalendar", on_delete=models.PROTECT, related_name="service_hours")

    class Meta:
        verbose_name = "agreed service hours"
        verbose_name_plural = "agreed service hours"

    def __str__(self):
        return f"{self.service}: {self.calendar}"


class AvailabilityTarget(AuditedModel):
    """The availability a service promises, e.g. 99.9 % of its agreed service time."""

    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="availability_target")
    target_percentage = models.DecimalField(max_digits=7, decimal_places=4, help_text="e.g. 99.9")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(target_percentage__gt=0) & Q(target_percentage__lte=100),
                name="availability_target_in_range",
            ),
        ]

    def __str__(self):
        return f"{self.service}: {self.target_percentage} %"

    def clean(self):
        if self.target_percentage is not None and not (0 < self.target_percentage <= 100):
            raise ValidationError({"target_percentage": "A target is a percentage above 0 and at most 100."})


class OutageRecord(AuditedModel):
    """An outage of a service recorded by hand (major incidents record their own).
    Planned outages (agreed maintenance) are taken out of the agreed service time rather
    than counted as downtime."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="outage_records")
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=300)
    planned = models.BooleanField(
        default=False, help_text="Agreed maintenance: excluded from the agreed service time, not counted as downtime."
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-start"]
        indexes = [models.Index(fields=["service", "start"], name="outage_service_start_idx")]
        constraints = [models.CheckConstraint(condition=Q(end__gt=F("start")), name="outage_end_after_start")]

    def __str__(self):
        return f"{self.service} {self.start:%Y-%m-%d %H:%M}-{self.end:%H:%M}"

    def clean(self):
        if self.start and self.end and self.end <= self.start:
            raise ValidationError({"end": "The end must be after the start."})
