"""Operating quadrant: maintenance and freeze windows, calendar feed tokens (job
schedule and events come later)."""

import contextvars
import hashlib
import secrets
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from mof.audit import AuditedModel, AuditedQuerySet
from mof.models import ConfigurationItem, Service
from mof.transition_forms import ReasonForm
from mof.workflows import condition, permission

# Set only by operations.tasks.freeze_clock: the system clock may activate and end
# freezes (actor None); nobody else acts as None.
SYSTEM_CLOCK = contextvars.ContextVar("operations_system_clock", default=False)


def clock_or(action: str):
    """A transition permission: the one policy, or the system clock while it runs."""
    ask_policy = permission(action)

    def check(instance, user):
        if user is None and SYSTEM_CLOCK.get():
            return True
        return ask_policy(instance, user)

    check.action = action
    return check


@condition("The freeze has not started yet.")
def has_started(freeze) -> bool:
    return freeze.start <= timezone.now()


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
    services = models.ManyToManyField(
        Service, blank=True, related_name="freeze_windows", help_text="Empty: the freeze applies to everything."
    )
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    status = FSMField(max_length=20, choices=FreezeStatus.choices, default=FreezeStatus.PROPOSED, protected=True)

    objects = FreezeWindowQuerySet.as_manager()

    class Meta:
        ordering = ["start"]
        constraints = [models.CheckConstraint(condition=Q(end__gt=F("start")), name="freeze_end_after_start")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("freeze_detail", args=[self.pk])

    def notification_recipients(self):
        return [self.proposed_by]

    def clean(self):
        if self.start and self.end and self.end <= self.start:
            raise ValidationError({"end": "The end must be after the start."})

    @transition(
        field="status",
        source=FreezeStatus.PROPOSED,
        target=FreezeStatus.APPROVED,
        permission=permission("freeze.transition.approve"),
        custom={"label": "Approve", "duty": "approve"},
    )
    def approve(self, *, by=None, **data):
        self.approved_by = by

    @transition(
        field="status",
        source=FreezeStatus.APPROVED,
        target=FreezeStatus.ACTIVE,
        conditions=[has_started],
        permission=clock_or("freeze.transition.activate"),
        custom={"label": "Activate"},
    )
    def activate(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=[FreezeStatus.APPROVED, FreezeStatus.ACTIVE],
        target=FreezeStatus.ENDED,
        permission=clock_or("freeze.transition.activate"),
        custom={"label": "End"},
    )
    def finish(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=[FreezeStatus.PROPOSED, FreezeStatus.APPROVED],
        target=FreezeStatus.WITHDRAWN,
        permission=permission("freeze.transition.approve"),
        custom={"label": "Withdraw", "form": ReasonForm},
    )
    def withdraw(self, *, by=None, **data):
        pass


class MaintenanceWindow(AuditedModel):
    """A recurring weekly window in which changes to a service or CI are expected."""

    name = models.CharField(max_length=150)
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_windows"
    )
    ci = models.ForeignKey(
        ConfigurationItem, null=True, blank=True, on_delete=models.CASCADE, related_name="maintenance_windows"
    )
    weekdays = models.JSONField(default=list, help_text="ISO weekdays 1 (Monday) to 7 (Sunday).")
    start_time = models.TimeField()
    duration_minutes = models.PositiveIntegerField()
    time_zone = models.CharField(max_length=60, default="UTC")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(service__isnull=False) | Q(ci__isnull=False), name="maintenance_window_has_scope"
            ),
            models.CheckConstraint(condition=Q(duration_minutes__gt=0), name="maintenance_window_positive_duration"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if not self.service_id and not self.ci_id:
            errors["service"] = "Name the IT service or the configuration item the window applies to."
        weekdays = self.weekdays
        if not isinstance(weekdays, list) or not weekdays:
            errors["weekdays"] = "Choose at least one weekday (1 = Monday ... 7 = Sunday)."
        elif any(not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 7 for d in weekdays):
            errors["weekdays"] = "Weekdays are ISO numbers from 1 (Monday) to 7 (Sunday)."
        elif len(set(weekdays)) != len(weekdays):
            errors["weekdays"] = "Name each weekday once."
        if self.duration_minutes is not None and self.duration_minutes <= 0:
            errors["duration_minutes"] = "The duration must be at least one minute."
        elif self.duration_minutes is not None and self.duration_minutes > 7 * 24 * 60:
            errors["duration_minutes"] = "A weekly window lasts at most a week (10080 minutes)."
        if not valid_time_zone(self.time_zone):
            errors["time_zone"] = f"Unknown time zone {self.time_zone!r}: use an IANA name such as Europe/London."
        if errors:
            raise ValidationError(errors)


def valid_time_zone(name) -> bool:
    if not name or not isinstance(name, str):
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def feed_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class CalendarFeedTokenQuerySet(AuditedQuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True)


class CalendarFeedToken(AuditedModel):
    """A per-user secret address of the iCalendar feed. Only the SHA-256 digest of the
    secret is stored (`key`): the address is shown once, when it is created or rotated."""

    audit_exclude = ("key",)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed_tokens")
    key = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CalendarFeedTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(revoked_at__isnull=True), name="one_live_feed_token_per_user"
            ),
        ]

    def __str__(self):
        return f"Calendar feed of {self.user}"

    @staticmethod
    def new_secret() -> str:
        return secrets.token_urlsafe(32)


from operations.models_events import *  # noqa: E402,F401,F403  (monitoring events live in their own module)
from operations.models_jobs import *  # noqa: E402,F401,F403  (the job schedule lives in its own module)
