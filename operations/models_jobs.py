"""Job scheduling and storage management (Operating quadrant): jobs (backup, batch,
maintenance) on a cron-style recurrence in a time zone, and the runs they report.

MOF: maintenance runs off-peak, considering capacity; a backup that did not run is an
incident. Flags and coverage are reads (operations.jobs_selectors); writes go through
operations.jobs; a run's outcome moves only through mof.transitions.perform_transition.

Recurrence: a five-field cron expression (minute hour day-of-month month day-of-week,
or @hourly/@daily/@weekly/@monthly/@yearly) read by croniter, evaluated on local days
in the job's IANA time zone. A local time that does not exist (spring forward) runs at
the same UTC instant as the first minute after the gap; one that exists twice (fall
back) runs once, the first time - as cron does. Day-of-month and day-of-week both
restricted: either matches (cron's rule).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_fsm import (
    RETURN_VALUE,
    ConcurrentTransitionMixin,
    FSMField,
    FSMModelMixin,
    transition,
)

from mof import policy
from mof.audit import AuditedModel
from mof.choices import RoleCluster as R
from mof.models import ConfigurationItem, Team
from mof.workflows import permission

__all__ = [
    "Job",
    "JobKind",
    "JobRun",
    "RunStatus",
    "Recurrence",
    "RunFinishForm",
    "FINISHED_STATES",
    "GOOD_STATES",
    "LOG_EXCERPT_MAX",
    "parse_recurrence",
    "recurrence_error",
]

UTC = dt.UTC
LOG_EXCERPT_MAX = 4000  # characters kept of a run's log: its tail, where the error usually is
MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


# --- recurrence --------------------------------------------------------------------


@dataclass(frozen=True)
class Recurrence:
    """The expanded fields of a cron expression; None: any."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int] | None
    months: frozenset[int] | None
    weekdays: frozenset[int] | None  # 0 = Sunday ... 6 = Saturday

    def matches_day(self, day: dt.date) -> bool:
        if self.months is not None and day.month not in self.months:
            return False
        dom = self.days is None or day.day in self.days
        dow = self.weekdays is None or day.isoweekday() % 7 in self.weekdays
        if self.days is not None and self.weekdays is not None:
            return dom or dow
        return dom and dow

    def occurrences(self, time_zone: str, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """Start instants in [start, end), in UTC, strictly increasing."""
        if start >= end:
            return []
        tz = zoneinfo.ZoneInfo(time_zone)
        times = [dt.time(h, m) for h in self.hours for m in self.minutes]
        day = start.astimezone(tz).date() - dt.timedelta(days=1)
        last = end.astimezone(tz).date() + dt.timedelta(days=1)
        found: list[dt.datetime] = []
        while day <= last:
            if self.matches_day(day):
                for t in times:
                    at = dt.datetime.combine(day, t, tzinfo=tz).astimezone(UTC)  # a gap time resolves forward
                    if start <= at < end and (not found or at > found[-1]):
                        found.append(at)
            day += dt.timedelta(days=1)
        return found


def _field(values, full: int) -> frozenset[int] | None:
    if values == ["*"]:
        return None
    found = frozenset(int(v) for v in values)
    return None if len(found) == full else found


@lru_cache(maxsize=1024)
def parse_recurrence(expression: str) -> Recurrence:
    """A Recurrence, or ValueError with a message a person can act on."""
    from croniter import croniter

    text = " ".join((expression or "").split())
    text = MACROS.get(text.lower(), text)
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise ValueError(
            "Use five fields: minute hour day-of-month month day-of-week (e.g. '30 2 * * *'), or @daily, @weekly ..."
        )
    try:
        parsed = croniter(text)
    except (ValueError, KeyError, TypeError) as exc:  # croniter's errors derive from ValueError
        raise ValueError(f"Not a valid cron expression: {exc}") from None
    minutes, hours, days, months, weekdays = parsed.expanded[:5]
    if "l" in days or getattr(parsed, "nth_weekday_of_month", None):
        raise ValueError("'L' (last day) and '#' (n-th weekday) are not supported: list the days instead.")
    if "*" in minutes or "*" in hours:
        minutes = list(range(60)) if "*" in minutes else minutes
        hours = list(range(24)) if "*" in hours else hours
    return Recurrence(
        tuple(sorted(int(m) for m in minutes)),
        tuple(sorted(int(h) for h in hours)),
        _field(days, 31),
        _field(months, 12),
        _field(weekdays, 7),
    )


def recurrence_error(expression: str, time_zone: str) -> dict:
    """Field errors of a recurrence ({} when it is good): the expression parses, the zone is
    an IANA name, and the job occurs at least once in four years (not '0 0 31 2 *')."""
    errors = {}
    try:
        zoneinfo.ZoneInfo(time_zone or "")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = f"Unknown time zone {str(time_zone)[:60]!r}: use an IANA name such as Europe/London."
    try:
        rec = parse_recurrence(expression or "")
    except ValueError as exc:
        errors["schedule"] = str(exc)
        return errors
    if "time_zone" not in errors:
        now = timezone.now()
        day, last = now.date(), now.date() + dt.timedelta(days=4 * 366)
        while day <= last and not rec.matches_day(day):
            day += dt.timedelta(days=1)
        if day > last:
            errors["schedule"] = "This expression never occurs (e.g. 31 February)."
    return errors


# --- jobs --------------------------------------------------------------------------


class JobKind(models.TextChoices):
    BACKUP = "backup", "Backup"
    BATCH = "batch", "Batch"
    MAINTENANCE = "maintenance", "Maintenance"


class Job(AuditedModel):
    """A scheduled job against configuration items, owned by an assignment group."""

    name = models.CharField(max_length=150, unique=True)
    kind = models.CharField(max_length=20, choices=JobKind.choices, default=JobKind.BATCH)
    description = models.TextField(blank=True)
    schedule = models.CharField(
        max_length=100, help_text="Cron: minute hour day-of-month month day-of-week, e.g. '30 2 * * *' (02:30 daily)."
    )
    time_zone = models.CharField(
        max_length=60, default="UTC", help_text="IANA time zone the schedule is read in, e.g. Europe/London."
    )
    target_cis = models.ManyToManyField(ConfigurationItem, related_name="jobs", verbose_name="target CIs")
    expected_duration_minutes = models.PositiveIntegerField(help_text="How long a run is expected to take.")
    owner_group = models.ForeignKey(
        Team, on_delete=models.PROTECT, related_name="jobs", help_text="The assignment group that owns the job."
    )
    active = models.BooleanField(default=True)
    backup_max_age_hours = models.PositiveIntegerField(
        null=True,
        blank=True,
        verbose_name="backup policy (hours)",
        help_text="Backup jobs: each target CI needs a good backup at least every this many hours.",
    )
    # The IT services its target CIs reach (directly and downstream through the CMDB), taken
    # when the job is saved and refreshed by operations.jobs_refresh: what its flags read.
    service_ids = models.JSONField(default=list, blank=True, editable=False)
    # Deduplication: the incident opened for the job; further failures add notes while it is open.
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    # Missed-run detection has looked at the occurrences up to here.
    checked_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(expected_duration_minutes__gt=0), name="job_positive_duration"),
            models.CheckConstraint(
                condition=~Q(kind="backup") | Q(backup_max_age_hours__gt=0), name="backup_job_has_policy"
            ),
        ]
        indexes = [models.Index(fields=["active", "kind"], name="job_active_kind_idx")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("job_detail", args=[self.pk])

    @property
    def expected_duration(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.expected_duration_minutes or 0)

    def occurrences(self, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        return parse_recurrence(self.schedule).occurrences(self.time_zone, start, end)

    def clean(self):
        errors = recurrence_error(self.schedule, self.time_zone)
        if self.expected_duration_minutes is not None and not 1 <= self.expected_duration_minutes <= 7 * 24 * 60:
            errors["expected_duration_minutes"] = "Between 1 minute and a week (10080 minutes)."
        if self.kind == JobKind.BACKUP and not self.backup_max_age_hours:
            errors["backup_max_age_hours"] = (
                "A backup job needs a policy: a good backup of each target CI at least every N hours."
            )
        elif self.kind != JobKind.BACKUP and self.backup_max_age_hours:
            errors["backup_max_age_hours"] = "Only backup jobs have a backup policy."
        if errors:
            raise ValidationError(errors)


# --- runs --------------------------------------------------------------------------


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCESS = "success", "Succeeded"
    FAILED = "failed", "Failed"
    PARTIAL = "partial", "Partly succeeded"
    MISSED = "missed", "Missed"


FINISHED_STATES = (RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.PARTIAL)
RUN_OUTCOMES = [(s.value, s.label) for s in FINISHED_STATES]  # what a finish report may say
FLAG_KINDS = [("business_hours", "business hours"), ("freeze", "change freeze"), ("change", "change on the same CI")]
GOOD_STATES = (
    RunStatus.SUCCESS,
)  # a partial backup is not a good backup of any one CI: it cannot be trusted to restore


class RunFinishForm(forms.Form):
    """Input of a run's finish, shared by the API and the transition door."""

    status = forms.ChoiceField(choices=[(s.value, s.label) for s in FINISHED_STATES])
    finished_at = forms.DateTimeField(required=False, help_text="Default: now.")
    bytes_processed = forms.IntegerField(required=False, min_value=0, max_value=2**62)
    items_processed = forms.IntegerField(required=False, min_value=0, max_value=2**62)
    log_excerpt = forms.CharField(
        required=False, strip=False, max_length=100_000, help_text=f"The last {LOG_EXCERPT_MAX} characters are kept."
    )

    def clean_finished_at(self):
        value = self.cleaned_data.get("finished_at")
        if value is not None and not 1970 <= value.year < 2900:
            raise forms.ValidationError("Out of range: between 1970 and 2900.")
        return value


def _in_owner_group(user, obj) -> bool:
    job = getattr(obj, "job", obj)
    return job is not None and getattr(job, "owner_group_id", None) in getattr(user, "team_ids", ())


def _reporter(user, obj=None) -> bool:
    return (
        policy.is_manager(user)
        or policy.has_role(R.OPERATIONS)(user)
        or (policy.authenticated(user) and _in_owner_group(user, obj))
    )


RULES = {
    # Staff read the schedule; an owner group's members (e.g. a backup tool's service account) read their jobs.
    "job.view": lambda user, obj=None: (
        policy.is_internal(user) or (policy.authenticated(user) and _in_owner_group(user, obj))
    ),
    "job.add": policy.any_of(policy.is_manager, policy.has_role(R.OPERATIONS)),
    "job.change": policy.any_of(policy.is_manager, policy.has_role(R.OPERATIONS)),
    "job.delete": policy.is_manager,
    # Integrations report runs as a member of the owner group (e.g. a service account).
    "job.report_run": _reporter,
    "jobrun.transition.finish": _reporter,
    "jobrun.transition.miss": policy.any_of(policy.is_system, policy.is_manager),
    "backup.view": policy.is_internal,
}
for _action, _rule in RULES.items():
    if _action not in policy.RULES:
        policy.register(_action, _rule)


class JobRun(ConcurrentTransitionMixin, FSMModelMixin, AuditedModel):
    """One run of a job: reported started and finished by the job's tool, or recorded as
    missed when nothing was heard by its expected end. `start`/`end` place it on the
    calendar (the planned time and the expected end until it reports)."""

    job = models.ForeignKey(
        Job, on_delete=models.PROTECT, related_name="runs"
    )  # a job with runs is deactivated, never deleted
    planned_for = models.DateTimeField(
        null=True, blank=True, help_text="The occurrence of the schedule it answers; empty: an extra run."
    )
    start = models.DateTimeField(db_index=True)
    end = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = FSMField(max_length=20, choices=RunStatus.choices, default=RunStatus.RUNNING, protected=True)
    bytes_processed = models.BigIntegerField(null=True, blank=True)
    items_processed = models.BigIntegerField(null=True, blank=True)
    log_excerpt = models.TextField(blank=True)
    cis = models.ManyToManyField(
        ConfigurationItem,
        blank=True,
        related_name="+",
        verbose_name="CIs processed",
        help_text="The target CIs this run works on (all of them unless the start names some).",
    )
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-start", "-id"]
        indexes = [
            models.Index(fields=["job", "-start"], name="jobrun_job_start_idx"),
            models.Index(fields=["status", "start"], name="jobrun_status_start_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "planned_for"], condition=Q(planned_for__isnull=False), name="one_run_per_occurrence"
            ),
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="jobrun_end_after_start"),
            models.CheckConstraint(
                condition=Q(bytes_processed__isnull=True) | Q(bytes_processed__gte=0), name="jobrun_bytes_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(items_processed__isnull=True) | Q(items_processed__gte=0), name="jobrun_items_not_negative"
            ),
        ]

    def __str__(self):
        return f"{self.job} at {self.start:%Y-%m-%d %H:%M} UTC ({self.status})"

    def get_absolute_url(self):
        from django.urls import reverse

        return reverse("job_detail", args=[self.job_id]) + f"#run-{self.pk}"

    @transition(
        field="status",
        source=[RunStatus.RUNNING, RunStatus.MISSED],
        target=RETURN_VALUE(*FINISHED_STATES),
        permission=permission("jobrun.transition.finish"),
        custom={"label": "Report finished", "form": RunFinishForm},
    )
    def finish(
        self,
        *,
        by=None,
        status=None,
        finished_at=None,
        bytes_processed=None,
        items_processed=None,
        log_excerpt="",
        **data,
    ):
        self.finished_at = finished_at or timezone.now()
        if self.started_at is None:
            self.started_at = self.start
        self.end = max(self.finished_at, self.start)
        if bytes_processed is not None:
            self.bytes_processed = bytes_processed
        if items_processed is not None:
            self.items_processed = items_processed
        if log_excerpt:
            self.log_excerpt = bounded_log(log_excerpt)
        return status

    @transition(
        field="status",
        source=RunStatus.RUNNING,
        target=RunStatus.MISSED,
        permission=permission("jobrun.transition.miss"),
        custom={"label": "Mark missed"},
    )
    def miss(self, *, by=None, **data):
        pass


def bounded_log(text: str) -> str:
    text = text or ""
    if len(text) <= LOG_EXCERPT_MAX:
        return text
    marker = "[... earlier lines cut ...]\n"
    return marker + text[-(LOG_EXCERPT_MAX - len(marker)) :]
