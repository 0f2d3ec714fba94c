"""Conflict detection for the forward schedule of change.

`conflicts_for(change)` lists what stands in the way of the change's planned period:

- another scheduled change overlapping in time that works on the same CI (`same_ci`), or
  whose CIs lie in this change's impact set or the other way round (`impact`): the
  impact set is everything downstream of a change's CIs (the `impacted_ci_ids` snapshot
  taken when the change is assessed, else computed now through the CMDB), so a change
  to an application two hops above a storage array conflicts with a change to the array;
- another overlapping change whose impact set shares CIs with this one although neither
  works on the other's (`shared_impact`, a warning: the same services are hit twice);
- the same implementer booked on two overlapping changes (`implementer`);
- a freeze window in force (`freeze`): blocking for normal and standard changes (the
  schedule transition refuses them), a warning for emergency ones;
- a planned period outside the maintenance windows of a service the change affects or
  of one of its CIs (`maintenance`, a warning).

Only changes in a scheduled-ish state count as "other changes" (SCHEDULED_STATES).

How it stays fast (50,000 scheduled changes, a CI with tens of thousands of dependents):
the other changes come from one indexed time-overlap query ((status, planned_start)
index, bounded by `planned_end > start`), so only the few that overlap are looked at;
their CIs come in one query, and the impact sets are intersected in memory as Python
sets.

The forward schedule shows thousands of changes at once, so each scheduled change stores
the kinds of its collisions with other changes (`schedule_conflicts`: same_ci, impact,
shared_impact, implementer), computed by `conflict_marks()` and kept by `refresh_marks()`
on every write they depend on: a change entering, leaving or moving within the scheduled
states (the transition door, changes.receivers), a new implementer, a new
impact snapshot (changes.services). Each refresh recomputes the change and the scheduled
changes overlapping where it was and where it is, under one PostgreSQL advisory lock so
that concurrent schedulings see each other. Freezes are judged when read (few, and their
edits then need no refresh); `manage.py refresh_conflict_marks` recomputes everything
after a bulk load.

`next_free_slots(change)` suggests the next start times, with the same duration, that
avoid all of the above, preferring slots inside the maintenance windows.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from changes.choices import ChangeStatus, ChangeType
from operations import schedule
from operations import selectors as operations_selectors

SCHEDULED_STATES = [
    ChangeStatus.APPROVED,
    ChangeStatus.SCHEDULED,
    ChangeStatus.IN_DEVELOPMENT,
    ChangeStatus.IN_TEST,
    ChangeStatus.TESTED,
    ChangeStatus.READY,
    ChangeStatus.IMPLEMENTING,
]

BLOCKING = "blocking"  # the schedule transition refuses it
CONFLICT = "conflict"  # two changes collide: the CAB must resolve it
WARNING = "warning"  # allowed, but on record
SEVERITY_ORDER = {BLOCKING: 0, CONFLICT: 1, WARNING: 2}

SLOT_STEP = dt.timedelta(minutes=15)
DEFAULT_DURATION = dt.timedelta(hours=1)
NAMES_SHOWN = 5


@dataclass
class Conflict:
    kind: str  # same_ci | impact | shared_impact | implementer | freeze | maintenance
    severity: str  # blocking | conflict | warning
    message: str
    other_reference: str = ""
    other_url: str = ""
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class FreeSlot:
    start: dt.datetime
    end: dt.datetime
    outside_maintenance_window: bool  # True only when the change has maintenance windows and this slot misses them

    def as_dict(self) -> dict:
        return asdict(self)


def freeze_windows_overlapping(start, end, *, service_ids=None):
    """Approved or active freeze windows overlapping [start, end); with `service_ids`,
    only global freezes and those naming one of them (see freezes_for)."""
    if not (start and end):
        return []
    return operations_selectors.freeze_windows_overlapping(start, end, service_ids=service_ids)


def freezes_for(change, start=None, end=None):
    """The freezes in force over the change's planned period that apply to it: global
    ones and those naming a service it affects."""
    return freeze_windows_overlapping(
        start or change.planned_start, end or change.planned_end, service_ids=_Subject(change).service_ids
    )


# --- the change under study ----------------------------------------------------------


class _Subject:
    """What conflict detection needs to know about one change, read once."""

    def __init__(self, change):
        from mof.models import ConfigurationItem

        self.change = change
        self.pk = change.pk
        self.type = change.type
        self.implementer_id = change.implementer_id
        self.ci_ids = set(change.affected_cis.values_list("pk", flat=True)) if change.pk else set()
        self.impact = impact_set(change.impacted_ci_ids, self.ci_ids)
        # The services it affects: the snapshot's, else those of its impact set now.
        services = {s["id"] for s in (change.affected_services or []) if isinstance(s, dict) and "id" in s}
        reach = self.ci_ids if (change.affected_services or change.impacted_ci_ids) else self.impact
        if reach:
            through = ConfigurationItem.services.through
            services |= set(
                through.objects.filter(configurationitem_id__in=sorted(reach)).values_list("service_id", flat=True)
            )
        self.service_ids = services


def impact_set(snapshot, ci_ids) -> set[int]:
    """The change's CIs and everything downstream of them: the snapshot when there is
    one, else computed now through the CMDB (mof.impact)."""
    if snapshot:
        return set(snapshot) | set(ci_ids)
    if not ci_ids:
        return set()
    from mof import impact

    return set(impact.reach(sorted(ci_ids), impact.DOWNSTREAM))


def scheduled_overlapping(start, end):
    """Scheduled-ish changes overlapping [start, end), as a queryset whose plan is a
    narrow range scan of the (status, planned_start) index.

    `planned_start < end AND planned_end > start` alone misleads PostgreSQL: it takes
    the two conditions as independent, expects thousands of rows and walks the whole
    planned_end index (every future change). So the overlap is first bounded below by
    the earliest start of a change still running at `start` (one index-ordered look-up
    that stops at the first hit), which turns it into a range on planned_start."""
    from changes.models import RequestForChange

    return overlapping(RequestForChange.objects.filter(status__in=SCHEDULED_STATES), start, end)


def overlapping(queryset, start, end):
    """`queryset` narrowed to changes overlapping [start, end), bounded below as above."""
    base = queryset.filter(planned_start__lt=end, planned_end__gt=start)
    earliest = base.order_by("planned_start").values_list("planned_start", flat=True).first()
    if earliest is None:
        return base.none()
    return base.filter(planned_start__gte=earliest)


def _others(subject, start, end, *, snapshots: bool = True):
    """Scheduled changes overlapping [start, end) other than the subject, each with its
    CIs and impact set: one indexed range query and one query for their CIs. Without
    `snapshots` the impact snapshots are not read (see _fill_snapshots)."""
    from django.db.models import BooleanField, Value

    from changes.models import RequestForChange

    qs = scheduled_overlapping(start, end)
    if subject.pk:
        qs = qs.exclude(pk=subject.pk)
    snapshot = "impacted_ci_ids" if snapshots else Value(None, output_field=BooleanField())
    rows = list(
        qs.order_by("planned_start", "pk").values_list(
            "pk", "number", "title", "type", "implementer_id", "planned_start", "planned_end", snapshot
        )
    )
    if not rows:
        return []
    through = RequestForChange.affected_cis.through
    cis: dict[int, set[int]] = {}
    ids = [row[0] for row in rows]
    for chunk in range(0, len(ids), 5000):
        for change_id, ci_id in through.objects.filter(requestforchange_id__in=ids[chunk : chunk + 5000]).values_list(
            "requestforchange_id", "configurationitem_id"
        ):
            cis.setdefault(change_id, set()).add(ci_id)
    return [
        _Other(pk, f"CHG-{number}", title, type_, implementer_id, s, e, cis.get(pk, set()), snapshot)
        for pk, number, title, type_, implementer_id, s, e, snapshot in rows
    ]


def _fill_snapshots(others) -> None:
    """Read the impact snapshots of `others` (one query per 5,000)."""
    from changes.models import RequestForChange

    by_id = {o.pk: o for o in others}
    ids = sorted(by_id)
    for chunk in range(0, len(ids), 5000):
        for pk, snapshot in RequestForChange.objects.filter(pk__in=ids[chunk : chunk + 5000]).values_list(
            "pk", "impacted_ci_ids"
        ):
            by_id[pk]._snapshot, by_id[pk]._impact = snapshot, None


class _Other:
    __slots__ = ("pk", "reference", "title", "type", "implementer_id", "start", "end", "ci_ids", "_snapshot", "_impact")

    def __init__(self, pk, reference, title, type_, implementer_id, start, end, ci_ids, snapshot):
        self.pk, self.reference, self.title, self.type = pk, reference, title, type_
        self.implementer_id, self.start, self.end, self.ci_ids = implementer_id, start, end, ci_ids
        self._snapshot, self._impact = snapshot, None

    @property
    def impact(self) -> set[int]:
        if self._impact is None:
            self._impact = impact_set(self._snapshot, self.ci_ids)
        return self._impact

    @property
    def url(self) -> str:
        return reverse("change_detail", args=[self.pk])


def _relation(subject, other):
    """(kind, CI ids that explain it) for how `other` collides with the subject, or None."""
    same = subject.ci_ids & other.ci_ids
    if same:
        return "same_ci", same
    theirs_in_ours = other.ci_ids & subject.impact
    if theirs_in_ours:
        return "impact", theirs_in_ours
    if subject.ci_ids and not subject.ci_ids.isdisjoint(other.impact):
        return "impact_reverse", subject.ci_ids & other.impact
    if subject.impact and not subject.impact.isdisjoint(other.impact):
        return "shared_impact", subject.impact & other.impact
    return None


# --- conflicts ---------------------------------------------------------------------


def conflicts_for(change) -> list[Conflict]:
    """Everything that conflicts with the change's planned period, most severe first."""
    start, end = change.planned_start, change.planned_end
    if not (start and end and start < end):
        return []
    subject = _Subject(change)
    found: list[Conflict] = []
    relations = []
    for other in _others(subject, start, end):
        relation = _relation(subject, other)
        if relation is not None:
            relations.append((other, *relation))
        if subject.implementer_id and other.implementer_id == subject.implementer_id:
            found.append(
                Conflict(
                    "implementer",
                    CONFLICT,
                    f"The implementer is also booked on {other.reference} ({_period(other.start, other.end)}).",
                    other.reference,
                    other.url,
                    {
                        "change_id": other.pk,
                        "implementer_id": subject.implementer_id,
                        "start": other.start,
                        "end": other.end,
                    },
                )
            )
    names = _ci_names({ci for _, _, ids in relations for ci in sorted(ids)[:NAMES_SHOWN]})
    for other, kind, ids in relations:
        found.append(_change_conflict(other, kind, ids, names))
    found.extend(_freeze_conflicts(subject, start, end))
    found.extend(_maintenance_conflicts(subject, start, end))
    found.sort(key=lambda c: SEVERITY_ORDER.get(c.severity, 9))
    return found


def redact_for(conflicts: list[Conflict], user) -> list[Conflict]:
    """The conflicts as `user` may read them: a change they may not see, a freeze or the
    CMDB they may not read is named only as such (a requester outside IT still learns
    that their change collides, not with what)."""
    from changes.selectors import visible_changes
    from mof import policy

    ids = {c.detail.get("change_id") for c in conflicts if c.detail.get("change_id")}
    visible = set(visible_changes(user).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    sees_cmdb = policy.is_internal(user)
    out = []
    for c in conflicts:
        if c.detail.get("change_id") and c.detail["change_id"] not in visible:
            text = {"implementer": "The implementer is also booked on another change at that time."}.get(
                c.kind,
                "Another scheduled change at the same time touches what this change touches, or what depends on it.",
            )
            c = Conflict(c.kind, c.severity, text, "", "", {"start": c.detail.get("start"), "end": c.detail.get("end")})
        elif c.kind == "freeze" and not policy.can(user, "freeze.view"):
            text = "Inside a change freeze" + (
                ": allowed for an emergency change, and recorded." if c.severity == WARNING else "."
            )
            c = Conflict(c.kind, c.severity, text, "", "", {"start": c.detail.get("start"), "end": c.detail.get("end")})
        elif not sees_cmdb and c.detail.get("cis"):
            how = {
                "same_ci": "works on the same configuration items",
                "impact": "works on configuration items that depend on one another with this change's",
            }.get(c.kind, "reaches the same dependent configuration items")
            when = _period(c.detail["start"], c.detail["end"]) if c.detail.get("start") and c.detail.get("end") else ""
            c = Conflict(
                c.kind,
                c.severity,
                f"{c.other_reference} {how} ({when}).",
                c.other_reference,
                c.other_url,
                {k: v for k, v in c.detail.items() if k != "cis"},
            )
        out.append(c)
    return out


def _ci_names(ids) -> dict[int, str]:
    from mof.models import ConfigurationItem

    return dict(ConfigurationItem.objects.filter(pk__in=list(ids)).values_list("pk", "name")) if ids else {}


def _named(ids, names) -> str:
    shown = sorted(ids)[:NAMES_SHOWN]
    text = ", ".join(names.get(i, f"CI {i}") for i in shown)
    return text + (f" and {len(ids) - len(shown)} more" if len(ids) > len(shown) else "")


def _change_conflict(other, kind, ids, names) -> Conflict:
    when = _period(other.start, other.end)
    ci_list = [{"id": i, "name": names.get(i, "")} for i in sorted(ids)[:NAMES_SHOWN]]
    detail = {"change_id": other.pk, "cis": ci_list, "ci_count": len(ids), "start": other.start, "end": other.end}
    if kind == "same_ci":
        message = f"{other.reference} {other.title} also works on {_named(ids, names)} ({when})."
        return Conflict("same_ci", CONFLICT, message, other.reference, other.url, detail)
    if kind == "impact":
        message = f"{other.reference} {other.title} works on {_named(ids, names)}, which depend(s) on what this change touches ({when})."
        return Conflict(
            "impact", CONFLICT, message, other.reference, other.url, {**detail, "direction": "theirs_depend_on_ours"}
        )
    if kind == "impact_reverse":
        message = f"{other.reference} {other.title} works on something {_named(ids, names)} depend(s) on ({when})."
        return Conflict(
            "impact", CONFLICT, message, other.reference, other.url, {**detail, "direction": "ours_depend_on_theirs"}
        )
    message = f"{other.reference} {other.title} reaches {len(ids)} of the same dependent CIs ({_named(ids, names)}) at the same time ({when})."
    return Conflict("shared_impact", WARNING, message, other.reference, other.url, detail)


def _freeze_conflicts(subject, start, end) -> list[Conflict]:
    found = []
    for freeze in freeze_windows_overlapping(start, end, service_ids=subject.service_ids):
        emergency = subject.type == ChangeType.EMERGENCY
        message = f"Inside the change freeze {freeze.name} ({_period(freeze.start, freeze.end)})" + (
            ": allowed for an emergency change, and recorded."
            if emergency
            else ": a normal or standard change cannot be scheduled there."
        )
        found.append(
            Conflict(
                "freeze",
                WARNING if emergency else BLOCKING,
                message,
                freeze.name,
                freeze.get_absolute_url(),
                {"freeze_id": freeze.pk, "start": freeze.start, "end": freeze.end, "status": freeze.status},
            )
        )
    return found


def _scopes(subject, windows):
    """{(kind, id): (label, [windows])} for each service / CI that has maintenance windows."""
    scopes: dict[tuple, tuple[str, list]] = {}
    for w in windows:
        if w.service_id in subject.service_ids:
            scopes.setdefault(("service", w.service_id), (f"IT service {w.service.name}", []))[1].append(w)
        if w.ci_id in subject.ci_ids:
            scopes.setdefault(("ci", w.ci_id), (f"CI {w.ci.name}", []))[1].append(w)
    return scopes


def _maintenance_conflicts(subject, start, end) -> list[Conflict]:
    windows = operations_selectors.maintenance_windows_for(service_ids=subject.service_ids, ci_ids=subject.ci_ids)
    found = []
    for (kind, pk), (label, scoped) in sorted(_scopes(subject, windows).items()):
        merged = schedule.merge((o.start, o.end) for w in scoped for o in schedule.occurrences(w, start, end))
        if not schedule.contains(merged, start, end):
            found.append(
                Conflict(
                    "maintenance",
                    WARNING,
                    f"Planned outside the maintenance windows of {label}: "
                    + "; ".join(schedule.describe(w) for w in scoped)
                    + ".",
                    "",
                    "",
                    {"scope": kind, "id": pk, "windows": [w.pk for w in scoped]},
                )
            )
    return found


def _period(start, end) -> str:
    start, end = timezone.localtime(start), timezone.localtime(end)
    return (
        f"{start:%Y-%m-%d %H:%M} to {end:%H:%M}"
        if start.date() == end.date()
        else f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"
    )


# --- next free slots ---------------------------------------------------------------------


def next_free_slots(change, count: int = 3, horizon_days: int = 30, *, after=None) -> list[FreeSlot]:
    """The next `count` start times (keeping the change's planned duration) within
    `horizon_days` that avoid every conflict: no colliding change, no double-booked
    implementer, no freeze in force. Slots inside the maintenance windows of the
    services and CIs the change affects come first; only if there are too few of those
    are slots outside them offered. Suggested slots do not overlap one another."""
    duration = (
        (change.planned_end - change.planned_start)
        if (change.planned_start and change.planned_end and change.planned_end > change.planned_start)
        else DEFAULT_DURATION
    )
    first = _round_up(after or timezone.now())
    last = first + dt.timedelta(days=horizon_days)
    subject = _Subject(change)

    busy, undecided = [], []
    # Cheap tests first (their CIs, the implementer); impact snapshots only for the rest.
    for other in _others(subject, first, last + duration, snapshots=False):
        if (subject.implementer_id and other.implementer_id == subject.implementer_id) or not other.ci_ids.isdisjoint(
            subject.impact
        ):
            busy.append((other.start, other.end))
        else:
            undecided.append(other)
    _fill_snapshots(undecided)
    for other in undecided:
        if _relation(subject, other) is not None:
            busy.append((other.start, other.end))
    busy.extend(
        (f.start, f.end) for f in freeze_windows_overlapping(first, last + duration, service_ids=subject.service_ids)
    )
    busy = schedule.merge(busy)

    windows = operations_selectors.maintenance_windows_for(service_ids=subject.service_ids, ci_ids=subject.ci_ids)
    allowed = None
    for _, scoped in _scopes(subject, windows).values():
        merged = schedule.merge(
            (o.start, o.end) for w in scoped for o in schedule.occurrences(w, first, last + duration)
        )
        allowed = merged if allowed is None else schedule.intersect(allowed, merged)

    slots = _find_slots(first, last, duration, busy, allowed, count, outside=False) if allowed is not None else []
    if len(slots) < count:
        taken = schedule.merge([(s.start, s.end) for s in slots])
        extra = _find_slots(
            first, last, duration, schedule.merge(busy + taken), None, count - len(slots), outside=allowed is not None
        )
        slots = sorted(slots + extra, key=lambda s: s.start)
    return slots


def _round_up(moment):
    moment = moment.replace(second=0, microsecond=0) + (
        dt.timedelta(minutes=1) if moment.second or moment.microsecond else dt.timedelta()
    )
    remainder = (moment.minute * 60) % int(SLOT_STEP.total_seconds())
    return moment + dt.timedelta(seconds=(int(SLOT_STEP.total_seconds()) - remainder) % int(SLOT_STEP.total_seconds()))


def _find_slots(first, last, duration, busy, allowed, count, *, outside):
    """Earliest non-overlapping slots: a free start is always `first`, the end of a busy
    period, the start of an allowed period or the end of the previous slot."""
    slots = []
    cursor = first
    candidates = {first} | {e for _, e in busy} | ({s for s, _ in allowed} if allowed else set())
    ordered = sorted(c for c in candidates if first <= c <= last)
    while len(slots) < count:
        chosen = None
        for c in ordered:
            if c < cursor:
                continue
            if schedule.overlaps(busy, c, c + duration):
                continue
            if allowed is not None and not schedule.contains(allowed, c, c + duration):
                continue
            chosen = c
            break
        if chosen is None:
            break
        slots.append(FreeSlot(chosen, chosen + duration, outside))
        cursor = chosen + duration
        if cursor not in candidates:
            candidates.add(cursor)
            ordered = sorted(c for c in candidates if first <= c <= last)
    return slots


# --- many changes at once (the calendar) ---------------------------------------------------

# pg_advisory_xact_lock key of the marks refreshes ("MOFmarks" in ASCII).
MARKS_LOCK = int.from_bytes(b"MOFmarks", "big") & (2**63 - 1)
REFRESH_CHUNK = 2_000


def conflict_marks(changes, *, freezes: bool = True) -> dict[int, set[str]]:
    """{change id: conflict kinds} for a list of changes, against every scheduled change,
    in a constant number of queries. Impact sets are the snapshots plus the changes' own
    CIs: no CMDB walk here. Maintenance windows are not judged; freeze windows only with
    `freezes`. The stored marks (refresh_marks) are this without freezes."""
    from changes.models import RequestForChange

    changes = [c for c in changes if c.planned_start and c.planned_end and c.planned_start < c.planned_end]
    if not changes:
        return {}
    start = min(c.planned_start for c in changes)
    end = max(c.planned_end for c in changes)
    pool = scheduled_overlapping(start, end)
    rows = {
        pk: (s, e, implementer, snapshot)
        for pk, s, e, implementer, snapshot in pool.values_list(
            "pk", "planned_start", "planned_end", "implementer_id", "impacted_ci_ids"
        )
    }
    for c in changes:  # the listed changes themselves, whatever their state (read only if not in the pool)
        if c.pk not in rows:
            rows[c.pk] = (c.planned_start, c.planned_end, c.implementer_id, c.impacted_ci_ids)
    listed = {c.pk for c in changes}
    through = RequestForChange.affected_cis.through
    cis: dict[int, set[int]] = {}
    ids = sorted(set(rows) | listed)
    for chunk in range(0, len(ids), 5000):
        for change_id, ci_id in through.objects.filter(requestforchange_id__in=ids[chunk : chunk + 5000]).values_list(
            "requestforchange_id", "configurationitem_id"
        ):
            cis.setdefault(change_id, set()).add(ci_id)

    marks: dict[int, set[str]] = {pk: set() for pk in listed}
    empty: frozenset[int] = frozenset()
    own = {pk: cis.get(pk, empty) for pk in rows}
    impact = {pk: set(row[3] or ()) | own[pk] for pk, row in rows.items()}
    ordered = sorted(rows.items(), key=lambda item: item[1][0])
    active: dict[int, None] = {}  # the changes still running at the sweep's time (insertion-ordered)
    ends: list[tuple] = []  # heap of (planned end, id) of the active ones
    for pk, (s, e, implementer, _snapshot) in ordered:  # sweep: pairs overlapping in time
        while ends and ends[0][0] <= s:
            active.pop(heapq.heappop(ends)[1], None)
        pk_listed = pk in listed
        mine, reach = own[pk], impact[pk]
        for other in active:
            other_listed = other in listed
            if not (pk_listed or other_listed):
                continue
            kind = None
            # Own CIs are part of the impact sets: disjoint impacts rule out every kind at once,
            # which is the common case and costs one set test.
            their_reach = impact[other]
            if not reach.isdisjoint(their_reach):
                theirs = own[other]
                if not mine.isdisjoint(theirs):
                    kind = "same_ci"
                elif not mine.isdisjoint(their_reach) or not theirs.isdisjoint(reach):
                    kind = "impact"
                else:
                    kind = "shared_impact"
            same_implementer = bool(implementer) and rows[other][2] == implementer
            if kind or same_implementer:
                for a, is_listed in ((pk, pk_listed), (other, other_listed)):
                    if is_listed:
                        if kind:
                            marks[a].add(kind)
                        if same_implementer:
                            marks[a].add("implementer")
        active[pk] = None
        heapq.heappush(ends, (e, pk))

    if freezes:
        for pk in freeze_marks(changes):
            marks[pk].add("freeze")
    return marks


def freeze_marks(changes) -> set[int]:
    """The ids of `changes` planned inside a freeze in force that applies to them (a global
    one, or one naming a service of their impact snapshot): at most three queries, the
    snapshots read only for changes overlapping a service-scoped freeze."""
    from changes.models import RequestForChange
    from operations.models import FreezeWindow

    changes = [c for c in changes if c.planned_start and c.planned_end and c.planned_start < c.planned_end]
    if not changes:
        return set()
    freezes = list(
        freeze_windows_overlapping(min(c.planned_start for c in changes), max(c.planned_end for c in changes))
    )
    if not freezes:
        return set()
    scoped: dict[int, set[int]] = {}
    for freeze_id, service_id in FreezeWindow.services.through.objects.filter(
        freezewindow_id__in=[f.pk for f in freezes]
    ).values_list("freezewindow_id", "service_id"):
        scoped.setdefault(freeze_id, set()).add(service_id)
    hit: dict[int, list] = {}
    for c in changes:
        overlapping_freezes = [f for f in freezes if f.start < c.planned_end and f.end > c.planned_start]
        if overlapping_freezes:
            hit[c.pk] = overlapping_freezes
    found = {pk for pk, fs in hit.items() if any(f.pk not in scoped for f in fs)}
    pending = sorted(pk for pk in hit if pk not in found)
    for chunk in range(0, len(pending), 5000):
        for pk, services in RequestForChange.objects.filter(pk__in=pending[chunk : chunk + 5000]).values_list(
            "pk", "affected_services"
        ):
            ids = {x["id"] for x in (services or []) if isinstance(x, dict) and "id" in x}
            if any(scoped[f.pk] & ids for f in hit[pk]):
                found.add(pk)
    return found


# --- stored marks -------------------------------------------------------------------------


def lock_marks() -> None:
    """Serialise the refreshes of stored marks until the transaction ends (PostgreSQL; SQLite
    serialises writers itself). Taken before reading the pool, so of two changes scheduled
    at once into overlapping periods the second refresh (READ COMMITTED) sees the first's
    rows and marks both; and taken before any change row is locked (the transition door asks
    changes.receivers.lock_schedule_marks), so a refresh never waits on a row another refresh
    holds while that one waits for this lock."""
    from django.db import connection

    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [MARKS_LOCK])


class _Planned:
    """What conflict_marks reads of a change listed from the pool (the rest comes with the pool)."""

    __slots__ = ("pk", "planned_start", "planned_end", "implementer_id", "impacted_ci_ids")

    def __init__(self, pk, planned_start, planned_end):
        self.pk, self.planned_start, self.planned_end = pk, planned_start, planned_end
        self.implementer_id = self.impacted_ci_ids = None


def refresh_marks(*, change_ids=(), periods=()) -> dict[int, list[str]]:
    """Recompute and store the marks of `change_ids` and of every scheduled change overlapping
    one of `periods` ((start, end) pairs: where a change was and is planned), in one UPDATE
    of those whose marks differ. A change outside SCHEDULED_STATES gets none. Returns
    {change id: kinds} for every change looked at."""
    from changes.models import RequestForChange

    with transaction.atomic():
        lock_marks()
        # One group per period, computed apart: a change moved a month away must not make
        # conflict_marks read every change planned in between.
        groups, seen = [], set()
        for start, end in periods:
            if start and end and start < end:
                ids = set(scheduled_overlapping(start, end).values_list("pk", flat=True)) - seen
                seen |= ids
                groups.append(ids)
        groups.append({pk for pk in change_ids if pk} - seen)
        ids = sorted(seen | groups[-1])
        rows = {}
        for chunk in range(0, len(ids), REFRESH_CHUNK):
            for row in RequestForChange.objects.filter(pk__in=ids[chunk : chunk + REFRESH_CHUNK]).values_list(
                "pk", "status", "planned_start", "planned_end", "schedule_conflicts"
            ):
                rows[row[0]] = row
        new: dict[int, list[str]] = {}
        for group in groups:
            part = sorted(
                (rows[pk] for pk in group if pk in rows), key=lambda row: (row[2] is None, row[2] or 0, row[0])
            )
            for chunk in range(0, len(part), REFRESH_CHUNK):
                new.update(_compute(part[chunk : chunk + REFRESH_CHUNK]))
        _write(list(rows.values()), new)
        return new


@functools.lru_cache(maxsize=None)
def transition_moves_schedule(model, name: str) -> bool:
    """Whether transition `name` may enter or leave SCHEDULED_STATES (unknown: assume it may)."""
    meta = getattr(getattr(model, name, None), "_django_fsm", None)
    if meta is None:
        return True
    scheduled = {str(s) for s in SCHEDULED_STATES}
    for source, t in meta.transitions.items():
        states = {str(source), str(t.target)} | {str(x) for x in (getattr(t.target, "allowed_states", None) or ())}
        if source in ("*", "+") or t.target is None or not isinstance(t.target, str) or states & scheduled:
            return True
    return False


def refresh_marks_around(change, *, before=None) -> list[str]:
    """After a write to `change` (a transition, a new implementer, a new impact snapshot):
    refresh its marks and those of the scheduled changes overlapping where it was and where
    it is now. `before` is (status, planned_start, planned_end) as stored before the write;
    by default as the instance was loaded. Sets and returns the change's marks."""
    status, start, end = (
        before or getattr(change, "_stored_schedule", None) or (change.status, change.planned_start, change.planned_end)
    )
    was, now = status in SCHEDULED_STATES, change.status in SCHEDULED_STATES
    if not (was or now or change.schedule_conflicts):
        return change.schedule_conflicts
    periods = ([(start, end)] if was else []) + ([(change.planned_start, change.planned_end)] if now else [])
    change.schedule_conflicts = refresh_marks(change_ids=[change.pk], periods=periods).get(change.pk, [])
    change._stored_schedule = (change.status, change.planned_start, change.planned_end)
    return change.schedule_conflicts


def refresh_all_marks(*, progress=None) -> tuple[int, int]:
    """Recompute every stored mark (after bulk loads, or to repair): clears those outside
    SCHEDULED_STATES, then walks the scheduled changes in planned-start order, REFRESH_CHUNK
    at a time (each chunk compared against the whole pool overlapping it). Returns
    (scheduled changes looked at, changes whose marks changed); `progress(done, total)` after each chunk."""
    from changes.models import RequestForChange

    with transaction.atomic():
        lock_marks()
        cleared = 0
        stale = list(
            RequestForChange.objects.exclude(status__in=SCHEDULED_STATES)
            .exclude(schedule_conflicts=[])
            .values_list("pk", flat=True)
        )
        for chunk in range(0, len(stale), REFRESH_CHUNK):
            cleared += RequestForChange.objects.filter(pk__in=stale[chunk : chunk + REFRESH_CHUNK]).update(
                schedule_conflicts=[]
            )
        scheduled = RequestForChange.objects.filter(status__in=SCHEDULED_STATES)
        rows = list(
            scheduled.order_by("planned_start", "pk").values_list(
                "pk", "status", "planned_start", "planned_end", "schedule_conflicts"
            )
        )
        changed = 0
        for chunk in range(0, len(rows), REFRESH_CHUNK):
            part = rows[chunk : chunk + REFRESH_CHUNK]
            before = {pk: stored for pk, *_rest, stored in part}
            after = _compute(part)
            _write(part, after)
            changed += sum(1 for pk, kinds in after.items() if kinds != before[pk])
            if progress is not None:
                progress(min(chunk + REFRESH_CHUNK, len(rows)), len(rows))
        return len(rows), changed + cleared


def _compute(rows) -> dict[int, list[str]]:
    """The marks of `rows` ((pk, status, start, end, stored kinds)) by conflict_marks."""
    listed = [_Planned(pk, s, e) for pk, status, s, e, _stored in rows if status in SCHEDULED_STATES]
    computed = conflict_marks(listed, freezes=False)
    return {pk: sorted(computed.get(pk, ())) for pk, *_rest in rows}


def _write(rows, new) -> None:
    """Store `new` marks where they differ from the rows' stored ones: one UPDATE, a CASE
    over the few distinct sets of kinds (at most 16)."""
    from django.db.models import Case, JSONField, Value, When

    from changes.models import RequestForChange

    by_kinds: dict[tuple, list[int]] = {}
    for pk, *_rest, stored in rows:
        if pk in new and new[pk] != list(stored or ()):
            by_kinds.setdefault(tuple(new[pk]), []).append(pk)
    if by_kinds:
        whens = [When(pk__in=pks, then=Value(list(kinds), output_field=JSONField())) for kinds, pks in by_kinds.items()]
        RequestForChange.objects.filter(pk__in=[pk for pks in by_kinds.values() for pk in pks]).update(
            schedule_conflicts=Case(*whens, output_field=JSONField())
        )
