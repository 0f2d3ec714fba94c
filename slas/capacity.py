"""Capacity management: selectors (forecasts) and services (measurements, thresholds,
warnings).

A forecast fits a straight line (least squares) to a CI's readings of a metric over the
threshold's window (the last N days) and solves it for the threshold: "volume E: full in
23 days". The periodic task raises a warning when that day is within the threshold's
horizon; the database keeps at most one open warning per CI and metric. A manager turns a
warning into a draft RFC (the change then follows the change process) or dismisses it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import (
    Count,
    ExpressionWrapper,
    F,
    FloatField,
    Func,
    Max,
    OuterRef,
    Subquery,
    Sum,
    Value,
)
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mof import audit, deletion, policy
from mof.choices import CIStatus, RoleCluster
from mof.pagination import parse_id
from mof.policy import any_of, has_role, is_internal, is_manager

UTC = dt.UTC
CLOCK_SKEW = dt.timedelta(minutes=5)
MAX_BATCH = 5000
METRIC_RE = re.compile(r"^[A-Za-z0-9_.:/\-]{1,80}$")
# After a manager decides a warning, the same CI and metric stay quiet this long.
QUIET_AFTER_DECISION = dt.timedelta(days=7)

RULES = {
    "capacity.view": is_internal,
    "capacity.edit": is_manager,  # thresholds
    "capacity.decide": is_manager,  # convert or dismiss warnings
    "measurement.add": any_of(is_internal, has_role(RoleCluster.PARTNER)),
    "measurement.view": any_of(is_internal, has_role(RoleCluster.PARTNER)),
}


def register_policy():
    for action, rule in RULES.items():
        if action not in policy.RULES:
            policy.register(action, rule)


register_policy()


# --- measurements -------------------------------------------------------------------


class BatchRejected(ValidationError):
    """A batch with bad rows: nothing was written. `rows`: [{"index": i, field: [messages]}]."""

    def __init__(self, rows: list[dict]):
        self.rows = rows
        flat = [
            f"row {r['index']}: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in r.items() if k != "index") for r in rows
        ]
        super().__init__({"rows": flat})


def _parse_value(raw):
    if isinstance(raw, bool) or raw is None:
        raise ValueError
    if isinstance(raw, (int, float)):
        value = float(raw)
    elif isinstance(raw, str) and raw.strip():
        value = float(raw.strip())
    else:
        raise ValueError
    if not math.isfinite(value):
        raise ValueError
    return value


def _parse_time(raw, now):
    if raw in (None, ""):
        return now
    if isinstance(raw, dt.datetime):
        at = raw
    elif isinstance(raw, str):
        at = parse_datetime(raw.strip())
        if at is None:
            raise ValueError
    else:
        raise ValueError
    if timezone.is_naive(at):
        at = timezone.make_aware(at, timezone.get_current_timezone())
    return at


def measurements_record(*, actor, rows, now=None) -> list:
    """Record a batch of readings, all or nothing. Each row: {ci (id or name), metric,
    value, time (ISO; default now)}. Any bad row: BatchRejected (a ValidationError) listing
    each bad row's index and field messages, and nothing is written."""
    from mof.models import ConfigurationItem
    from slas.models import Measurement

    policy.require(actor, "measurement.add")
    now = now or timezone.now()
    if not isinstance(rows, list) or not rows:
        raise ValidationError({"non_field_errors": ["Send a measurement object or a non-empty list of them."]})
    if len(rows) > MAX_BATCH:
        raise ValidationError({"non_field_errors": [f"At most {MAX_BATCH} measurements per request."]})
    ids = {
        r.get("ci")
        for r in rows
        if isinstance(r, dict) and isinstance(r.get("ci"), int) and not isinstance(r.get("ci"), bool)
    }
    names = {r.get("ci") for r in rows if isinstance(r, dict) and isinstance(r.get("ci"), str)}
    digits = {parse_id(n) for n in names} - {None}
    visible = policy.visible_cis(actor, ConfigurationItem.objects.only("pk", "name"))
    by_id = {c.pk: c for c in visible.filter(pk__in=ids | digits)} if ids or digits else {}
    by_name = {c.name: c for c in visible.filter(name__in=names)} if names else {}
    errors, objects = [], []
    for index, row in enumerate(rows):
        problems: dict[str, list[str]] = {}
        if not isinstance(row, dict):
            errors.append(
                {"index": index, "non_field_errors": ["Each measurement is an object with ci, metric, value and time."]}
            )
            continue
        unknown = set(row) - {"ci", "metric", "value", "time", "at"}
        for name in sorted(unknown):
            problems[name] = ["Unknown field."]
        raw_ci = row.get("ci")
        ci = None
        if raw_ci in (None, ""):
            problems["ci"] = ["This field is required."]
        elif isinstance(raw_ci, bool):
            problems["ci"] = ["A CI id or name."]
        elif isinstance(raw_ci, int):
            ci = by_id.get(raw_ci)
        elif isinstance(raw_ci, str):
            ci = by_name.get(raw_ci) or by_id.get(parse_id(raw_ci))
        else:
            problems["ci"] = ["A CI id or name."]
        if ci is None and "ci" not in problems:
            problems["ci"] = [f"Unknown configuration item {raw_ci!r}."]
        metric = row.get("metric")
        if not isinstance(metric, str) or not METRIC_RE.match(metric):
            problems["metric"] = ["A metric name: letters, digits and _ . : / - (at most 80)."]
        try:
            value = _parse_value(row.get("value"))
        except (ValueError, TypeError):
            problems["value"] = ["A number is required."]
        raw_time = row.get("time", row.get("at"))
        try:
            at = _parse_time(raw_time, now)
            if at > now + CLOCK_SKEW:
                problems["time"] = [f"In the future ({at.isoformat()}); readings are taken, not forecast."]
            elif at < now - dt.timedelta(days=3660):
                problems["time"] = ["More than ten years ago."]
        except (ValueError, TypeError):
            problems["time"] = [f"Not a date-time: {raw_time!r} (use ISO 8601, e.g. 2026-11-25T10:00:00Z)."]
        if problems:
            errors.append({"index": index, **problems})
        else:
            objects.append(Measurement(ci=ci, metric=metric, value=value, at=at, received_at=now))
    if errors:
        raise BatchRejected(errors)
    with transaction.atomic():
        return Measurement.objects.bulk_create(objects, batch_size=1000)


def visible_measurements(user):
    from slas.models import Measurement

    if not policy.can(user, "measurement.view"):
        return Measurement.objects.none()
    qs = Measurement.objects.all()
    if is_internal(user):
        return qs
    return qs.filter(ci__in=policy.visible_cis(user))


# --- forecast ------------------------------------------------------------------------


@dataclass
class Forecast:
    ci_id: int
    metric: str
    threshold: float
    direction: str
    points: list[tuple[dt.datetime, float]] = field(default_factory=list)  # only when read one by one (charts)
    count: int = 0
    last_value: float | None = None
    last_at: dt.datetime | None = None
    slope_per_second: float | None = None
    intercept: float | None = None  # the trend's value at `origin`
    origin: dt.datetime | None = None
    crossing_at: dt.datetime | None = None  # None: not on the trend
    already_crossed: bool = False

    @property
    def current_value(self) -> float | None:
        return self.last_value

    @property
    def slope_per_day(self) -> float | None:
        return self.slope_per_second * 86400 if self.slope_per_second is not None else None

    def value_at(self, t: dt.datetime) -> float | None:
        if self.slope_per_second is None:
            return None
        return self.intercept + self.slope_per_second * (t - self.origin).total_seconds()

    def days_left(self, now=None) -> float | None:
        if self.crossing_at is None:
            return None
        return max(0.0, (self.crossing_at - (now or timezone.now())).total_seconds() / 86400)


def _solve(f: Forecast, *, n, sx, sy, sxx, sxy, base: dt.datetime, now) -> Forecast:
    """Least squares from the sums over (x = days since `base`, y = value), then the crossing.
    The same arithmetic serves readings in memory and sums computed by the database."""
    f.count = n
    if n >= 2:
        cxx = sxx - sx * sx / n
        if cxx > 1e-12 * max(1.0, sxx):  # at least two distinct instants
            slope_day = (sxy - sx * sy / n) / cxx
            f.slope_per_second = slope_day / 86400
            f.intercept = sy / n
            f.origin = base + dt.timedelta(days=sx / n)
    if f.last_value is None:
        return f
    above = f.direction == "above"
    if (f.last_value >= f.threshold) if above else (f.last_value <= f.threshold):
        f.already_crossed = True
        f.crossing_at = now
        return f
    slope = f.slope_per_second
    if slope is None or (above and slope <= 0) or (not above and slope >= 0):
        return f
    seconds = (f.threshold - f.intercept) / slope
    if abs(seconds) > 3660 * 86400:  # beyond ten years: not a forecast worth the name
        return f
    f.crossing_at = max(now, f.origin + dt.timedelta(seconds=seconds))
    return f


def forecast(points, threshold: float, direction: str = "above", *, now=None, ci_id=None, metric="") -> Forecast:
    """When the linear trend (least squares) of `points` (oldest first) crosses `threshold`."""
    now = now or timezone.now()
    points = list(points)
    f = Forecast(ci_id=ci_id, metric=metric, threshold=threshold, direction=direction, points=points)
    if not points:
        return f
    f.last_at, f.last_value = points[-1]
    base = points[0][0]
    xs = [(t - base).total_seconds() / 86400 for t, _ in points]
    ys = [v for _, v in points]
    return _solve(
        f,
        n=len(xs),
        sx=sum(xs),
        sy=sum(ys),
        sxx=sum(x * x for x in xs),
        sxy=sum(x * y for x, y in zip(xs, ys)),
        base=base,
        now=now,
    )


class EpochSeconds(Func):
    """Seconds since 1970-01-01 UTC of a datetime column (PostgreSQL, SQLite, MySQL)."""

    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::double precision", **extra
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler, connection, template="((julianday(%(expressions)s) - 2440587.5) * 86400.0)", **extra
        )

    def as_mysql(self, compiler, connection, **extra):
        return self.as_sql(compiler, connection, template="UNIX_TIMESTAMP(%(expressions)s)", **extra)


def trend_sums(cis, metric: str, since: dt.datetime, until: dt.datetime):
    """CIs (a queryset) annotated with the least-squares sums of their readings of `metric`
    in [since, until], computed by the database in one grouped query (x in days since
    `since`), and their latest reading. Only CIs with readings."""
    from slas.models import Measurement

    base = since.timestamp()
    x = ExpressionWrapper((EpochSeconds("measurements__at") - Value(base)) / Value(86400.0), output_field=FloatField())
    y = ExpressionWrapper(F("measurements__value") * Value(1.0), output_field=FloatField())
    latest = Measurement.objects.filter(ci_id=OuterRef("pk"), metric=metric, at__gte=since, at__lte=until).order_by(
        "-at", "-id"
    )
    return (
        cis.filter(measurements__metric=metric, measurements__at__gte=since, measurements__at__lte=until)
        .annotate(
            m_n=Count("measurements"),
            m_sx=Sum(x),
            m_sy=Sum(y),
            m_sxx=Sum(x * x),
            m_sxy=Sum(x * y),
            m_last_value=Subquery(latest.values("value")[:1], output_field=FloatField()),
            m_last_at=Max("measurements__at"),
        )
        .filter(m_n__gt=0)
    )


def readings(
    ci_ids, metric: str, since: dt.datetime, until: dt.datetime | None = None
) -> dict[int, list[tuple[dt.datetime, float]]]:
    from slas.models import Measurement

    qs = Measurement.objects.filter(ci_id__in=list(ci_ids), metric=metric, at__gte=since)
    if until is not None:
        qs = qs.filter(at__lte=until)
    out: dict[int, list] = {}
    for ci_id, at, value in (
        qs.order_by("ci_id", "at", "id").values_list("ci_id", "at", "value").iterator(chunk_size=5000)
    ):
        out.setdefault(ci_id, []).append((at, value))
    return out


def threshold_for(ci, metric: str):
    from slas.models import CapacityThreshold

    return CapacityThreshold.objects.filter(ci_class_id=ci.ci_class_id, metric=metric).first()


def forecast_for(ci, metric: str, *, threshold=None, now=None) -> Forecast | None:
    """The forecast of one CI's metric against its class's threshold, with its readings (for
    the chart). None if its class has no threshold for the metric."""
    now = now or timezone.now()
    threshold = threshold or threshold_for(ci, metric)
    if threshold is None:
        return None
    points = readings([ci.pk], metric, now - dt.timedelta(days=threshold.window_days), now).get(ci.pk, [])
    return forecast(points, threshold.threshold, threshold.direction, now=now, ci_id=ci.pk, metric=metric)


def forecasts(user=None, *, now=None, limit: int = 500) -> list[tuple[object, object, Forecast]]:
    """(threshold, ci, forecast) for every CI (in service or planned) with readings of a
    thresholded metric, soonest crossing first. One grouped query per threshold: the
    database sums, Python solves; readings are never loaded here."""
    from mof.models import ConfigurationItem
    from slas.models import CapacityThreshold

    now = now or timezone.now()
    out = []
    cis_qs = policy.visible_cis(user) if user is not None else ConfigurationItem.objects.all()
    for th in CapacityThreshold.objects.select_related("ci_class"):
        since = now - dt.timedelta(days=th.window_days)
        rows = trend_sums(
            cis_qs.filter(ci_class_id=th.ci_class_id).exclude(status=CIStatus.RETIRED), th.metric, since, now
        )
        for ci in rows.order_by():
            f = Forecast(
                ci_id=ci.pk,
                metric=th.metric,
                threshold=th.threshold,
                direction=th.direction,
                last_value=ci.m_last_value,
                last_at=ci.m_last_at,
            )
            _solve(
                f,
                n=ci.m_n,
                sx=ci.m_sx or 0.0,
                sy=ci.m_sy or 0.0,
                sxx=ci.m_sxx or 0.0,
                sxy=ci.m_sxy or 0.0,
                base=since,
                now=now,
            )
            out.append((th, ci, f))
    far = now + dt.timedelta(days=100000)
    out.sort(key=lambda r: (r[2].crossing_at or far, r[1].name, r[0].metric))
    return out[:limit]


# --- warnings --------------------------------------------------------------------------


def raise_warnings(*, now=None) -> dict:
    """The periodic task: forecast every thresholded CI metric and open (or refresh) one
    warning per CI and metric whose crossing is within the threshold's horizon. Safe to
    run twice at once: the database refuses a second open warning."""
    from slas.models import CapacityWarning, WarningStatus

    now = now or timezone.now()
    opened = refreshed = 0
    for th, ci, f in forecasts(None, now=now, limit=10**9):
        if f.crossing_at is None or f.crossing_at > now + dt.timedelta(days=th.warn_within_days):
            continue
        fields = {
            "threshold": th,
            "threshold_value": th.threshold,
            "direction": th.direction,
            "current_value": f.current_value,
            "slope_per_day": f.slope_per_day or 0.0,
            "forecast_at": f.crossing_at,
        }
        with audit.acting_as(None, via="system"):
            updated = CapacityWarning.objects.filter(ci=ci, metric=th.metric, status=WarningStatus.OPEN).update(
                **fields, updated_at=now
            )
            if updated:
                refreshed += 1
                continue
            if CapacityWarning.objects.filter(
                ci=ci, metric=th.metric, decided_at__gte=now - QUIET_AFTER_DECISION
            ).exists():
                continue
            try:
                with transaction.atomic():
                    CapacityWarning.objects.create(ci=ci, metric=th.metric, created_at=now, **fields)
                opened += 1
            except IntegrityError:  # another run opened it meanwhile
                refreshed += 1
    return {"opened": opened, "refreshed": refreshed}


def visible_warnings(user):
    from slas.models import CapacityWarning

    if not policy.can(user, "capacity.view"):
        return CapacityWarning.objects.none()
    return CapacityWarning.objects.select_related("ci", "threshold", "change", "decided_by")


def _locked_open(warning):
    from slas.models import CapacityWarning, WarningStatus

    locked = (
        CapacityWarning.objects.select_for_update(of=("self",)).select_related("ci", "threshold").get(pk=warning.pk)
    )
    if locked.status != WarningStatus.OPEN:
        raise ValidationError({"status": f"This warning is already {locked.get_status_display().lower()}."})
    return locked


def warning_convert(*, actor, warning, title: str = "", note: str = ""):
    """Turn an open warning into a draft RFC for the CI; returns the change. The RFC and the
    warning's move (through the door) land together or not at all."""
    from changes.services import change_create
    from slas.models import CapacityWarning

    policy.require(actor, "capacity.decide", warning)
    with audit.acting_as(actor), transaction.atomic():
        w = _locked_open(warning)
        unit = w.threshold.unit if w.threshold else ""
        days = (w.forecast_at - timezone.now()).total_seconds() / 86400
        when = "has crossed" if days <= 0 else f"is forecast to cross on {w.forecast_at:%Y-%m-%d} (in {days:.0f} days)"
        change = change_create(
            actor=actor,
            title=(title or f"Capacity: {w.ci.name} {w.metric} {w.summary}")[:200],
            description=(
                f"Capacity warning on {w.ci.name}: {w.metric} {when} its threshold "
                f"({w.get_direction_display().lower()} {w.threshold_value:g}{unit}).\n"
                f"Current value {w.current_value:g}{unit}, trend {w.slope_per_day:+.3g}{unit} per day."
                + (f"\n\n{note}" if note else "")
            ),
            business_justification=f"Avoid an outage of {w.ci.name} when {w.metric} reaches {w.threshold_value:g}{unit}.",
            affected_cis=[w.ci],
        )
        CapacityWarning.objects.filter(pk=w.pk).update(change=change)
        _decide(actor, w, "convert", note)
    return change


def warning_dismiss(*, actor, warning, note: str = ""):
    policy.require(actor, "capacity.decide", warning)
    with audit.acting_as(actor), transaction.atomic():
        return _decide(actor, _locked_open(warning), "dismiss", note)


def _decide(actor, warning, name: str, note: str):
    from mof.transitions import TransitionBlocked, perform_transition

    try:
        return perform_transition(model=type(warning), pk=warning.pk, name=name, actor=actor, data={"note": note})
    except TransitionBlocked as exc:
        raise ValidationError(exc.field_errors or {"note": exc.reasons}) from exc


# --- thresholds ------------------------------------------------------------------------

THRESHOLD_FIELDS = ("ci_class", "metric", "threshold", "direction", "unit", "label", "window_days", "warn_within_days")


def threshold_save(*, actor, instance=None, **fields):
    """Create or (with `instance`) edit a capacity threshold."""
    from mof.services import apply_fields
    from slas.models import CapacityThreshold

    policy.require(actor, "capacity.edit", instance)
    instance = instance or CapacityThreshold()
    if "metric" in fields and (not isinstance(fields["metric"], str) or not METRIC_RE.match(fields["metric"])):
        raise ValidationError({"metric": "A metric name: letters, digits and _ . : / - (at most 80)."})
    if "threshold" in fields:
        try:
            fields["threshold"] = _parse_value(fields["threshold"])
        except (ValueError, TypeError):
            raise ValidationError({"threshold": "A number is required."}) from None
    apply_fields(instance, fields, THRESHOLD_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        instance.save()
    return instance


def threshold_delete(*, actor, threshold) -> None:
    policy.require(actor, "capacity.edit", threshold)
    with audit.acting_as(actor), transaction.atomic():
        deletion.check_delete(threshold)
        threshold.delete()
