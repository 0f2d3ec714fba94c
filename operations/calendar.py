"""The forward schedule of change as one list of calendar items: changes, releases,
maintenance-window occurrences, freeze windows and jobs (their runs, and their planned
occurrences from now on that have no run yet) in a period, restricted to what the
reader may see, optionally filtered by IT service or CI. Used by the calendar page,
`GET /api/v1/schedule/` and the iCalendar feed, in a constant number of queries.

Reads of the Changing quadrant go through its public selectors. A change's conflict marks
with other changes are read as stored on it (changes.conflicts.refresh_marks keeps them on
every write they depend on); freeze marks are judged here, the freezes being few.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q
from django.urls import reverse

from changes import selectors as change_selectors
from changes.choices import ChangeStatus, ChangeType
from changes.conflicts import SCHEDULED_STATES, freeze_marks, overlapping
from mof import policy
from operations import jobs_selectors, selectors
from operations.models_jobs import JobKind, RunStatus

MAX_DAYS = 366
STATUS_LABELS = dict(ChangeStatus.choices)
TYPE_LABELS = dict(ChangeType.choices)
CONFLICT_LABELS = {
    "same_ci": "same CI",
    "impact": "through the CMDB",
    "shared_impact": "shared dependents",
    "implementer": "implementer double-booked",
    "freeze": "change freeze",
}
ITEM_LIMIT = (
    5000  # per kind (a busy month holds ~4,000 changes and as many job runs); `truncated` says when more matched
)


@dataclass(slots=True)  # thousands per month: no per-item __dict__
class CalendarItem:
    kind: str  # change | release | maintenance | freeze | job
    uid: str
    title: str
    start: dt.datetime
    end: dt.datetime
    url: str = ""
    reference: str = ""
    status: str = ""
    status_label: str = ""
    conflicts: list[str] = field(default_factory=list)
    object_id: int | None = None
    description: str = ""

    @property
    def conflict_labels(self) -> str:
        return ", ".join(CONFLICT_LABELS.get(k, k) for k in self.conflicts)


class _ChangeRow:
    """What the calendar reads of a change, with its stored conflict marks."""

    __slots__ = ("pk", "number", "title", "type", "status", "planned_start", "planned_end", "schedule_conflicts")

    def __init__(self, pk, number, title, type_, status, planned_start, planned_end, schedule_conflicts):
        self.pk, self.number, self.title, self.type, self.status = pk, number, title, type_, status
        self.planned_start, self.planned_end, self.schedule_conflicts = planned_start, planned_end, schedule_conflicts

    @property
    def reference(self) -> str:
        return f"CHG-{self.number}"


@dataclass
class Schedule:
    start: dt.datetime
    end: dt.datetime
    items: list[CalendarItem]
    truncated: bool = False

    def of_kind(self, kind):
        return [i for i in self.items if i.kind == kind]


def _json_has_id(field_name: str, value: int, *, in_objects: bool):
    """A Q for 'the JSON list `field_name` holds `value`' ([1, 2] or [{"id": 1}, ...])."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field_name}__contains": [{"id": value}] if in_objects else [value]})
    pattern = rf'"id": {value}[,}}]' if in_objects else rf"[\[ ,]{value}[,\]]"
    return Q(**{f"{field_name}__regex": pattern})


def build(
    *, user, start, end, service=None, ci=None, limit: int = ITEM_LIMIT, marks: bool = True, jobs: bool = True
) -> Schedule:
    """Everything on the schedule overlapping [start, end) that `user` may see."""
    items: list[CalendarItem] = []
    truncated = False

    changes = overlapping(
        change_selectors.visible_changes(user).exclude(status__in=["draft", "rejected", "cancelled"]), start, end
    )
    if service is not None:
        changes = changes.filter(
            Q(affected_cis__services=service) | _json_has_id("affected_services", service.pk, in_objects=True)
        )
    if ci is not None:
        changes = changes.filter(Q(affected_cis=ci) | _json_has_id("impacted_ci_ids", ci.pk, in_objects=False))
    if service is not None or ci is not None:
        changes = changes.distinct()
    # Plain rows, not model instances: a month holds thousands of changes.
    changes = [
        _ChangeRow(*row)
        for row in changes.select_related(None)
        .order_by("planned_start", "pk")
        .values_list("pk", "number", "title", "type", "status", "planned_start", "planned_end", "schedule_conflicts")[
            : limit + 1
        ]
    ]
    if len(changes) > limit:
        changes, truncated = changes[:limit], True
    # Conflict marks are for IT staff; a requester outside IT reads their change's conflicts on the RFC.
    marks = marks and policy.is_internal(user)
    flagged = {}
    if marks:
        # Marks are for the scheduled changes, as before (a change outside those states stores none).
        scheduled = [c for c in changes if c.status in SCHEDULED_STATES]
        flagged = {c.pk: c.schedule_conflicts for c in scheduled if c.schedule_conflicts}
        for pk in freeze_marks(scheduled):
            flagged[pk] = [*flagged.get(pk, ()), "freeze"]
    # Labels and URLs once, not per row (get_FOO_display and reverse() add up at ~1,000 rows).
    change_url = reverse("change_detail", args=[0])[:-2]
    for c in changes:
        items.append(
            CalendarItem(
                "change",
                f"change-{c.pk}@mof-portal",
                f"{c.reference} {c.title}",
                c.planned_start,
                c.planned_end,
                f"{change_url}{c.pk}/",
                c.reference,
                c.status,
                STATUS_LABELS.get(c.status, c.status),
                sorted(flagged.get(c.pk, ())),
                c.pk,
                f"{TYPE_LABELS.get(c.type, c.type)} change, {STATUS_LABELS.get(c.status, c.status).lower()}",
            )
        )

    releases = change_selectors.release_list(user=user).filter(planned_start__lt=end, planned_end__gt=start)
    if service is not None or ci is not None:
        releases = releases.filter(changes__in=[c.pk for c in changes]).distinct()
    releases = list(releases.order_by("planned_start", "pk")[: limit + 1])
    if len(releases) > limit:
        releases, truncated = releases[:limit], True
    for r in releases:
        items.append(
            CalendarItem(
                "release",
                f"release-{r.pk}@mof-portal",
                f"{r.reference} {r.name}",
                r.planned_start,
                r.planned_end,
                reverse("release_detail", args=[r.pk]),
                r.reference,
                r.status,
                r.get_status_display(),
                [],
                r.pk,
                "Release",
            )
        )

    service_ids = ci_ids = None
    if service is not None:
        service_ids, ci_ids = [service.pk], []
    if ci is not None:
        service_ids = (service_ids or []) + list(ci.services.values_list("pk", flat=True))
        ci_ids = [ci.pk]
    occurrences = selectors.maintenance_occurrences(
        user=user, start=start, end=end, service_ids=service_ids, ci_ids=ci_ids
    )
    if len(occurrences) > limit:
        occurrences, truncated = occurrences[:limit], True
    windows_url = reverse("operations_windows")
    for window, occ in occurrences:
        scope = window.service.name if window.service else window.ci.name
        items.append(
            CalendarItem(
                "maintenance",
                f"maintenance-{window.pk}-{occ.start:%Y%m%dT%H%M%SZ}@mof-portal",
                f"Maintenance: {window.name} ({scope})",
                occ.start,
                occ.end,
                f"{windows_url}#window-{window.pk}",
                "",
                "",
                "",
                [],
                window.pk,
                f"Maintenance window of {scope}",
            )
        )

    freezes = selectors.freeze_list(user=user).filter(start__lt=end, end__gt=start).exclude(status="withdrawn")
    if service_ids is not None:
        freezes = freezes.filter(Q(services__isnull=True) | Q(services__in=service_ids)).distinct()
    for f in freezes.order_by("start", "pk")[:limit]:
        names = [s.name for s in f.services.all()]
        items.append(
            CalendarItem(
                "freeze",
                f"freeze-{f.pk}@mof-portal",
                f"Change freeze: {f.name}",
                f.start,
                f.end,
                f.get_absolute_url(),
                f.name,
                f.status,
                f.get_status_display(),
                [],
                f.pk,
                "Applies to " + (", ".join(names) if names else "everything") + (f". {f.reason}" if f.reason else ""),
            )
        )

    if jobs:
        truncated = _job_items(items, user=user, start=start, end=end, service=service, ci=ci, limit=limit) or truncated

    items.sort(key=lambda i: (i.start, i.kind, i.uid))
    return Schedule(start, end, items, truncated)


RUN_LABELS = dict(RunStatus.choices)
KIND_LABELS = dict(JobKind.choices)


def _job_items(items, *, user, start, end, service, ci, limit) -> bool:
    """Job runs overlapping the period, then the planned occurrences from now on that no
    run answers yet: two queries. Returns whether the limit cut them."""
    from django.utils import timezone

    runs = jobs_selectors.calendar_runs(user=user, start=start, end=end, service=service, ci=ci, limit=limit)
    truncated = len(runs) > limit
    runs = runs[:limit]
    job_url = reverse("job_detail", args=[0])[:-2]
    answered = set()
    for pk, run_start, run_end, status, planned_for, job_id, name, kind in runs:
        label = RUN_LABELS.get(status, status)
        if planned_for is not None:
            answered.add((job_id, planned_for))
        items.append(
            CalendarItem(
                "job",
                f"jobrun-{pk}@mof-portal",
                f"{name} ({label.lower()})",
                run_start,
                run_end,
                f"{job_url}{job_id}/#run-{pk}",
                "",
                status,
                label,
                [],
                job_id,
                f"{KIND_LABELS.get(kind, kind)} job run, {label.lower()}",
            )
        )
    planned_from = max(start, timezone.now())
    if planned_from >= end:
        return truncated
    count = len(runs)
    for job in jobs_selectors.calendar_jobs(user=user, service=service, ci=ci):
        length = job.expected_duration
        kind_label = job.get_kind_display()
        for at in job.occurrences(planned_from - length, end):
            if at + length <= planned_from or (job.pk, at) in answered:
                continue
            if count >= limit:
                return True
            count += 1
            items.append(
                CalendarItem(
                    "job",
                    f"job-{job.pk}-{at:%Y%m%dT%H%M%SZ}@mof-portal",
                    f"{job.name} (planned)",
                    at,
                    at + length,
                    f"{job_url}{job.pk}/",
                    "",
                    "planned",
                    "Planned",
                    [],
                    job.pk,
                    f"{kind_label} job, planned ({job.schedule} {job.time_zone})",
                )
            )
    return truncated


def payload(schedule: Schedule) -> dict:
    """The body of GET /api/v1/schedule/ (shape of operations.api.serializers.ScheduleSerializer
    plus `jobs`), built as plain dicts: a month holds thousands of items, and a serializer
    per item costs more than the queries."""
    from django.utils import timezone

    zone = timezone.get_current_timezone()
    seen: dict = {}

    def when(value):
        # As DRF's DateTimeField writes it (current time zone, "Z" for UTC), once per instant.
        text = seen.get(value)
        if text is None:
            text = value.astimezone(zone).isoformat()
            if text.endswith("+00:00"):
                text = text[:-6] + "Z"
            seen[value] = text
        return text

    body = {"start": when(schedule.start), "end": when(schedule.end), "truncated": schedule.truncated}
    groups = {"change": [], "release": [], "maintenance": [], "freeze": [], "job": []}
    for i in schedule.items:
        groups[i.kind].append(
            {
                "kind": i.kind,
                "id": i.object_id,
                "uid": i.uid,
                "reference": i.reference,
                "title": i.title,
                "start": when(i.start),
                "end": when(i.end),
                "status": i.status,
                "url": i.url,
                "conflicts": list(i.conflicts),
            }
        )
    for key, kind in (
        ("changes", "change"),
        ("releases", "release"),
        ("maintenance", "maintenance"),
        ("freezes", "freeze"),
        ("jobs", "job"),
    ):
        body[key] = groups[kind]
    return body


def parse_range(params, *, default_days: int | None = None) -> tuple[dt.datetime, dt.datetime]:
    """`start` and `end` from query parameters: a date (2027-03-01) or an ISO date-time
    (2027-03-01T10:00, with or without offset; without one, the portal's time zone).
    A date-only `end` includes that day. Raises ValidationError with a message per field."""
    from django.core.exceptions import ValidationError
    from django.utils import timezone

    errors, values = {}, {}
    for name in ("start", "end"):
        raw = (params.get(name) or "").strip()
        if not raw:
            if default_days is None:
                errors[name] = ["This parameter is required (YYYY-MM-DD or an ISO 8601 date-time)."]
            continue
        try:
            if DATE_RE.match(raw):
                day = dt.date.fromisoformat(raw)
                if name == "end":
                    day += dt.timedelta(days=1)
                value = dt.datetime.combine(day, dt.time(), tzinfo=timezone.get_current_timezone())
            else:
                # An unencoded "+01:00" arrives as " 01:00".
                value = dt.datetime.fromisoformat(re.sub(r" (\d{2}:?\d{2})$", r"+\1", raw))
                if timezone.is_naive(value):
                    value = timezone.make_aware(value)
        except (ValueError, OverflowError):
            errors[name] = [f"{raw[:40]!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time."]
            continue
        if not 1900 <= value.year < 2900:  # date arithmetic near year 1 or 9999 overflows
            errors[name] = ["Out of range: a date between 1900 and 2899."]
            continue
        values[name] = value
    if default_days is not None and not errors:
        today = dt.datetime.combine(timezone.localdate(), dt.time(), tzinfo=timezone.get_current_timezone())
        values.setdefault("start", today)
        values.setdefault("end", values["start"] + dt.timedelta(days=default_days))
    if not errors:
        if values["end"] <= values["start"]:
            errors["end"] = ["The end must be after the start."]
        elif values["end"] - values["start"] > dt.timedelta(days=MAX_DAYS):
            errors["end"] = [f"The period may span at most {MAX_DAYS} days."]
    if errors:
        raise ValidationError(errors)
    return values["start"], values["end"]


DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- what a reader chooses to see (the page and the iCalendar feed) ------------------------

# The kinds a reader picks from: windows are maintenance windows and change freezes together.
KIND_CHOICES = (("change", "Changes"), ("release", "Releases"), ("window", "Windows and freezes"), ("job", "Job runs"))
_KIND_OF = {"change": "change", "release": "release", "maintenance": "window", "freeze": "window", "job": "job"}
# In a day cell and a day of the list: changes first, then what constrains them, jobs last.
_KIND_RANK = {"change": 0, "release": 1, "freeze": 2, "maintenance": 3, "job": 4}
_RUN_SEVERITY = {"failed": 0, "missed": 1, "partial": 2, "running": 3, "success": 4, "planned": 5}


def parse_kinds(values) -> tuple[set[str], list[str]]:
    """The kinds asked for (?kind=change&kind=job; none: all), and errors for unknown ones."""
    known = dict(KIND_CHOICES)
    wanted = {v for v in values if v}
    errors = [f"Unknown kind {v[:20]!r}: choose from {', '.join(known)}." for v in sorted(wanted - set(known))]
    wanted &= set(known)
    return (wanted or set(known)), errors


def choose(items: list[CalendarItem], *, kinds: set[str], each_run: bool = False) -> list[CalendarItem]:
    """Keep the kinds asked for; unless `each_run`, fold the runs (and planned occurrences)
    of a job into one item per job and local day ("Mailbox backup: 24 runs, 1 failed")."""
    from django.utils import timezone

    kept = [i for i in items if _KIND_OF[i.kind] in kinds]
    if each_run or "job" not in kinds:
        return kept
    folded: dict[tuple, list[CalendarItem]] = {}
    out = []
    for item in kept:
        if item.kind == "job":
            folded.setdefault((item.object_id, timezone.localtime(item.start).date()), []).append(item)
        else:
            out.append(item)
    for (job_id, day), runs in folded.items():
        if len(runs) == 1:
            out.append(runs[0])
            continue
        name = runs[0].title.rsplit(" (", 1)[0]
        counts: dict[str, int] = {}
        for r in runs:
            counts[r.status_label.lower()] = counts.get(r.status_label.lower(), 0) + 1
        worst = min(runs, key=lambda r: _RUN_SEVERITY.get(r.status, 5))
        summary = ", ".join(f"{n} {label}" for label, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        out.append(
            CalendarItem(
                "job",
                f"jobday-{job_id}-{day:%Y%m%d}@mof-portal",
                f"{name}: {len(runs)} runs ({summary})",
                min(r.start for r in runs),
                max(r.end for r in runs),
                runs[0].url.split("#", 1)[0],
                "",
                worst.status,
                worst.status_label,
                [],
                job_id,
                f"{len(runs)} runs on {day:%Y-%m-%d}: {summary}",
            )
        )
    out.sort(key=lambda i: (i.start, i.kind, i.uid))
    return out


def day_order(item: CalendarItem) -> tuple:
    """Within a day: conflicts first, then changes, releases, freezes, windows, jobs."""
    return (not item.conflicts, _KIND_RANK.get(item.kind, 9), item.start)
