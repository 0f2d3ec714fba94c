"""Operating quadrant: maintenance and freeze windows (job schedule and events come later)."""
from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from mof.audit import AuditedModel, AuditedQuerySet
from mof.models import ConfigurationItem, Service
from mof.transition_forms import ReasonForm
from mof.workflows import permission


class FreezeStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"
    WITHDRAWN = "withdrawn", "Withdrawn"


class FreezeWindowQuerySet(AuditedQuerySet):
    def in_force(self):
        return self.filter(status__in=[FreezeStatus.APPROVED, FreezeStatus.ACTIVE])


class FreezeWindow(ConcurrentTransitionMixin, FSMModelMixin, AuditedModel):
    """A blackout period (e.g. quarter end): a decision on record with its own lifecycle."""

    name = models.CharField(max_length=150)
    start = models.DateTimeField(db_index=True)
    end = models.DateTimeField(db_index=True)
    reason = models.TextField(blank=True)
    services = models.ManyToManyField(Service, blank=True, related_name="freeze_windows", help_text="Empty: the freeze applies to everything.")
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False)
    status = FSMField(max_length=20, choices=FreezeStatus.choices, default=FreezeStatus.PROPOSED, protected=True)

    objects = FreezeWindowQuerySet.as_manager()

    class Meta:
        ordering = ["start"]
        constraints = [models.CheckConstraint(condition=Q(end__gt=F("start")), name="freeze_end_after_start")]

    def __str__(self):
        return self.name

    @transition(field="status", source=FreezeStatus.PROPOSED, target=FreezeStatus.APPROVED,
                permission=permission("freeze.transition.approve"), custom={"label": "Approve", "duty": "approve"})
    def approve(self, *, by=None, **data):
        self.approved_by = by

    @transition(field="status", source=FreezeStatus.APPROVED, target=FreezeStatus.ACTIVE,
                permission=permission("freeze.transition.activate"), custom={"label": "Activate"})
    def activate(self, *, by=None, **data):
        pass

    @transition(field="status", source=[FreezeStatus.APPROVED, FreezeStatus.ACTIVE], target=FreezeStatus.ENDED,
                permission=permission("freeze.transition.activate"), custom={"label": "End"})
    def finish(self, *, by=None, **data):
        pass

    @transition(field="status", source=[FreezeStatus.PROPOSED, FreezeStatus.APPROVED], target=FreezeStatus.WITHDRAWN,
                permission=permission("freeze.transition.approve"), custom={"label": "Withdraw", "form": ReasonForm})
    def withdraw(self, *, by=None, **data):
        pass


class MaintenanceWindow(AuditedModel):
    """A recurring weekly window in which changes to a service or CI are expected."""

    name = models.CharField(max_length=150)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_windows")
    ci = models.ForeignKey(ConfigurationItem, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_windows")
    weekdays = models.JSONField(default=list, help_text="ISO weekdays 1 (Monday) to 7 (Sunday).")
    start_time = models.TimeField()
    duration_minutes = models.PositiveIntegerField()
    time_zone = models.CharField(max_length=60, default="UTC")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(service__isnull=False) | Q(ci__isnull=False), name="maintenance_window_has_scope"),
            models.CheckConstraint(condition=Q(duration_minutes__gt=0), name="maintenance_window_positive_duration"),
        ]

    def __str__(self):
        return self.name
