"""Availability management: selectors (the figures) and services (the writes).

Availability of a service over a period, in exact seconds:

    agreed service time  = the service's hours (its calendar; 24x7 when it has none) within
                           the period, less planned outages (agreed maintenance)
    downtime             = unplanned outages (major incidents' outage times and unplanned
                           outage records), merged so that overlaps count once, intersected
                           with the agreed service time (an outage at night does not count
                           against a service agreed for office hours)
    availability %       = (agreed - downtime) / agreed * 100, compared exactly with the target
    failures             = merged unplanned outages that touch the agreed service time
    MTBF                 = uptime / failures         (mean time between failures)
    MTRS                 = downtime / failures       (mean time to restore service)
    MTBSI                = agreed / failures         (mean time between service incidents)

The part of a period still in the future is not measured (the period ends at `now`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mof import audit, deletion, policy
from mof.models import Service
from mof.policy import is_internal, is_manager

RULES = {
    "availability.view": is_internal,
    "availability.edit": is_manager,
}


def register_policy():
    for action, rule in RULES.items():
        if action not in policy.RULES:
            policy.register(action, rule)


register_policy()

Interval = tuple[int, int]  # epoch seconds, [start, end)


# --- interval arithmetic -----------------------------------------------------------


def merge(intervals) -> list[Interval]:
    """Sorted, non-overlapping; touching or overlapping intervals become one."""
    out: list[list[int]] = []
    for s, e in sorted(i for i in intervals if i[1] > i[0]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """Both sorted and non-overlapping."""
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        s, e = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if e > s:
            out.append((s, e))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """a less b; both sorted and non-overlapping."""
    out, j = [], 0
    for s, e in a:
        cursor = s
        while j < len(b) and b[j][1] <= cursor:
            j += 1
        k = j
        while k < len(b) and b[k][0] < e:
            if b[k][0] > cursor:
                out.append((cursor, b[k][0]))
            cursor = max(cursor, b[k][1])
            k += 1
        if cursor < e:
            out.append((cursor, e))
    return out


def total(intervals) -> int:
    return sum(e - s for s, e in intervals)


def _epoch(t: dt.datetime) -> int:
    return int(t.timestamp())


# --- selectors --------------------------------------------------------------------


def service_calendar(service):
    """The calendar of the service's agreed hours, or None for 24x7."""
    from slas.models import ServiceHours

    hours = getattr(service, "_agreed_hours_row", None)
    if hours is None:
        hours = ServiceHours.objects.select_related("calendar").filter(service=service).first()
    return hours.calendar if hours else None


def agreed_runs(service, start: dt.datetime, end: dt.datetime, *, calendar=...) -> list[Interval]:
    """The agreed service time within [start, end), as epoch-second intervals."""
    if end <= start:
        return []
    if calendar is ...:
        calendar = service_calendar(service)
    if calendar is None:
        return [(_epoch(start), _epoch(end))]
    from slas.engine import engine_for

    return engine_for(calendar).working_runs(start, end)


@dataclass
class Outage:
    start: dt.datetime
    end: dt.datetime | None  # None: still going
    planned: bool
    source: str  # "incident" or "record"
    label: str
    url: str = ""
    pk: int | None = None


def outages_by_service(service_ids, start: dt.datetime, end: dt.datetime) -> dict[int, list[Outage]]:
    """Outages overlapping [start, end) of each service (major incidents' and recorded ones),
    oldest first: two queries whatever the number of services."""
    from incidents.models import Incident
    from slas.models import OutageRecord

    found: dict[int, list[Outage]] = {sid: [] for sid in service_ids}
    incidents = (
        Incident.objects.filter(
            service_id__in=service_ids, is_major=True, outage_start__isnull=False, outage_start__lt=end
        )
        .filter(Q(outage_end__isnull=True) | Q(outage_end__gt=start))
        .order_by("outage_start")
    )
    for inc in incidents:
        found[inc.service_id].append(
            Outage(inc.outage_start, inc.outage_end, False, "incident", str(inc), inc.get_absolute_url(), inc.pk)
        )
    for rec in OutageRecord.objects.filter(service_id__in=service_ids, start__lt=end, end__gt=start).order_by("start"):
        found[rec.service_id].append(Outage(rec.start, rec.end, rec.planned, "record", rec.reason, "", rec.pk))
    for rows in found.values():
        rows.sort(key=lambda o: o.start)
    return found


def outages(service, start: dt.datetime, end: dt.datetime, *, now=None) -> list[Outage]:
    """Outages of one service that overlap [start, end), oldest first."""
    return outages_by_service([service.pk], start, end)[service.pk]


@dataclass
class Availability:
    service: Service
    start: dt.datetime
    end: dt.datetime  # as measured (capped at now)
    scheduled_seconds: int  # the service's hours in the period
    planned_seconds: int  # of those, taken out by planned outages
    agreed_seconds: int  # scheduled less planned
    downtime_seconds: int
    failures: int
    target: Decimal | None
    outages: list[Outage] = field(default_factory=list)

    @property
    def uptime_seconds(self) -> int:
        return self.agreed_seconds - self.downtime_seconds

    @property
    def ratio(self) -> Fraction | None:
        return Fraction(self.uptime_seconds, self.agreed_seconds) if self.agreed_seconds else None

    @property
    def percentage(self) -> Decimal | None:
        """Rounded down to 4 decimals for display; compare with `met`, which is exact."""
        if self.ratio is None:
            return None
        r = self.ratio * 100
        return (Decimal(r.numerator) / Decimal(r.denominator)).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.ratio * 100 >= Fraction(self.target)

    @property
    def mtbf_seconds(self) -> float | None:
        return self.uptime_seconds / self.failures if self.failures else None

    @property
    def mtrs_seconds(self) -> float | None:
        return self.downtime_seconds / self.failures if self.failures else None

    @property
    def mtbsi_seconds(self) -> float | None:
        return self.agreed_seconds / self.failures if self.failures else None

    def as_dict(self) -> dict:
        return {
            "service": self.service.pk,
            "service_name": self.service.name,
            "start": self.start,
            "end": self.end,
            "scheduled_seconds": self.scheduled_seconds,
            "planned_seconds": self.planned_seconds,
            "agreed_seconds": self.agreed_seconds,
            "downtime_seconds": self.downtime_seconds,
            "uptime_seconds": self.uptime_seconds,
            "availability_percentage": str(self.percentage) if self.percentage is not None else None,
            "target_percentage": str(self.target) if self.target is not None else None,
            "met": self.met,
            "failures": self.failures,
            "mtbf_seconds": self.mtbf_seconds,
            "mtrs_seconds": self.mtrs_seconds,
            "mtbsi_seconds": self.mtbsi_seconds,
        }


def availability(
    service, start: dt.datetime, end: dt.datetime, *, now=None, calendar=..., target=..., found=None
) -> Availability:
    """A service's availability over [start, end) (the future part is not measured)."""
    now = now or timezone.now()
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("availability needs aware datetimes")
    measured_end = max(start, min(end, now))
    if target is ...:
        from slas.models import AvailabilityTarget

        row = AvailabilityTarget.objects.filter(service=service).first()
        target = row.target_percentage if row else None
    scheduled = agreed_runs(service, start, measured_end, calendar=calendar)
    if measured_end <= start:
        found = []
    elif found is None:
        found = outages(service, start, measured_end)
    lo, hi = _epoch(start), _epoch(measured_end)

    def clip(o):
        return (max(lo, _epoch(o.start)), min(hi, _epoch(o.end or now)))

    planned = merge(clip(o) for o in found if o.planned)
    agreed = subtract(scheduled, planned)
    unplanned = merge(clip(o) for o in found if not o.planned)
    down = intersect(unplanned, agreed)
    failures = sum(1 for u in unplanned if intersect([u], agreed))
    return Availability(
        service=service,
        start=start,
        end=measured_end,
        scheduled_seconds=total(scheduled),
        planned_seconds=total(scheduled) - total(agreed),
        agreed_seconds=total(agreed),
        downtime_seconds=total(down),
        failures=failures,
        target=target,
        outages=found,
    )


def visible_services(user):
    if not policy.can(user, "availability.view"):
        return Service.objects.none()
    return Service.objects.order_by("name")


def availability_report(user, start: dt.datetime, end: dt.datetime, *, services=None, now=None) -> list[Availability]:
    """Availability of every service the reader may see (or those given), with one query
    each for hours and targets."""
    from slas.models import AvailabilityTarget, ServiceHours

    qs = (
        visible_services(user)
        if services is None
        else visible_services(user).filter(pk__in=[getattr(s, "pk", s) for s in services])
    )
    rows = list(qs)
    hours = {h.service_id: h.calendar for h in ServiceHours.objects.select_related("calendar").filter(service__in=rows)}
    targets = dict(AvailabilityTarget.objects.filter(service__in=rows).values_list("service_id", "target_percentage"))
    now = now or timezone.now()
    found = outages_by_service([s.pk for s in rows], start, max(start, min(end, now)))
    return [
        availability(s, start, end, now=now, calendar=hours.get(s.pk), target=targets.get(s.pk), found=found[s.pk])
        for s in rows
    ]


def parse_period(
    start_raw: str | None, end_raw: str | None, *, default_days: int = 30, now=None
) -> tuple[dt.datetime, dt.datetime]:
    """Dates (YYYY-MM-DD: whole days, end inclusive) or ISO datetimes; ValidationError on bad input."""
    from django.utils.dateparse import parse_date, parse_datetime

    now = now or timezone.now()
    tz = timezone.get_current_timezone()

    def one(raw, name, is_end):
        if raw in (None, ""):
            return None
        raw = raw.strip()
        try:
            day = parse_date(raw) if len(raw) == 10 else None  # a whole day (parse_datetime would take it as midnight)
            if day is not None:
                d = dt.datetime.combine(day + dt.timedelta(days=1 if is_end else 0), dt.time(0), tzinfo=tz)
            else:
                d = parse_datetime(raw)
                if d is None:
                    raise ValueError
        except (ValueError, OverflowError):  # 9999-12-31 as an end: the day after is no date
            raise ValidationError({name: f"Not a date: {raw[:40]!r} (use YYYY-MM-DD or an ISO date-time)."}) from None
        if not 1900 <= d.year < 2900:  # a default start days before year 1 would overflow
            raise ValidationError({name: "Out of range: a date between 1900 and 2899."})
        if timezone.is_naive(d):
            d = timezone.make_aware(d, tz)
        return d

    start, end = one(start_raw, "start", False), one(end_raw, "end", True)
    if end is None:
        end = now
    if start is None:
        start = end - dt.timedelta(days=default_days)
    if end <= start:
        raise ValidationError({"end": "The end must be after the start."})
    if end - start > dt.timedelta(days=3660):
        raise ValidationError({"end": "A period is at most ten years."})
    return start, end


# --- services (writes) --------------------------------------------------------------


def service_hours_set(*, actor, service, calendar) -> None:
    """Agree a service's hours as a business calendar; None: 24x7."""
    from slas.models import ServiceHours

    policy.require(actor, "availability.edit", service)
    with audit.acting_as(actor), transaction.atomic():
        row = ServiceHours.objects.select_for_update().filter(service=service).first()
        if calendar is None:
            if row:
                row.delete()
            return
        row = row or ServiceHours(service=service)
        row.calendar = calendar
        row.save()


def availability_target_set(*, actor, service, target_percentage) -> None:
    """Set (or with None, remove) a service's availability target."""
    from slas.models import AvailabilityTarget

    policy.require(actor, "availability.edit", service)
    with audit.acting_as(actor), transaction.atomic():
        row = AvailabilityTarget.objects.select_for_update().filter(service=service).first()
        if target_percentage in (None, ""):
            if row:
                row.delete()
            return
        try:
            value = Decimal(str(target_percentage))
        except ArithmeticError:
            raise ValidationError({"target_percentage": "A number, e.g. 99.9."}) from None
        if not value.is_finite() or not (0 < value <= 100):
            raise ValidationError({"target_percentage": "A target is a percentage above 0 and at most 100."})
        row = row or AvailabilityTarget(service=service)
        row.target_percentage = value
        row.full_clean(exclude=["service"])
        row.save()


def outage_record_create(*, actor, service, start, end, reason: str, planned: bool = False):
    from slas.models import OutageRecord

    policy.require(actor, "availability.edit", service)
    record = OutageRecord(
        service=service,
        start=start,
        end=end,
        reason=(reason or "").strip(),
        planned=bool(planned),
        recorded_by=actor if getattr(actor, "pk", None) else None,
    )
    record.full_clean()
    if end and end > timezone.now() + dt.timedelta(days=366):
        raise ValidationError({"end": "An outage ends within a year."})
    with audit.acting_as(actor), transaction.atomic():
        record.save()
    return record


def outage_record_delete(*, actor, record) -> None:
    policy.require(actor, "availability.edit", record.service)
    with audit.acting_as(actor), transaction.atomic():
        deletion.check_delete(record)
        record.delete()
