"""Optimizing quadrant: business calendars, SLAs/OLAs (versioned), the ticket event log and SLA clocks."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from mof import review_gate
from mof.audit import AuditedModel
from mof.choices import ReviewKind
from mof.models import Service, Team
from mof.transition_forms import ReasonForm
from mof.workflows import condition, permission

User = settings.AUTH_USER_MODEL


class BusinessCalendar(AuditedModel):
    name = models.CharField(max_length=120, unique=True)
    time_zone = models.CharField(max_length=60, default="UTC")
    country = models.CharField(
        max_length=2, blank=True, help_text="ISO country for public holidays (holidays package), e.g. GB."
    )
    subdivision = models.CharField(max_length=10, blank=True, help_text="Region, e.g. ENG, SCT, NY.")
    version = models.PositiveIntegerField(
        default=1, editable=False, help_text="Bumped on every edit: clocks recompute."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError({"time_zone": f"Unknown time zone {self.time_zone!r}."}) from None
        if self.country:
            import holidays

            try:
                holidays.country_holidays(self.country, subdiv=self.subdivision or None, years=2026)
            except (NotImplementedError, KeyError, ValueError) as exc:
                raise ValidationError(
                    {"country": f"No holiday data for {self.country}/{self.subdivision or '-'}: {exc}"}
                ) from None


class WorkingInterval(AuditedModel):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="intervals")
    weekday = models.PositiveSmallIntegerField(
        choices=[
            (0, "Monday"),
            (1, "Tuesday"),
            (2, "Wednesday"),
            (3, "Thursday"),
            (4, "Friday"),
            (5, "Saturday"),
            (6, "Sunday"),
        ]
    )
    start = models.TimeField()
    end = models.TimeField(help_text="00:00 means midnight at the end of the day.")

    class Meta:
        ordering = ["weekday", "start"]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class CalendarHoliday(AuditedModel):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="own_holidays")
    date = models.DateField()
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="unique_calendar_holiday")]


class SLAStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    ACTIVE = "active", "Active"
    RETIRED = "retired", "Retired"


@condition("An SLA needs a version with a target before review.")
def has_version(sla) -> bool:
    return sla.versions.exists()


class AgreementKind(models.TextChoices):
    SLA = "sla", "SLA (with customers)"
    OLA = "ola", "OLA (between internal groups)"


class ServiceLevelAgreement(ConcurrentTransitionMixin, FSMModelMixin, AuditedModel):
    """An SLA (with customers) or OLA (between internal groups); what it promises lives in its versions."""

    KINDS = AgreementKind.choices
    name = models.CharField(max_length=150, unique=True)
    kind = models.CharField(max_length=3, choices=AgreementKind.choices, default=AgreementKind.SLA)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    status = FSMField(max_length=20, choices=SLAStatus.choices, default=SLAStatus.DRAFT, protected=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "service level agreement"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("sla_detail", args=[self.pk])

    @property
    def current_version(self):
        return self.versions.order_by("-number").first()

    @transition(
        field="status",
        source=SLAStatus.DRAFT,
        target=SLAStatus.IN_REVIEW,
        conditions=[has_version],
        permission=permission("sla.transition.submit"),
        custom={"label": "Submit to the SLA Review"},
    )
    def submit(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=SLAStatus.IN_REVIEW,
        target=SLAStatus.ACTIVE,
        conditions=[review_gate.requires(ReviewKind.SLA, "activate")],
        permission=permission("sla.transition.activate"),
        custom={"label": "Activate", "form": ReasonForm, "gated_by": ReviewKind.SLA},
    )
    def activate(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=SLAStatus.IN_REVIEW,
        target=SLAStatus.DRAFT,
        permission=permission("sla.transition.submit"),
        custom={"label": "Back to draft", "form": ReasonForm},
    )
    def withdraw(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=SLAStatus.ACTIVE,
        target=SLAStatus.RETIRED,
        permission=permission("sla.transition.retire"),
        custom={"label": "Retire", "form": ReasonForm},
    )
    def retire(self, *, by=None, **data):
        pass


class TicketType(models.TextChoices):
    """What an SLA version applies to: the tickets the engine keeps clocks for (slas.services.TICKET_TYPES)."""

    INCIDENT = "incidents.incident", "Incidents"


class SLAVersion(AuditedModel):
    """What an SLA promises, frozen: clocks are pinned to the version they started under."""

    sla = models.ForeignKey(ServiceLevelAgreement, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    ticket_type = models.CharField(
        max_length=60, choices=TicketType.choices, default=TicketType.INCIDENT, help_text="The tickets it applies to."
    )
    service = models.ForeignKey(
        Service, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Empty: every service."
    )
    priorities = models.JSONField(
        default=list, blank=True, help_text="Priorities it applies to, e.g. [1, 2]; empty: all."
    )
    assignment_group = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="OLAs: the group that owes it.",
    )
    response_seconds = models.PositiveIntegerField(null=True, blank=True)
    resolution_seconds = models.PositiveIntegerField(null=True, blank=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="sla_versions")
    pause_on = models.JSONField(default=list, blank=True, help_text="Hold reasons that pause the clocks.")
    warning_thresholds = models.JSONField(default=list, blank=True, help_text="Percentages, e.g. [50, 75].")
    carry_pauses = models.BooleanField(
        default=True, help_text="On a retroactive start, count pauses already accrued as paused."
    )
    target_percentage = models.DecimalField(
        max_digits=5, decimal_places=2, default=95, help_text="Share of tickets that must meet the targets."
    )
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sla", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["sla", "number"], name="unique_sla_version"),
            models.CheckConstraint(
                condition=Q(response_seconds__gt=0) | Q(response_seconds__isnull=True), name="sla_response_positive"
            ),
            models.CheckConstraint(
                condition=Q(resolution_seconds__gt=0) | Q(resolution_seconds__isnull=True),
                name="sla_resolution_positive",
            ),
        ]

    def __str__(self):
        return f"{self.sla} v{self.number}"

    def target(self, metric: str) -> int | None:
        return self.response_seconds if metric == "response" else self.resolution_seconds

    @property
    def thresholds(self) -> list[int]:
        return sorted({int(t) for t in (self.warning_thresholds or [50, 75])} | {100})


class TicketEvent(models.Model):
    """Append-only log of what matters to SLA clocks; clocks are recomputed from it."""

    append_only = True  # mof.dbroles: the runtime database role may only read and add rows

    ticket_type = models.CharField(max_length=60)
    ticket_id = models.BigIntegerField()
    at = models.DateTimeField()
    kind = models.CharField(max_length=30)
    state = models.CharField(max_length=30)
    priority = models.PositiveSmallIntegerField(null=True)
    hold_reason = models.CharField(max_length=30, blank=True)
    service_id = models.BigIntegerField(null=True)
    group_id = models.BigIntegerField(null=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["ticket_type", "ticket_id", "at"], name="ticket_event_idx")]

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The ticket event log is append-only.")
        super().save(*args, **kwargs)


class ClockState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    MET = "met", "Met"
    BREACHED = "breached", "Breached"
    CANCELLED = "cancelled", "Cancelled"


class SLAClock(models.Model):
    """A ticket's clock for one SLA version and metric. Its figures are derived from the
    ticket's events; `next_event_at` tells the sweep when it next needs attention."""

    ticket_type = models.CharField(max_length=60)
    ticket_id = models.BigIntegerField()
    version = models.ForeignKey(SLAVersion, on_delete=models.PROTECT, related_name="clocks")
    metric = models.CharField(
        max_length=20, choices=[("response", "Time to respond"), ("resolution", "Time to resolve")]
    )
    state = models.CharField(max_length=20, choices=ClockState.choices, default=ClockState.RUNNING)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    elapsed_seconds = models.PositiveIntegerField(default=0, help_text="Business seconds counted up to the last event.")
    counting_since = models.DateTimeField(
        null=True, blank=True, help_text="When the current counting stretch began (None if not counting)."
    )
    target_seconds = models.PositiveIntegerField()
    due_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    next_event_at = models.DateTimeField(null=True, blank=True)
    notified_threshold = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(
        default=timezone.now, help_text="When the clock itself began (its start may be retroactive)."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # unique_clock's index also serves look-ups by ticket (ticket_type, ticket_id): no second
        # index on them, which every rewrite of a clock (a recompute: a million) would maintain too.
        constraints = [
            models.UniqueConstraint(fields=["ticket_type", "ticket_id", "version", "metric"], name="unique_clock")
        ]
        indexes = [
            models.Index(fields=["next_event_at"], name="clock_due_idx", condition=Q(next_event_at__isnull=False)),
            models.Index(fields=["id"], name="clock_open_idx", condition=Q(state__in=["running", "paused"])),
            # The "breaching soon" queue: the few clocks due before a horizon drive it.
            models.Index(
                fields=["due_at"], name="clock_running_due_idx", condition=Q(state__in=["running", "breached"])
            ),
        ]

    def __str__(self):
        return f"{self.version} {self.metric} on {self.ticket_type}:{self.ticket_id}"

    @property
    def met(self) -> bool | None:
        if self.state == ClockState.CANCELLED:
            return None
        return self.breached_at is None


class RecomputeJob(models.Model):
    """A background recomputation of the open clocks an edit affects, with its progress for
    the manager who made the edit. A calendar edit recomputes the open clocks whose span meets
    the stretch of time the edit changed; an SLA edit that re-targets running clocks moves them
    to `version`. Every chunk computes as of `as_of`, so a chunk run twice gives the same figures."""

    calendar = models.ForeignKey(
        BusinessCalendar, null=True, blank=True, on_delete=models.CASCADE, related_name="recompute_jobs"
    )
    sla = models.ForeignKey(
        ServiceLevelAgreement, null=True, blank=True, on_delete=models.CASCADE, related_name="recompute_jobs"
    )
    version = models.ForeignKey(
        "SLAVersion",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="SLA edits: the version running clocks move to.",
    )
    started_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    as_of = models.DateTimeField(default=timezone.now, help_text="The instant every chunk computes the clocks at.")
    changed_from = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Calendar edits: the first instant whose working time changed (empty: all time).",
    )
    changed_until = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0, help_text="Clocks whose stored figures the recomputation moved.")
    created_at = models.DateTimeField(default=timezone.now)
    planned_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"recompute {self.done}/{self.total}"

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.done * 100 // self.total)


class RecomputeChunk(models.Model):
    """A few thousand of a job's clocks (an id range), recomputed by one task. `done_at` is set in
    the transaction that writes the clocks: a chunk delivered twice counts once."""

    job = models.ForeignKey(RecomputeJob, on_delete=models.CASCADE, related_name="chunks")
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()
    size = models.PositiveIntegerField()
    changed = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "first_id"]
        constraints = [models.UniqueConstraint(fields=["job", "first_id"], name="unique_recompute_chunk")]

    def __str__(self):
        return f"clocks {self.first_id}-{self.last_id} of {self.job}"


class ClockNotification(models.Model):
    """Each threshold of a clock is notified once: the database refuses a second row. Engine-owned:
    recorded by the sweep, turned into outbox mail once (slas.services.notify_clock)."""

    clock = models.ForeignKey(SLAClock, on_delete=models.CASCADE, related_name="notifications")
    threshold = models.PositiveSmallIntegerField()
    crossed_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(
        null=True, blank=True, help_text="A worker took it; the claim lapses if the mail is not out in time."
    )
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="Its mail was stored in the notification outbox (sent from there)."
    )
    failed_at = models.DateTimeField(
        null=True, blank=True, help_text="Nobody could be told (see error); never counted as sent."
    )
    error = models.CharField(max_length=500, blank=True, default="", db_default="")  # the sweep inserts rows in raw SQL

    class Meta:
        constraints = [models.UniqueConstraint(fields=["clock", "threshold"], name="one_notification_per_threshold")]
        indexes = [
            models.Index(fields=["created_at"], name="clock_notification_unsent_idx", condition=Q(sent_at__isnull=True))
        ]


from slas.models_availability import *
from slas.models_capacity import *
