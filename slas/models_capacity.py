"""Capacity management: measurements reported by CIs, thresholds per CI class and metric,
and the warnings a linear-trend forecast raises before a threshold is crossed."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from mof.audit import AuditedModel
from mof.models import CIClass, ConfigurationItem
from mof.transition_forms import DecisionNoteForm
from mof.workflows import permission

__all__ = ["Measurement", "CapacityThreshold", "CapacityWarning", "ThresholdDirection", "WarningStatus"]


class Measurement(models.Model):
    """One reading of a metric on a CI (high volume: not audited, never edited)."""

    ci = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="measurements")
    metric = models.CharField(max_length=80)
    value = models.FloatField()
    at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["ci", "metric", "at"]
        indexes = [models.Index(fields=["ci", "metric", "at"], name="measurement_ci_metric_at_idx")]

    def __str__(self):
        return f"{self.ci_id}/{self.metric}={self.value} at {self.at:%Y-%m-%d %H:%M}"


class ThresholdDirection(models.TextChoices):
    ABOVE = "above", "Warn when rising above"
    BELOW = "below", "Warn when falling below"


class CapacityThreshold(AuditedModel):
    """E.g. class 'Volume', metric 'used_pct', 95 above: a volume is full at 95 %."""

    ci_class = models.ForeignKey(CIClass, on_delete=models.CASCADE, related_name="capacity_thresholds")
    metric = models.CharField(max_length=80)
    threshold = models.FloatField()
    direction = models.CharField(max_length=5, choices=ThresholdDirection.choices, default=ThresholdDirection.ABOVE)
    unit = models.CharField(max_length=20, blank=True, help_text="e.g. %, GB, req/s")
    label = models.CharField(max_length=60, blank=True, help_text="What crossing means, e.g. 'full'.")
    window_days = models.PositiveSmallIntegerField(default=30, help_text="The trend is fitted over the last N days.")
    warn_within_days = models.PositiveSmallIntegerField(
        default=30, help_text="Warn when the forecast crossing is this close."
    )

    class Meta:
        ordering = ["ci_class__name", "metric"]
        constraints = [
            models.UniqueConstraint(fields=["ci_class", "metric"], name="unique_capacity_threshold"),
            models.CheckConstraint(
                condition=Q(window_days__gt=0) & Q(warn_within_days__gt=0), name="capacity_threshold_days_positive"
            ),
        ]

    def __str__(self):
        return f"{self.ci_class} {self.metric} {self.direction} {self.threshold:g}{self.unit}"

    def clean(self):
        if not self.metric or not self.metric.strip():
            raise ValidationError({"metric": "Name the metric."})
        if self.window_days is not None and self.window_days < 1:
            raise ValidationError({"window_days": "At least one day."})

    def crossed(self, value: float) -> bool:
        return value >= self.threshold if self.direction == ThresholdDirection.ABOVE else value <= self.threshold


class WarningStatus(models.TextChoices):
    OPEN = "open", "Open"
    CONVERTED = "converted", "Turned into an RFC"
    DISMISSED = "dismissed", "Dismissed"


class CapacityWarningWorkflow:
    """open -> converted (a draft RFC was filed for it) or dismissed: a manager's decision,
    through the transition door like every other."""

    def _decided(self, by, note):
        self.decided_by = by
        self.decided_at = timezone.now()
        self.decision_note = note

    @transition(
        field="status",
        source=WarningStatus.OPEN,
        target=WarningStatus.CONVERTED,
        permission=permission("capacity.decide"),
        custom={"label": "Turn into an RFC", "form": DecisionNoteForm},
    )
    def convert(self, *, by=None, note: str = "", **data):
        self._decided(by, note)

    @transition(
        field="status",
        source=WarningStatus.OPEN,
        target=WarningStatus.DISMISSED,
        permission=permission("capacity.decide"),
        custom={"label": "Dismiss", "form": DecisionNoteForm},
    )
    def dismiss(self, *, by=None, note: str = "", **data):
        self._decided(by, note)


class CapacityWarning(CapacityWarningWorkflow, FSMModelMixin, AuditedModel):
    """A forecast that a CI's metric will cross its threshold soon. One open warning per
    CI and metric (enforced by the database); a manager turns it into a draft RFC or dismisses it."""

    ci = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="capacity_warnings")
    metric = models.CharField(max_length=80)
    threshold = models.ForeignKey(
        CapacityThreshold, null=True, blank=True, on_delete=models.SET_NULL, related_name="warnings"
    )
    threshold_value = models.FloatField()
    direction = models.CharField(max_length=5, choices=ThresholdDirection.choices, default=ThresholdDirection.ABOVE)
    current_value = models.FloatField()
    slope_per_day = models.FloatField(default=0)
    forecast_at = models.DateTimeField(help_text="When the trend crosses the threshold (past: already crossed).")
    status = FSMField(max_length=10, choices=WarningStatus.choices, default=WarningStatus.OPEN, protected=True)
    change = models.ForeignKey(
        "changes.RequestForChange", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["forecast_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["ci", "metric"], condition=Q(status="open"), name="one_open_capacity_warning"
            ),
        ]
        indexes = [models.Index(fields=["status", "forecast_at"], name="capacity_warning_status_idx")]

    def __str__(self):
        return f"{self.ci} {self.metric}: {self.summary}"

    @property
    def summary(self) -> str:
        label = (
            self.threshold.label if self.threshold_id and self.threshold and self.threshold.label else ""
        ) or "threshold crossed"
        days = (self.forecast_at - timezone.now()).total_seconds() / 86400
        if days <= 0:
            return f"{label} now"
        if days < 0.5:
            return f"{label} within a day"
        n = round(days)
        return f"{label} in {n} day{'s' if n != 1 else ''}"
