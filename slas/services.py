"""Writes of service level management: calendars, SLAs and their versions, ticket events
and the clocks derived from them, and the compliance sweep."""

from __future__ import annotations

import datetime as dt
import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from mof import audit, inserts, policy
from mof.services import apply_fields
from slas import engine, recompute, selectors
from slas.models import (
    BusinessCalendar,
    CalendarHoliday,
    ClockNotification,
    ClockState,
    RecomputeJob,
    ServiceLevelAgreement,
    SLAClock,
    SLAVersion,
    TicketEvent,
    WorkingInterval,
)

METRICS = ("response", "resolution")


# --- what a ticket is, to a clock --------------------------------------------------


def incident_snapshot(incident) -> dict:
    return {
        "state": incident.status,
        "priority": incident.priority,
        "hold_reason": incident.hold_reason or "",
        "service_id": incident.service_id,
        "group_id": incident.assignment_group_id,
    }


TICKET_TYPES = {"incidents.incident": incident_snapshot}


def record_ticket_event(ticket, *, kind: str = "change", at=None, created: bool = False) -> TicketEvent | None:
    """Append what matters to clocks if it changed, then bring the ticket's clocks up to date.
    `created`: the ticket was just inserted, so it has no events and no clocks yet."""
    ticket_type = ticket._meta.label_lower
    snapshot = TICKET_TYPES[ticket_type](ticket)
    # The whole log is read once (tickets have a handful of events) and reused for the clocks.
    events = (
        []
        if created
        else list(TicketEvent.objects.filter(ticket_type=ticket_type, ticket_id=ticket.pk).order_by("at", "id"))
    )
    last = events[-1] if events else None
    if last is not None and all(getattr(last, k) == v for k, v in snapshot.items()):
        return None
    event = TicketEvent(
        ticket_type=ticket_type,
        ticket_id=ticket.pk,
        kind=kind if last else "opened",
        at=at or (getattr(ticket, "created_at", None) if last is None else None) or timezone.now(),
        **snapshot,
    )
    inserts.insert([event])  # an INSERT built once (the log is append-only; nothing listens to its saves)
    events.append(event)
    events.sort(key=lambda e: (e.at, e.pk))  # as the database orders them (an `at` given may be earlier)
    sync_clocks(ticket_type, ticket.pk, events=events, new_ticket=last is None and created)
    return event


def _applies(version: SLAVersion, ticket_type: str, snapshot) -> bool:
    return (
        version.ticket_type == ticket_type
        and (version.service_id is None or version.service_id == snapshot.service_id)
        and (version.assignment_group_id is None or version.assignment_group_id == snapshot.group_id)
        and (not version.priorities or snapshot.priority in version.priorities)
    )


def applicable_versions(ticket_type: str, snapshot) -> list[SLAVersion]:
    """The current version of every active SLA/OLA whose conditions the ticket meets. An SLA
    whose newest version no longer matches governs new clocks by that version: none here.
    The versions are kept per process (selectors.active_versions): no query per ticket."""
    return [v for v in selectors.active_versions.get() if _applies(v, ticket_type, snapshot)]


def sync_clocks(ticket_type: str, ticket_id: int, *, now=None, events=None, new_ticket: bool = False) -> list[SLAClock]:
    """Start the clocks that now apply, cancel those that no longer do, recompute the rest.
    `events`: the ticket's log, oldest first, if the caller has it; `new_ticket`: it has no
    clocks yet (a filing: its clocks are inserted once, with their figures)."""
    now = now or timezone.now()
    if events is None:
        events = list(TicketEvent.objects.filter(ticket_type=ticket_type, ticket_id=ticket_id).order_by("at", "id"))
    if not events:
        return []
    current = events[-1]
    wanted = {v.sla_id: v for v in applicable_versions(ticket_type, current)}
    clocks = (
        []
        if new_ticket
        else list(
            SLAClock.objects.filter(ticket_type=ticket_type, ticket_id=ticket_id).select_related(
                "version__calendar", "version__sla"
            )
        )
    )
    have = {(c.version.sla_id, c.metric) for c in clocks}
    started = []
    for sla_id, version in wanted.items():
        for metric in METRICS:
            target = version.target(metric)
            if target and (sla_id, metric) not in have:
                clock = SLAClock(
                    ticket_type=ticket_type,
                    ticket_id=ticket_id,
                    version=version,
                    metric=metric,
                    started_at=events[0].at,
                    target_seconds=target,
                    created_at=now,
                )
                started.append(_apply(clock, _figures(clock, events=events, now=now), now))
    cancelled, recomputed = [], []
    for clock in clocks:
        if clock.version.sla_id not in wanted and clock.state in (ClockState.RUNNING, ClockState.PAUSED):
            # No longer applies (e.g. priority changed): a re-targeted clock takes over from the start.
            cancelled.append(clock.pk)
            continue
        if clock.state == ClockState.CANCELLED and clock.version.sla_id not in wanted:
            continue
        recomputed.append(_apply(clock, _figures(clock, events=events, now=now), now))
    if cancelled:
        SLAClock.objects.filter(pk__in=cancelled).update(state=ClockState.CANCELLED, next_event_at=None, stopped_at=now)
    store_clocks(recomputed)
    if started:
        # Inserted with their figures: no INSERT then UPDATE per clock; by an INSERT built once.
        inserts.insert(started)
    return clocks + started


def _figures(clock, *, events=None, now):
    if events is None:
        events = list(
            TicketEvent.objects.filter(ticket_type=clock.ticket_type, ticket_id=clock.ticket_id).order_by("at", "id")
        )
    business = engine.engine_for(clock.version.calendar)
    return engine.replay(events, clock.version, clock.metric, business, now=now, clock_started=clock.created_at)


STORED_FIELDS = [
    "state",
    "started_at",
    "stopped_at",
    "elapsed_seconds",
    "counting_since",
    "due_at",
    "breached_at",
    "next_event_at",
    "target_seconds",
    "notified_threshold",
    "updated_at",
]


def _apply(clock: SLAClock, figures, now) -> SLAClock:
    pending = [t for t in clock.version.thresholds if t > clock.notified_threshold and t in figures.crossings]
    reachable = [
        figures.crossings[t] for t in pending if figures.crossings[t] <= now or figures.counting_since is not None
    ]
    clock.state = figures.state
    clock.started_at = figures.started_at
    clock.stopped_at = figures.stopped_at
    clock.elapsed_seconds = figures.elapsed_seconds
    clock.counting_since = figures.counting_since
    clock.due_at = figures.due_at
    clock.breached_at = figures.breached_at
    clock.next_event_at = min(reachable) if reachable else None
    clock.target_seconds = clock.version.target(clock.metric) or clock.target_seconds
    clock.updated_at = now
    return clock


def _store(clock: SLAClock, figures, now) -> SLAClock:
    _apply(clock, figures, now)
    clock.save(update_fields=STORED_FIELDS)
    return clock


def recompute_clock(clock: SLAClock, *, events=None, now=None) -> SLAClock:
    """Derive the clock from the ticket's events again: a repair and a recomputation are this."""
    now = now or timezone.now()
    return _store(clock, _figures(clock, events=events, now=now), now)


def events_for(clocks) -> dict[tuple[str, int], list[TicketEvent]]:
    """The event logs of many tickets in one query, grouped per ticket."""
    by_ticket: dict[tuple[str, int], list[TicketEvent]] = {}
    for ticket_type in {c.ticket_type for c in clocks}:
        ids = sorted({c.ticket_id for c in clocks if c.ticket_type == ticket_type})
        for event in TicketEvent.objects.filter(ticket_type=ticket_type, ticket_id__in=ids).order_by(
            "ticket_id", "at", "id"
        ):
            by_ticket.setdefault((ticket_type, event.ticket_id), []).append(event)
    return by_ticket


# --- the compliance sweep ----------------------------------------------------------


CLAIM_LEASE = dt.timedelta(minutes=5)


def _attach_versions(clocks):
    """Load the few versions (with calendar and SLA) once, not joined onto every clock row."""
    versions = {
        v.pk: v
        for v in SLAVersion.objects.filter(pk__in={c.version_id for c in clocks}).select_related("calendar", "sla")
    }
    for clock in clocks:
        clock.version = versions[clock.version_id]
    return clocks


def store_clocks(clocks) -> None:
    """Write many clocks' derived figures at once: on PostgreSQL one UPDATE ... FROM unnest()
    (bulk_update's CASE per field grows with the square of the batch)."""
    if not clocks:
        return
    if connection.vendor != "postgresql":
        SLAClock.objects.bulk_update(clocks, STORED_FIELDS, batch_size=1000)
        return
    columns = [
        ("state", "varchar"),
        ("started_at", "timestamptz"),
        ("stopped_at", "timestamptz"),
        ("elapsed_seconds", "integer"),
        ("counting_since", "timestamptz"),
        ("due_at", "timestamptz"),
        ("breached_at", "timestamptz"),
        ("next_event_at", "timestamptz"),
        ("target_seconds", "integer"),
        ("notified_threshold", "smallint"),
        ("updated_at", "timestamptz"),
    ]
    arrays = [[c.pk for c in clocks]] + [[getattr(c, name) for c in clocks] for name, _ in columns]
    unnest = ", ".join(["%s::bigint[]"] + [f"%s::{kind}[]" for _, kind in columns])
    names = ", ".join(["id"] + [name for name, _ in columns])
    sets = ", ".join(f"{name} = u.{name}" for name, _ in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SLAClock._meta.db_table} AS c SET {sets} FROM unnest({unnest}) AS u({names}) WHERE c.id = u.id",
            arrays,
        )


# Sent inside the sweep's transaction with the ids of the warnings and breaches it recorded (integrations' outbox).
clock_notifications_recorded = Signal()


def sweep(*, now=None, batch: int = 5000) -> dict:
    """Take only the clocks whose next event has come (an indexed look-up); record warnings and
    breaches once each (the database refuses a second row); a batch costs a handful of queries."""
    now = now or timezone.now()
    with transaction.atomic():
        due = SLAClock.objects.filter(next_event_at__lte=now).order_by("next_event_at")
        if connection.vendor == "postgresql":
            due = due.select_for_update(skip_locked=True)  # two sweeps never take the same clock
        clocks = _attach_versions(list(due[:batch]))
        logs = events_for(clocks)
        rows, breached = [], []
        for clock in clocks:
            events = logs.get((clock.ticket_type, clock.ticket_id))
            if not events:
                clock.next_event_at = None
                continue
            figures = _figures(clock, events=events, now=now)
            crossed = [
                t
                for t in clock.version.thresholds
                if t > clock.notified_threshold and figures.crossings.get(t) and figures.crossings[t] <= now
            ]
            rows += [(clock.pk, t, figures.crossings[t]) for t in crossed]
            if crossed:
                clock.notified_threshold = max(crossed)
                if 100 in crossed:
                    breached.append(clock)
            _apply(clock, figures, now)
        store_clocks(clocks)
        created = _insert_notifications(rows, now)
        clock_notifications_recorded.send(sender=ClockNotification, ids=created)
        _mark_tickets_breached(breached)
        # Notifications a dead worker recorded but never queued, or claimed but never sent, go again.
        stale = list(
            ClockNotification.objects.filter(
                sent_at__isnull=True, failed_at__isnull=True, created_at__lte=now - dt.timedelta(minutes=2)
            )
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lte=now - CLAIM_LEASE))
            .values_list("pk", flat=True)[:batch]
        )
        transaction.on_commit(lambda: _queue_notifications(created + stale), robust=True)
    return {"clocks": len(clocks), "notifications": len(created)}


def _insert_notifications(rows, now) -> list[int]:
    """Insert (clock, threshold) rows; those already there are skipped by the database. Returns new ids."""
    if not rows:
        return []
    if connection.vendor == "postgresql":
        table = ClockNotification._meta.db_table
        values = ", ".join(["(%s, %s, %s, %s)"] * len(rows))
        params = [p for clock_id, threshold, crossed_at in rows for p in (clock_id, threshold, crossed_at, now)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (clock_id, threshold, crossed_at, created_at) VALUES {values} "
                "ON CONFLICT (clock_id, threshold) DO NOTHING RETURNING id",
                params,
            )
            return [r[0] for r in cursor.fetchall()]
    created = []
    for clock_id, threshold, crossed_at in rows:
        try:
            with transaction.atomic():
                created.append(
                    ClockNotification.objects.create(
                        clock_id=clock_id, threshold=threshold, crossed_at=crossed_at, created_at=now
                    ).pk
                )
        except IntegrityError:
            pass  # notified already: the database says so
    return created


def _mark_tickets_breached(clocks) -> None:
    """Mark breached tickets in one statement, ids in order (two sweeps never lock in opposite orders)."""
    ids = sorted({c.ticket_id for c in clocks if c.ticket_type == "incidents.incident"})
    if ids:
        from incidents.models import Incident

        with audit.acting_as(None, via="task:slas.sweep", reason="SLA breached"):
            Incident.objects.filter(pk__in=ids, sla_breached=False).update(sla_breached=True)


def _queue_notifications(ids):
    from slas.tasks import send_clock_notification

    for pk in ids:
        send_clock_notification.delay(pk)


log = logging.getLogger("mof.slas")


def _reachable(users) -> list:
    return [u for u in users if u is not None and u.is_active and u.email]


def service_desk_managers() -> list:
    """The service desk's managers: active managers in the Support role cluster."""
    from mof.choices import RoleCluster
    from mof.models import User

    return list(
        User.objects.filter(is_active=True, is_manager=True, role_assignments__role=RoleCluster.SUPPORT)
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )


def clock_notification_recipients(notification, incident) -> tuple[list, str]:
    """Who hears of a warning or a breach, and who that is: at a warning the assignee and the
    group, at a breach the group's manager. When there is nobody of those (no assignee, no
    manager), the assignment group, else the SLA's owner, else the service desk's managers."""
    group = incident.assignment_group if incident is not None else None
    members = list(group.members.all()) if group is not None else []
    if incident is not None:
        if notification.threshold >= 100:
            people = _reachable([group.manager] if group is not None else [])
            if people:
                return people, "the group's manager"
        else:
            people = _reachable([incident.assignee] + members)
            if people and incident.assignee_id:
                return people, "the assignee and the group"
    people = _reachable(members)
    if people:
        return people, "the assignment group"
    people = _reachable([notification.clock.version.sla.owner])
    if people:
        return people, "the SLA's owner"
    people = service_desk_managers()
    if people:
        return people, "the service desk's managers"
    return [], "nobody"


def notify_clock(notification_id: int) -> int:
    """Turn a recorded warning or breach into mail, once: in ONE transaction the notification is
    claimed (a conditional update: a second worker waits for the row, then finds it done), its
    mail is stored in the notification outbox (mof.notifications, which sends it exactly once
    per recipient) and it is marked sent. A notification nobody can be told of is never marked
    sent: it is flagged failed (failed_at, error) and logged as an error. Returns the recipients."""
    from slas.models import ClockNotification

    now = timezone.now()
    with transaction.atomic():
        claimed = (
            ClockNotification.objects.filter(pk=notification_id, sent_at__isnull=True, failed_at__isnull=True)
            .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lte=now - CLAIM_LEASE))
            .update(claimed_at=now)
        )
        if not claimed:
            return 0
        notification = ClockNotification.objects.select_related("clock__version__sla__owner").get(pk=notification_id)
        clock = notification.clock
        incident = None
        if clock.ticket_type == "incidents.incident":
            from incidents.models import Incident

            incident = (
                Incident.objects.select_related("assignee", "assignment_group__manager")
                .filter(pk=clock.ticket_id)
                .first()
            )
        recipients, who = (
            clock_notification_recipients(notification, incident) if incident is not None else ([], "nobody")
        )
        if not recipients:
            error = f"No recipient for the SLA {'breach' if notification.threshold >= 100 else 'warning'} of {clock.ticket_type} {clock.ticket_id}: no assignee, group, reachable SLA owner or service desk manager."
            ClockNotification.objects.filter(pk=notification_id).update(failed_at=now, error=error[:500])
            log.error("SLA notification %s: %s Not sent.", notification_id, error)
            return 0
        _clock_mail(notification, clock, incident, recipients, who)
        ClockNotification.objects.filter(pk=notification_id).update(sent_at=timezone.now())
    return len(recipients)


def _clock_mail(notification, clock, incident, recipients, who) -> list:
    from mof import notifications
    from mof.notifications import when

    breach = notification.threshold >= 100
    what = f"{clock.version.sla}, {clock.get_metric_display()}"
    return notifications.write_from_template(
        recipients,
        "slas/clock",
        {
            "incident": incident,
            "breach": breach,
            "threshold": notification.threshold,
            "who": who,
            "what": what,
            "fields": [
                ("SLA", str(clock.version.sla)),
                ("Measure", clock.get_metric_display()),
                ("Due", when(clock.due_at)),
                ("Priority", f"P{incident.priority}"),
                ("Status", incident.get_status_display()),
            ],
        },
        subject=f"SLA breached: {incident.title} ({what})"
        if breach
        else f"SLA warning {notification.threshold}%: {incident.title} ({what})",
        about=incident,
        kind="slas.breach" if breach else "slas.warning",
    )


# --- calendars and SLAs -----------------------------------------------------------

CALENDAR_FIELDS = ("name", "time_zone", "country", "subdivision")


def _validate_intervals(intervals):
    by_day: dict[int, list] = {}
    errors = []
    for weekday, start, end in intervals:
        if weekday not in range(7):
            errors.append(f"Weekday {weekday} is not 0 (Monday) to 6 (Sunday).")
            continue
        if end != dt.time(0) and end <= start:
            errors.append(f"{start:%H:%M}-{end:%H:%M}: the end must be after the start (00:00 means midnight).")
            continue
        by_day.setdefault(weekday, []).append((start, end))
    for weekday, spans in by_day.items():
        spans.sort()
        for (s1, e1), (s2, e2) in zip(spans, spans[1:]):
            if e1 == dt.time(0) or s2 < e1:
                errors.append(f"Intervals {s1:%H:%M}-{e1:%H:%M} and {s2:%H:%M}-{e2:%H:%M} overlap on day {weekday}.")
    if errors:
        raise ValidationError({"intervals": errors})


def calendar_save(
    *, actor, calendar: BusinessCalendar | None = None, intervals=None, holidays=None, **fields
) -> BusinessCalendar:
    """Create or edit a calendar; an edit bumps its version and recomputes the clocks that use it."""
    policy.require(actor, "calendar.edit")
    calendar = calendar or BusinessCalendar()
    editing = calendar.pk is not None
    before = engine.calendar_spec(calendar) if editing else None
    apply_fields(calendar, fields, CALENDAR_FIELDS)
    if intervals is not None:
        _validate_intervals(intervals)
    with audit.acting_as(actor), transaction.atomic():
        if editing:
            calendar.version += 1
        calendar.save()
        if intervals is not None:
            calendar.intervals.all().delete()
            WorkingInterval.objects.bulk_create(
                [WorkingInterval(calendar=calendar, weekday=w, start=s, end=e) for w, s, e in intervals]
            )
        if holidays is not None:
            calendar.own_holidays.all().delete()
            CalendarHoliday.objects.bulk_create(
                [CalendarHoliday(calendar=calendar, date=d, name=n) for d, n in holidays]
            )
        if editing:
            # Only the clocks whose span meets what the edit changed are recomputed (in the background).
            changed = engine.changed_span(
                before, engine.calendar_spec(BusinessCalendar.objects.get(pk=calendar.pk))
            )  # not a prefetched cache
            recompute.start(actor=actor, calendar=calendar, changed=changed)
    return calendar


def latest_recompute(*, calendar=None, sla=None):
    """The last recomputation an edit of this calendar (or SLA) started, for its progress."""
    jobs = RecomputeJob.objects.select_related("started_by", "version")
    if calendar is not None:
        jobs = jobs.filter(calendar=calendar)
    if sla is not None:
        jobs = jobs.filter(sla=sla)
    return jobs.first()


VERSION_FIELDS = (
    "ticket_type",
    "service",
    "priorities",
    "assignment_group",
    "response_seconds",
    "resolution_seconds",
    "calendar",
    "pause_on",
    "warning_thresholds",
    "carry_pauses",
    "target_percentage",
)


def _validate_version(fields):
    errors = {}
    if not fields.get("response_seconds") and not fields.get("resolution_seconds"):
        errors["resolution_seconds"] = "Set a target to respond or to resolve (in seconds, above zero)."
    for name in ("response_seconds", "resolution_seconds"):
        value = fields.get(name)
        if value is not None and (not isinstance(value, int) or value <= 0):
            errors[name] = "A target is a number of seconds above zero."
    thresholds = fields.get("warning_thresholds") or []
    if any(not isinstance(t, int) or not 0 < t < 100 for t in thresholds):
        errors["warning_thresholds"] = "Warning thresholds are percentages between 1 and 99 (100 is the breach)."
    priorities = fields.get("priorities") or []
    if any(not isinstance(p, int) or not 1 <= p <= 5 for p in priorities):
        errors["priorities"] = "Priorities are 1 to 5."
    from incidents.choices import HoldReason

    if any(reason not in HoldReason.values for reason in fields.get("pause_on") or []):
        errors["pause_on"] = f"Pause states are hold reasons: {', '.join(HoldReason.values)}."
    if errors:
        raise ValidationError(errors)


def sla_create(
    *, actor, name: str, kind: str = "sla", description: str = "", **version_fields
) -> ServiceLevelAgreement:
    policy.require(actor, "sla.edit")
    _validate_version(version_fields)
    sla = ServiceLevelAgreement(name=name, kind=kind, description=description, owner=actor)
    apply_fields(sla, {}, ())
    with audit.acting_as(actor), transaction.atomic():
        sla.save()
        version = SLAVersion(sla=sla, number=1, created_by=actor)
        apply_fields(
            version, {"warning_thresholds": [50, 75], **version_fields}, VERSION_FIELDS, exclude=["sla", "created_by"]
        )
        version.save()
    return sla


def sla_new_version(
    *, actor, sla: ServiceLevelAgreement, retarget_running: bool = False, **version_fields
) -> SLAVersion:
    """Editing an SLA makes a new version: new clocks use it; running clocks keep theirs unless
    the manager chooses to re-target them; completed clocks are never rewritten."""
    policy.require(actor, "sla.edit", sla)
    _validate_version(version_fields)
    with audit.acting_as(actor), transaction.atomic():
        previous = sla.versions.select_for_update().order_by("-number").first()
        version = SLAVersion(sla=sla, number=(previous.number if previous else 0) + 1, created_by=actor)
        base = {name: getattr(previous, name) for name in VERSION_FIELDS} if previous else {}
        apply_fields(version, {**base, **version_fields}, VERSION_FIELDS, exclude=["sla", "created_by"])
        version.save()
        if retarget_running and previous is not None:
            # The running clocks move to the new version in the background, in chunks, with
            # their progress shown on the SLA page to the manager who made the edit.
            recompute.start(actor=actor, sla=sla, version=version)
    return version


def clock_timeline(clock: SLAClock, *, now=None) -> list[dict]:
    """The clock as a person reads it: counting, paused and why, not counting and why."""
    now = now or timezone.now()
    business = engine.engine_for(clock.version.calendar)
    return engine.timeline(_figures(clock, now=now), business, now=now)
