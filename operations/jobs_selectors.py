"""Reads of the job schedule: lists, the off-peak flags, backup coverage, the runs and
planned occurrences of the calendar, and the health figures of the Operations Review.

Flags (MOF: maintenance runs off-peak, considering capacity). For the next N days
(MOF_JOB_FLAG_DAYS, default 14) each occurrence [start, start + expected duration) of an
active job is checked against
- the business hours of every IT service its target CIs reach (the `service_ids`
  snapshot: directly and downstream through the CMDB): the calendar of the latest
  version of each active SLA for the service (or for every service), and the service's
  agreed hours; business time comes from slas.engine (cumulative working seconds);
- freeze windows in force that apply to one of those services (or to everything);
- scheduled changes working on one of the job's target CIs.
Flags are grouped per clashing item, with how many runs clash and the first. All jobs
of a page are judged together, in a constant number of queries.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone

from mof import policy
from operations.models_jobs import Job, JobKind, JobRun, RunStatus

UTC = dt.timezone.utc


def flag_days() -> int:
    return int(getattr(settings, "MOF_JOB_FLAG_DAYS", 14))


# --- lists -------------------------------------------------------------------------


def visible_jobs(user, queryset=None):
    """All jobs for staff; the jobs of their groups for anyone else (integration accounts)."""
    qs = Job.objects.all() if queryset is None else queryset
    if policy.is_internal(user):
        return qs
    if policy.authenticated(user):
        return qs.filter(owner_group_id__in=list(user.team_ids))
    return qs.none()


def job_list(*, user):
    return visible_jobs(user).select_related("owner_group").prefetch_related("target_cis")


def job_get(*, user, pk) -> Job:
    return job_list(user=user).get(pk=pk)


def run_list(*, user, job=None):
    qs = JobRun.objects.filter(job__in=visible_jobs(user)).select_related("job", "reported_by", "incident")
    return qs.filter(job=job) if job is not None else qs


def last_runs(job_ids) -> dict[int, JobRun]:
    """The latest run of each job, in one query."""
    latest = JobRun.objects.filter(job=OuterRef("job")).order_by("-start", "-id").values("pk")[:1]
    return {r.job_id: r for r in JobRun.objects.filter(job_id__in=list(job_ids), pk=Subquery(latest))}


# --- the Operations Review's health report ---------------------------------------


def job_health(start, end) -> dict:
    """Job runs due or started in [start, end): counts per job and overall.

    `runs` counts runs with an outcome (succeeded, failed, partly succeeded, missed);
    runs still going are left out. `failed` includes partly succeeded runs. `success_rate`
    is succeeded / runs (a float from 0 to 1), None without runs."""
    finished = [RunStatus.SUCCESS, RunStatus.FAILED, RunStatus.PARTIAL, RunStatus.MISSED]
    rows = (
        JobRun.objects.filter(start__gte=start, start__lt=end, status__in=finished)
        .values("job_id", "job__name")
        .annotate(
            runs=Count("pk"),
            succeeded=Count("pk", filter=Q(status=RunStatus.SUCCESS)),
            failed=Count("pk", filter=Q(status__in=[RunStatus.FAILED, RunStatus.PARTIAL])),
            missed=Count("pk", filter=Q(status=RunStatus.MISSED)),
        )
        .order_by("job__name", "job_id")
    )
    jobs = [
        {
            "job_id": r["job_id"],
            "name": r["job__name"],
            "runs": r["runs"],
            "succeeded": r["succeeded"],
            "failed": r["failed"],
            "missed": r["missed"],
        }
        for r in rows
    ]
    total = {key: sum(j[key] for j in jobs) for key in ("runs", "succeeded", "failed", "missed")}
    total["success_rate"] = total["succeeded"] / total["runs"] if total["runs"] else None
    total["jobs"] = jobs
    return total


# --- flags -------------------------------------------------------------------------


@dataclass
class Flag:
    kind: str  # business_hours | freeze | change
    reason: str
    item: str  # what it clashes with
    url: str = ""
    first: dt.datetime | None = None
    count: int = 0  # how many runs in the horizon clash

    @property
    def label(self) -> str:
        return {"business_hours": "business hours", "freeze": "change freeze", "change": "change on the same CI"}[
            self.kind
        ]


@dataclass
class _Busy:
    """Intervals (epoch seconds, sorted, disjoint) and what they stand for."""

    kind: str
    item: str
    url: str
    reason: str
    intervals: list[tuple[int, int]] = field(default_factory=list)

    def first_overlap(self, s: int, e: int) -> bool:
        i = bisect_right(self.intervals, (e, -1)) - 1
        while i >= 0:
            a, b = self.intervals[i]
            if a < e and b > s:
                return True
            if b <= s:
                return False
            i -= 1
        return False


def _merge(intervals):
    out: list[list[int]] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def business_calendars(service_ids) -> dict[int, list]:
    """{service id: [business calendars]}: the calendar of the latest version of each
    active SLA for the service (or for every service), and the service's agreed hours.
    Two queries, whatever the number of services."""
    from slas.models import AgreementKind, ServiceHours, SLAStatus, SLAVersion

    service_ids = sorted(set(service_ids))
    found: dict[int, dict[int, object]] = {sid: {} for sid in service_ids}
    if not service_ids:
        return {}
    latest = SLAVersion.objects.filter(sla=OuterRef("sla")).order_by("-number").values("pk")[:1]
    versions = (
        SLAVersion.objects.filter(pk=Subquery(latest), sla__status=SLAStatus.ACTIVE, sla__kind=AgreementKind.SLA)
        .filter(Q(service_id__in=service_ids) | Q(service__isnull=True))
        .select_related("calendar")
    )
    for version in versions:
        for sid in [version.service_id] if version.service_id else service_ids:
            if sid in found:
                found[sid][version.calendar_id] = version.calendar
    for hours in ServiceHours.objects.filter(service_id__in=service_ids).select_related("calendar"):
        found[hours.service_id][hours.calendar_id] = hours.calendar
    return {sid: list(cals.values()) for sid, cals in found.items() if cals}


def _epoch(t: dt.datetime) -> int:
    return int(t.timestamp())


def job_flags(jobs, *, now=None, days=None) -> dict[int, list[Flag]]:
    """{job id: flags} for the active jobs among `jobs` over the next `days` days."""
    from changes.conflicts import scheduled_overlapping
    from mof.models import Service
    from operations.models import FreezeWindow
    from operations.selectors import freeze_windows_overlapping
    from slas.engine import engine_for

    now = now or timezone.now()
    horizon_end = now + dt.timedelta(days=days if days is not None else flag_days())
    result: dict[int, list[Flag]] = {j.pk: [] for j in jobs}
    jobs = [j for j in jobs if j.active]
    if not jobs:
        return result
    targets = {j.pk: {c.pk for c in j.target_cis.all()} for j in jobs}  # prefetched by job_list
    service_ids = sorted({sid for j in jobs for sid in (j.service_ids or [])})
    services = dict(Service.objects.filter(pk__in=service_ids).values_list("pk", "name")) if service_ids else {}

    # Business hours: one merged interval list per service.
    hours: dict[int, _Busy] = {}
    window = (now - dt.timedelta(days=8), horizon_end + dt.timedelta(days=1))
    for sid, calendars in business_calendars(service_ids).items():
        runs = _merge(r for cal in calendars for r in engine_for(cal).working_runs(*window))
        names = ", ".join(sorted(c.name for c in calendars))
        hours[sid] = _Busy(
            "business_hours",
            services.get(sid, f"service {sid}"),
            reverse("service_detail", args=[sid]),
            f"inside the business hours of {services.get(sid, sid)} ({names})",
            runs,
        )

    # Freezes in force, with the services they name (none: everything).
    freezes = freeze_windows_overlapping(now, horizon_end + dt.timedelta(days=8))
    scoped: dict[int, set[int]] = {}
    if freezes:
        for fid, sid in FreezeWindow.services.through.objects.filter(
            freezewindow_id__in=[f.pk for f in freezes]
        ).values_list("freezewindow_id", "service_id"):
            scoped.setdefault(fid, set()).add(sid)
    freeze_busy = [
        (
            f,
            _Busy(
                "freeze",
                f.name,
                f.get_absolute_url(),
                f"overlaps the change freeze {f.name}",
                [(_epoch(f.start), _epoch(f.end))],
            ),
        )
        for f in freezes
    ]

    # Scheduled changes on the jobs' CIs.
    all_targets = sorted(set().union(*targets.values()))
    changes: dict[int, _Busy] = {}
    change_cis: dict[int, set[int]] = {}
    if all_targets:
        rows = (
            scheduled_overlapping(now - dt.timedelta(days=8), horizon_end + dt.timedelta(days=8))
            .filter(affected_cis__in=all_targets)
            .values_list("pk", "number", "title", "planned_start", "planned_end", "affected_cis")
        )
        change_url = reverse("change_detail", args=[0])[:-2]
        for pk, number, title, s, e, ci_id in rows:
            change_cis.setdefault(pk, set()).add(ci_id)
            if pk not in changes:
                changes[pk] = _Busy(
                    "change",
                    f"CHG-{number} {title}",
                    f"{change_url}{pk}/",
                    f"overlaps CHG-{number} on the same CI",
                    [(_epoch(s), _epoch(e))],
                )

    for job in jobs:
        candidates = [hours[sid] for sid in (job.service_ids or []) if sid in hours]
        mine = set(job.service_ids or [])
        candidates += [busy for f, busy in freeze_busy if f.pk not in scoped or scoped[f.pk] & mine]
        candidates += [changes[pk] for pk, cis in change_cis.items() if cis & targets[job.pk]]
        if not candidates:
            continue
        length = job.expected_duration_minutes * 60
        # An occurrence that started before now may still be running.
        starts = job.occurrences(now - job.expected_duration, horizon_end)
        found: dict[int, Flag] = {}
        for at in starts:
            s = _epoch(at)
            e = s + length
            for i, busy in enumerate(candidates):
                if busy.first_overlap(s, e):
                    flag = found.get(i)
                    if flag is None:
                        flag = found[i] = Flag(busy.kind, busy.reason, busy.item, busy.url, at, 0)
                    flag.count += 1
        result[job.pk] = sorted(found.values(), key=lambda f: (f.first, f.kind, f.item))
    return result


# --- backup coverage ---------------------------------------------------------------


@dataclass
class Coverage:
    ci_id: int
    ci_name: str
    policy_hours: int
    last_good: dt.datetime | None
    jobs: list[tuple[int, str]]
    at_risk: bool

    @property
    def age_hours(self) -> float | None:
        if self.last_good is None:
            return None
        return (timezone.now() - self.last_good).total_seconds() / 3600


def last_good_backups(ci_ids) -> dict[int, dt.datetime]:
    """{ci id: when its last good backup finished}: successful runs of backup jobs that
    processed the CI. One query."""
    through = JobRun.cis.through
    rows = (
        through.objects.filter(
            configurationitem_id__in=list(ci_ids), jobrun__status=RunStatus.SUCCESS, jobrun__job__kind=JobKind.BACKUP
        )
        .values("configurationitem_id")
        .annotate(last=Max("jobrun__finished_at"))
    )
    return {r["configurationitem_id"]: r["last"] for r in rows}


def backup_coverage(*, user, now=None, ci_ids=None) -> list[Coverage]:
    """Every CI under an active backup job's policy, at risk first (no good backup
    within the strictest policy that covers it). Three queries."""
    from mof.models import ConfigurationItem

    if not policy.can(user, "backup.view"):
        return []
    now = now or timezone.now()
    through = Job.target_cis.through
    links = through.objects.filter(job__active=True, job__kind=JobKind.BACKUP)
    if ci_ids is not None:
        links = links.filter(configurationitem_id__in=list(ci_ids))
    policies: dict[int, int] = {}
    jobs: dict[int, list[tuple[int, str]]] = {}
    for ci_id, job_id, name, hours in links.values_list(
        "configurationitem_id", "job_id", "job__name", "job__backup_max_age_hours"
    ):
        policies[ci_id] = min(policies.get(ci_id, hours), hours)
        jobs.setdefault(ci_id, []).append((job_id, name))
    if not policies:
        return []
    names = dict(
        policy.visible_cis(user, ConfigurationItem.objects.filter(pk__in=list(policies))).values_list("pk", "name")
    )
    good = last_good_backups(names)
    rows = []
    for ci_id, name in names.items():
        last = good.get(ci_id)
        at_risk = last is None or last < now - dt.timedelta(hours=policies[ci_id])
        rows.append(Coverage(ci_id, name, policies[ci_id], last, sorted(jobs[ci_id], key=lambda j: j[1]), at_risk))
    rows.sort(key=lambda r: (not r.at_risk, r.last_good or dt.datetime.min.replace(tzinfo=UTC), r.ci_name))
    return rows


# --- the calendar ------------------------------------------------------------------


def calendar_runs(*, user, start, end, service=None, ci=None, limit: int):
    """Runs overlapping [start, end) the user may see, as rows (pk, start, end, status,
    planned_for, job id, job name, job kind): one query."""
    qs = (
        JobRun.objects.none()
        if not policy.can(user, "job.view")
        else JobRun.objects.filter(start__lt=end, end__gt=start)
    )
    qs = _scoped(qs, "job__", service, ci)
    return list(
        qs.order_by("start", "pk").values_list(
            "pk", "start", "end", "status", "planned_for", "job_id", "job__name", "job__kind"
        )[: limit + 1]
    )


def calendar_jobs(*, user, service=None, ci=None):
    """Active jobs the user may see, narrowed like the calendar: one query."""
    if not policy.can(user, "job.view"):
        return []
    qs = _scoped(Job.objects.filter(active=True), "", service, ci)
    return list(qs.only("id", "name", "kind", "schedule", "time_zone", "expected_duration_minutes").order_by("pk"))


def _scoped(qs, prefix, service, ci):
    from django.db import connection

    if service is not None:
        if connection.vendor == "postgresql":
            qs = qs.filter(**{f"{prefix}service_ids__contains": [service.pk]})
        else:
            qs = qs.filter(**{f"{prefix}service_ids__regex": rf"[\[ ,]{service.pk}[,\]]"})
    if ci is not None:
        qs = qs.filter(**{f"{prefix}target_cis": ci}).distinct()
    return qs
