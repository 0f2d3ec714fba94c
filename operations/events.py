"""Writes of service monitoring and control: taking in monitoring events, deduplicating
them into alerts, opening and resolving the incidents they stand for, parking events
for CIs nobody knows yet and mapping them.

Built for event storms (thousands a second for one key): a batch is coalesced per
deduplication key, each key costs one `UPDATE ... count = count + n` on its open
alert, raw events are written with one bulk insert, and a partial unique index allows
one open alert per key, so concurrent requests cannot open two alerts (nor two
incidents): the loser of that race retries onto the winner's row. Incidents are looked
at per key and batch, never per event.

A batch is all or nothing: one invalid event refuses the whole batch (400, each error
named by its position), so a monitoring tool can fix and resend it without counting
the good events twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from mof import audit, policy
from mof.choices import Criticality, Environment
from mof.models import ConfigurationItem
from operations.models_events import SEVERITY_NAMES as NAMES
from operations.models_events import AlertCloseReason, EventCIMapping, MonitoringAlert, MonitoringEvent, Severity

logger = logging.getLogger("mof.operations.events")
SEVERITY_NAMES = {name: Severity[name.upper()].value for name in NAMES}
FIELDS = ("source", "ci", "severity", "message", "time", "key", "clear")
# A monitoring tool's clock may run a little ahead of ours; further ahead is a mistake.
CLOCK_SKEW = dt.timedelta(minutes=5)
# Impact from the criticality of the most critical service the CI supports (1 = high).
IMPACT_BY_CRITICALITY = {Criticality.CRITICAL: 1, Criticality.HIGH: 1, Criticality.MEDIUM: 2, Criticality.LOW: 3}
CRITICALITY_RANK = {Criticality.CRITICAL: 4, Criticality.HIGH: 3, Criticality.MEDIUM: 2, Criticality.LOW: 1}
# Urgency from the event's severity (1 = high).
URGENCY_BY_SEVERITY = {Severity.CRITICAL: 1, Severity.MAJOR: 2}
LOW = 3
ENDED_INCIDENT_STATES = ("resolved", "closed", "cancelled")


class EventBatchInvalid(ValidationError):
    """Some events of a post are invalid: `item_errors` maps each one's position to its
    field errors. For a single event (not a list), the errors are its field errors."""

    def __init__(self, item_errors: dict[int, dict[str, list[str]]], *, single: bool = False):
        self.item_errors = item_errors
        self.single = single
        if single:
            super().__init__(item_errors[0])
        else:
            super().__init__(
                {
                    "events": [
                        f"Event {i}: {name}: {' '.join(msgs)}"
                        for i, errors in sorted(item_errors.items())
                        for name, msgs in errors.items()
                    ]
                }
            )


@dataclass
class EventIn:
    """One validated event, before its CI is known."""

    source: str
    ci_ref: str | int
    severity: int
    message: str
    occurred_at: dt.datetime
    key: str
    received_at: dt.datetime
    ci: ConfigurationItem | None = None

    @property
    def is_clear(self) -> bool:
        return self.severity == Severity.CLEAR


@dataclass
class IngestResult:
    accepted: int = 0
    parked: int = 0
    alerts: dict = field(default_factory=dict)  # key -> the alert now holding it (or None once cleared)
    incidents_opened: list = field(default_factory=list)
    incidents_resolved: list = field(default_factory=list)


# --- settings ---------------------------------------------------------------------


def incident_threshold() -> int:
    return SEVERITY_NAMES[settings.MOF_EVENTS_INCIDENT_SEVERITY]


def batch_limit() -> int:
    return settings.MOF_EVENTS_BATCH_LIMIT


def parks_unknown_cis() -> bool:
    return settings.MOF_EVENTS_UNKNOWN_CI == "park"


# --- validation -------------------------------------------------------------------


def _text(item, name, errors, *, max_length, required=True) -> str:
    value = item.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[name] = ["This field is required."]
        return ""
    if not isinstance(value, str):
        errors[name] = ["Give a string."]
        return ""
    value = value.strip()
    if len(value) > max_length:
        errors[name] = [f"At most {max_length} characters (this has {len(value)})."]
    elif not _storable(value):
        errors[name] = ["Null characters and lone surrogates are not allowed."]
    return value


def _storable(text: str) -> bool:
    """Text the database can store: UTF-8 encodable and without NUL characters."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def validate_event(item, *, now) -> tuple[EventIn | None, dict]:
    """One posted event, checked field by field: (the event, {}) or (None, errors)."""
    if not isinstance(item, dict):
        return None, {"non_field_errors": ["Each event is a JSON object."]}
    errors: dict[str, list[str]] = {}
    for name in sorted(set(item) - set(FIELDS)):
        errors[name] = [f"Unknown field; an event has {', '.join(FIELDS)}."]
    source = _text(item, "source", errors, max_length=100)
    message = _text(item, "message", errors, max_length=1000, required=False)
    key = _text(item, "key", errors, max_length=200, required=False)

    ci_ref = item.get("ci")
    if isinstance(ci_ref, bool) or ci_ref is None or (isinstance(ci_ref, str) and not ci_ref.strip()):
        errors["ci"] = ["Name the configuration item (its name or id)."]
    elif isinstance(ci_ref, int):
        if not 1 <= ci_ref < 2**63:
            errors["ci"] = ["A CI id is a positive number."]
    elif isinstance(ci_ref, str):
        ci_ref = ci_ref.strip()
        if len(ci_ref) > 150:
            errors["ci"] = ["A CI name has at most 150 characters."]
        elif not _storable(ci_ref):
            errors["ci"] = ["Null characters and lone surrogates are not allowed."]
    else:
        errors["ci"] = ["Give the CI's name (a string) or id (a number)."]

    clear = item.get("clear", False)
    if not isinstance(clear, bool):
        errors["clear"] = ["Give true or false."]
        clear = False
    severity_name = item.get("severity")
    severity = Severity.CLEAR if clear else None
    if severity_name is None:
        if not clear:
            errors["severity"] = [f"This field is required: one of {', '.join(SEVERITY_NAMES)}."]
    elif not isinstance(severity_name, str) or severity_name.strip().lower() not in SEVERITY_NAMES:
        errors["severity"] = [f"Choose one of {', '.join(SEVERITY_NAMES)}."]
    elif clear and SEVERITY_NAMES[severity_name.strip().lower()] != Severity.CLEAR:
        errors["severity"] = ["A clear event has severity clear (or none)."]
    else:
        severity = SEVERITY_NAMES[severity_name.strip().lower()]

    occurred_at = now
    raw_time = item.get("time")
    if raw_time is not None:
        parsed = None
        if isinstance(raw_time, str):
            try:
                parsed = parse_datetime(raw_time.strip())
            except ValueError:
                parsed = None
        if parsed is None:
            errors["time"] = ["Give an ISO 8601 date and time, e.g. 2026-11-25T20:15:00Z."]
        elif timezone.is_naive(parsed):
            errors["time"] = ["Give the time zone too (e.g. Z or +01:00)."]
        elif parsed.year < 2000:
            errors["time"] = ["The event's time is before 2000; check the monitoring tool's clock."]
        elif parsed > now + CLOCK_SKEW:
            errors["time"] = ["The event's time is in the future; check the monitoring tool's clock."]
        else:
            occurred_at = parsed

    if errors:
        return None, errors
    # Without a key, an event stands for "this source sees a problem on this CI".
    key = key or f"{source}:{ci_ref}"
    return EventIn(
        source=source,
        ci_ref=ci_ref,
        severity=severity,
        message=message,
        occurred_at=occurred_at,
        key=key,
        received_at=now,
    ), {}


def _resolve_cis(events: list[EventIn]) -> list[EventIn]:
    """Set each event's CI from its id, its name or a mapped name (three queries at most);
    returns the events whose CI nobody knows."""
    ids = {e.ci_ref for e in events if isinstance(e.ci_ref, int)}
    names = {e.ci_ref for e in events if isinstance(e.ci_ref, str)}
    by_id = {ci.pk: ci for ci in ConfigurationItem.objects.filter(pk__in=ids)} if ids else {}
    by_name = {ci.name: ci for ci in ConfigurationItem.objects.filter(name__in=names)} if names else {}
    unmapped = names - set(by_name)
    if unmapped:
        by_name.update({m.name: m.ci for m in EventCIMapping.objects.filter(name__in=unmapped).select_related("ci")})
    unknown = []
    for event in events:
        event.ci = by_id.get(event.ci_ref) if isinstance(event.ci_ref, int) else by_name.get(event.ci_ref)
        if event.ci is None:
            unknown.append(event)
    return unknown


# --- taking events in -------------------------------------------------------------


def ingest(*, actor, payload) -> IngestResult:
    """Take in one event (a dict) or a batch (a list) posted by a monitoring tool."""
    policy.require(actor, "event.post")
    single = isinstance(payload, dict)
    items = [payload] if single else payload
    if not isinstance(items, list):
        raise ValidationError(
            {"non_field_errors": ["Post one event (a JSON object) or a batch (a JSON list of them)."]}
        )
    if not items:
        raise ValidationError({"non_field_errors": ["The batch is empty."]})
    if len(items) > batch_limit():
        raise ValidationError(
            {"non_field_errors": [f"A batch holds at most {batch_limit()} events; this one has {len(items)}."]}
        )

    now = timezone.now()
    events, item_errors = [], {}
    for position, item in enumerate(items):
        event, errors = validate_event(item, now=now)
        if errors:
            item_errors[position] = errors
        else:
            events.append((position, event))
    # Every error of the post at once: unknown CIs beside the field errors.
    unknown = {id(e) for e in _resolve_cis([e for _, e in events])}
    if unknown and not parks_unknown_cis():
        for position, e in events:
            if id(e) in unknown:
                item_errors[position] = {
                    "ci": [
                        f"No configuration item is known as {e.ci_ref!r}: add it to the CMDB (or map the name) and send the event again."
                    ]
                }
    if item_errors:
        raise EventBatchInvalid(dict(sorted(item_errors.items())), single=single)
    return _process_retrying(actor=actor, events=[e for _, e in events])


# Two batches that open and count alerts for overlapping keys can still deadlock on the
# alert rows or the unique index (PostgreSQL cancels one): the batch is simply tried again.
RETRIED_SQLSTATES = ("40P01", "40001")  # deadlock detected, serialization failure
ATTEMPTS = 3


def _inside_callers_transaction() -> bool:
    return connection.in_atomic_block


def _process_retrying(*, actor, events: list[EventIn]) -> IngestResult:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return process(actor=actor, events=events)
        except OperationalError as error:
            retriable = getattr(error.__cause__, "pgcode", None) in RETRIED_SQLSTATES
            # Inside a caller's transaction the whole of it is lost: only the caller can retry.
            if not retriable or attempt == ATTEMPTS or _inside_callers_transaction():
                raise
            logger.warning(
                "event batch of %d retried after %s (attempt %d)", len(events), error.__cause__.pgcode, attempt
            )


def process(*, actor, events: list[EventIn]) -> IngestResult:
    """Store validated events: unknown CIs parked, the rest deduplicated per key, in one
    short transaction."""
    result = IngestResult()
    rows: list[MonitoringEvent] = []
    by_key: dict[str, list[EventIn]] = {}
    for event in events:
        if event.ci is None:
            rows.append(_row(event, alert=None, parked=True))
            result.parked += 1
        else:
            by_key.setdefault(event.key, []).append(event)

    with audit.acting_as(actor, via="monitoring"), transaction.atomic():
        open_alerts = {
            a.key: a
            for a in MonitoringAlert.objects.filter(key__in=list(by_key), closed_at__isnull=True).select_related(
                "incident", "ci"
            )
        }
        attached = {key: _attached(open_alerts.get(key)) for key in sorted(by_key)}
        bumped = _bump_open_alerts(attached, by_key)
        # Sorted keys: concurrent batches lock alert rows in the same order (no deadlock).
        for key in sorted(by_key):
            alert = attached[key]
            if key in bumped:  # the storm case: counted already, only its rows to write
                result.alerts[key] = _record(key, alert, by_key[key], rows, result, counted=True)
                continue
            pending: list[EventIn] = []
            for event in by_key[key]:
                if event.is_clear:
                    if pending:
                        alert = _record(key, alert, pending, rows, result)
                        pending = []
                    alert = _clear(alert, event, rows, result)
                else:
                    pending.append(event)
            if pending:
                alert = _record(key, alert, pending, rows, result)
            result.alerts[key] = alert
        MonitoringEvent.objects.bulk_create(rows, batch_size=500)
    result.accepted = len(rows) - result.parked
    return result


def _row(event: EventIn, *, alert, parked=False) -> MonitoringEvent:
    return MonitoringEvent(
        received_at=event.received_at,
        occurred_at=event.occurred_at,
        source=event.source,
        ci=event.ci,
        ci_name=event.ci.name if event.ci is not None else str(event.ci_ref),
        severity=event.severity,
        message=event.message,
        key=event.key,
        alert=alert,
        parked=parked,
    )


def _attached(alert):
    """The open alert, unless a person ended its incident without us hearing of it:
    then the key is detached and the next event opens a new alert."""
    if alert is not None and alert.incident_id is not None and alert.incident.status in ENDED_INCIDENT_STATES:
        _close(alert, AlertCloseReason.INCIDENT_RESOLVED)
        return None
    return alert


def _record(key: str, alert, events: list[EventIn], rows: list, result: IngestResult, *, counted: bool = False):
    """Add a run of (non-clear) events of one key to its open alert, or open one."""
    latest = max(events, key=lambda e: e.occurred_at)
    worst = max(e.severity for e in events)
    if not counted and (alert is None or not _bump(alert, events, latest, worst)):
        alert = _open_alert(key, events, latest, worst)
    if alert.incident_id is None and worst >= incident_threshold():
        _escalate(alert, result)
    rows.extend(_row(e, alert=alert) for e in events)
    return alert


def _bump(alert, events, latest, worst) -> bool:
    """One UPDATE for the whole run, past the audit trail (an event storm's count is
    telemetry, not a business change). False if the alert closed meanwhile."""
    return bool(
        MonitoringAlert._base_manager.filter(pk=alert.pk, closed_at__isnull=True).update(
            count=F("count") + len(events),
            last_seen=Greatest(F("last_seen"), latest.occurred_at),
            severity=Greatest(F("severity"), worst),
            last_severity=latest.severity,
            message=latest.message[:1000],
        )
    )


def _bump_open_alerts(attached: dict, by_key: dict) -> set[str]:
    """Count the events of every key whose alert is open and that has no clear in this
    batch, in two statements whatever the number of keys: lock those alert rows in id
    order (concurrent batches cannot deadlock), then one UPDATE adding each its count.
    Past the audit trail, like _bump. Returns the keys counted."""
    candidates = {
        key: alert for key, alert in attached.items() if alert is not None and not any(e.is_clear for e in by_key[key])
    }
    if not candidates:
        return set()
    ids = [alert.pk for alert in candidates.values()]
    still_open = set(
        MonitoringAlert._base_manager.select_for_update()
        .filter(pk__in=ids, closed_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    counted = {
        key: alert for key, alert in candidates.items() if alert.pk in still_open
    }  # the others closed meanwhile: per-key path
    keys = sorted(counted)
    for start in range(0, len(keys), 500):
        _add_counts([(counted[key].pk, by_key[key]) for key in keys[start : start + 500]])
    return set(counted)


def _add_counts(rows: list[tuple[int, list[EventIn]]]) -> None:
    """One UPDATE ... SET count = count + CASE id WHEN ... for many alerts (plain SQL that
    SQLite and PostgreSQL share; Django's bulk_update builds it far slower)."""
    qn = connection.ops.quote_name
    count, last_seen, severity = qn("count"), qn("last_seen"), qn("severity")
    parts = {"count": [], "last_seen": [], "severity": [], "last_severity": [], "message": []}
    params = {name: [] for name in parts}
    for pk, events in rows:
        latest = max(events, key=lambda e: e.occurred_at)
        seen = connection.ops.adapt_datetimefield_value(latest.occurred_at)
        worst = max(e.severity for e in events)
        parts["count"].append(f"WHEN %s THEN {count} + %s")
        params["count"] += [pk, len(events)]
        parts["last_seen"].append(f"WHEN %s THEN CASE WHEN {last_seen} < %s THEN %s ELSE {last_seen} END")
        params["last_seen"] += [pk, seen, seen]
        parts["severity"].append(f"WHEN %s THEN CASE WHEN {severity} < %s THEN %s ELSE {severity} END")
        params["severity"] += [pk, worst, worst]
        parts["last_severity"].append("WHEN %s THEN %s")
        params["last_severity"] += [pk, latest.severity]
        parts["message"].append("WHEN %s THEN %s")
        params["message"] += [pk, latest.message[:1000]]
    assignments = ", ".join(f"{qn(name)} = CASE {qn('id')} {' '.join(whens)} END" for name, whens in parts.items())
    ids = [pk for pk, _ in rows]
    sql = f"UPDATE {qn(MonitoringAlert._meta.db_table)} SET {assignments} WHERE {qn('id')} IN ({', '.join(['%s'] * len(ids))})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [p for name in parts for p in params[name]] + ids)


def _open_alert(key, events, latest, worst):
    """Open the key's alert; if a concurrent request opened it first, add to theirs."""
    ci = latest.ci
    alert = MonitoringAlert(
        key=key,
        ci=ci,
        service=primary_service(ci),
        source=latest.source,
        severity=worst,
        last_severity=latest.severity,
        message=latest.message,
        count=len(events),
        first_seen=min(e.occurred_at for e in events),
        last_seen=latest.occurred_at,
    )
    try:
        with transaction.atomic():
            alert.save()
        return alert
    except IntegrityError:
        existing = MonitoringAlert.objects.select_related("incident", "ci").get(key=key, closed_at__isnull=True)
        if not _bump(existing, events, latest, worst):  # closed in the instant between: refuse rather than lose events
            raise
        return existing


def _escalate(alert, result: IngestResult) -> None:
    """Open the incident the alert stands for, once: the alert row is locked, so two
    requests escalating the same alert open one incident."""
    locked = MonitoringAlert.objects.select_for_update(of=("self",)).select_related("ci", "service").get(pk=alert.pk)
    if locked.incident_id is not None:
        alert.incident_id = locked.incident_id
        return
    incident = open_incident(locked)
    locked.incident = incident
    locked.save(update_fields=["incident"])
    alert.incident = incident
    result.incidents_opened.append(incident)


def primary_service(ci):
    """The most critical IT service the CI supports (ties by name), or None."""
    services = sorted(ci.services.all(), key=lambda s: (-CRITICALITY_RANK.get(s.criticality, 0), s.name))
    return services[0] if services else None


def impact_urgency(alert) -> tuple[int, int]:
    """Impact from the criticality of the alert's service (low outside production),
    urgency from the worst severity seen."""
    impact = IMPACT_BY_CRITICALITY.get(alert.service.criticality, LOW) if alert.service_id else LOW
    if alert.ci.environment != Environment.PRODUCTION:
        impact = LOW
    return impact, URGENCY_BY_SEVERITY.get(alert.severity, LOW)


def open_incident(alert):
    """File the incident through the service desk's own door, as the portal's account;
    its priority comes from the priority matrix."""
    from incidents.choices import Channel
    from incidents.services import incident_create
    from mof.services import system_user

    impact, urgency = impact_urgency(alert)
    severity = Severity(alert.severity).label
    return incident_create(
        actor=system_user(),
        title=f"{severity}: {alert.message or alert.key} on {alert.ci.name}"[:200],
        description=(
            f"Opened by monitoring ({alert.source}) for deduplication key {alert.key!r} on {alert.ci.name}.\n"
            f"First seen {alert.first_seen.isoformat()}; later events with the same key add to this incident's alert."
        ),
        channel=Channel.MONITORING,
        service=alert.service,
        impact=impact,
        urgency=urgency,
        affected_cis=[alert.ci],
    )


def _close(alert, reason: str, *, extra_count: int = 0, last_seen=None) -> None:
    """Close an alert (audited). Callers hold the alert's row lock when they add to its count."""
    alert.closed_at = timezone.now()
    alert.closed_reason = reason
    alert.count += extra_count
    if last_seen is not None and last_seen > alert.last_seen:
        alert.last_seen = last_seen
    alert.save(update_fields=["closed_at", "closed_reason", "count", "last_seen"])


def _clear(alert, event: EventIn, rows: list, result: IngestResult):
    """A clear event: close the key's alert and resolve the incident it opened, with a
    note. A clear for a key with nothing open is kept as an event and does nothing."""
    if alert is None:
        rows.append(_row(event, alert=None))
        return None
    locked = MonitoringAlert.objects.select_for_update(of=("self",)).select_related("incident", "ci").get(pk=alert.pk)
    if not locked.is_open:  # cleared meanwhile by a concurrent request
        rows.append(_row(event, alert=None))
        return None
    _close(locked, AlertCloseReason.CLEARED, extra_count=1, last_seen=event.occurred_at)
    rows.append(_row(event, alert=locked))
    incident = locked.incident
    if incident is not None and incident.status not in ENDED_INCIDENT_STATES:
        result.incidents_resolved.append(resolve_incident(incident, locked, event))
    return None


def resolve_incident(incident, alert, event: EventIn):
    """Through the one transition door, as the portal's account."""
    from incidents.choices import ResolutionCode
    from incidents.models import Incident
    from mof.services import system_user
    from mof.transitions import perform_transition

    note = (
        f"Cleared by monitoring: {event.source} reported {alert.key!r} on {alert.ci.name} clear at {event.occurred_at.isoformat()}"
        f" after {alert.count} event{'s' if alert.count != 1 else ''}." + (f" {event.message}" if event.message else "")
    )
    return perform_transition(
        model=Incident,
        pk=incident.pk,
        name="resolve",
        actor=system_user(),
        data={"resolution_code": ResolutionCode.FIXED, "resolution_notes": note},
    )


# --- a person ends the incident: detach the key --------------------------------------


def detach_alerts(incident) -> int:
    """Close the open alerts of an incident a person resolved or cancelled, so the next
    event with their key opens a new incident instead of adding to an ended one."""
    count = 0
    for alert in MonitoringAlert.objects.filter(incident=incident, closed_at__isnull=True):
        _close(alert, AlertCloseReason.INCIDENT_RESOLVED)
        count += 1
    return count


def _incident_ended(sender, instance, name, actor, **kwargs):
    if sender._meta.label_lower == "incidents.incident" and name in ("resolve", "cancel", "close"):
        detach_alerts(instance)


def connect_receivers():
    from mof.transitions import transitioned

    transitioned.connect(_incident_ended, dispatch_uid="operations_detach_monitoring_alerts")


# --- parked events ------------------------------------------------------------------


def map_parked(*, actor, ci_name: str, ci, remember: bool = True) -> IngestResult:
    """A person says which CI monitoring means by `ci_name`: its parked events are
    processed now (oldest first) and, with `remember`, later ones go to the CI directly."""
    policy.require(actor, "event.map")
    if ci is None:
        raise ValidationError({"ci": "Choose the configuration item monitoring means."})
    if not policy.can(actor, "ci.view", ci):
        raise ValidationError({"ci": "Choose a configuration item you may see."})
    result = IngestResult()
    with audit.acting_as(actor), transaction.atomic():
        parked = list(
            MonitoringEvent.objects.select_for_update()
            .filter(parked=True, ci_name=ci_name)
            .order_by("received_at", "id")
        )
        if not parked:
            raise ValidationError(
                {"ci_name": f"No events are parked for {ci_name!r} (someone may have mapped them already)."}
            )
        if remember:
            if EventCIMapping.objects.filter(name=ci_name).exists():
                raise ValidationError({"ci_name": f"{ci_name!r} is mapped already."})
            EventCIMapping.objects.create(name=ci_name, ci=ci, mapped_by=actor)
        MonitoringEvent.objects.filter(pk__in=[e.pk for e in parked]).delete()
        events = [
            EventIn(
                source=e.source,
                ci_ref=ci_name,
                severity=e.severity,
                message=e.message,
                occurred_at=e.occurred_at,
                key=e.key,
                received_at=e.received_at,
                ci=ci,
            )
            for e in parked
        ]
        for start in range(0, len(events), batch_limit()):
            done = process(actor=actor, events=events[start : start + batch_limit()])
            result.accepted += done.accepted
            result.alerts.update(done.alerts)
            result.incidents_opened += done.incidents_opened
            result.incidents_resolved += done.incidents_resolved
    return result


def discard_parked(*, actor, ci_name: str) -> int:
    """Drop the parked events of a name nobody will map (a test system, noise)."""
    policy.require(actor, "event.map")
    with audit.acting_as(actor), transaction.atomic():
        deleted, _ = MonitoringEvent.objects.filter(parked=True, ci_name=ci_name).delete()
    if not deleted:
        raise ValidationError({"ci_name": f"No events are parked for {ci_name!r}."})
    return deleted


# --- retention ----------------------------------------------------------------------


def purge_old_events(*, now=None, chunk: int = 10000) -> int:
    """Delete raw events older than MOF_EVENTS_RETENTION_DAYS (alerts and their counts
    stay). Parked events are kept until a person maps or discards them."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.MOF_EVENTS_RETENTION_DAYS)
    total = 0
    while True:
        ids = list(
            MonitoringEvent.objects.filter(received_at__lt=cutoff, parked=False)
            .order_by()
            .values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            return total
        total += MonitoringEvent.objects.filter(pk__in=ids).delete()[0]
