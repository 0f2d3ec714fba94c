"""Recomputing the open clocks an edit affects, in the background (writes).

A calendar edit, or an SLA edit that re-targets running clocks, starts a RecomputeJob inside
the edit's transaction. Once the edit is committed, `plan` splits the affected clocks into
chunks of a few thousand (id ranges, counted by the database) and fans them out as one Celery
task each, so that every worker takes a share. A chunk reads its clocks and their event logs in
two queries, derives what each clock stores (`engine.stored_figures`, as of the job's instant),
writes only the clocks whose figures moved (on PostgreSQL one UPDATE ... FROM unnest, and only
where nothing rewrote the clock meanwhile), and counts itself done in the same transaction:
a chunk delivered twice (acks late, a lost worker) computes the same figures and counts once.

Which clocks: open ones (running, paused) of the edited calendar whose span meets the stretch
of time the edit changed, or of the re-targeted SLA. Completed clocks (met, breached,
cancelled) are never rewritten: their history stands.
"""

from __future__ import annotations

import datetime as dt
import os
from itertools import groupby

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from slas import engine
from slas.models import ClockState, RecomputeChunk, RecomputeJob, SLAClock, SLAVersion, TicketEvent

# Clocks per chunk (one task each): a few thousand keeps a task under a second or two.
CHUNK = int(os.environ.get("SLA_RECOMPUTE_CHUNK", "5000"))
OPEN = (ClockState.RUNNING, ClockState.PAUSED)
UTC = dt.timezone.utc
ALL_TIME = (None, None)


def start(*, actor, calendar=None, sla=None, version=None, changed=ALL_TIME) -> RecomputeJob:
    """Inside the edit's transaction: the job, planned once the edit is committed. `changed`: the
    span a calendar edit changed (engine.changed_span); None when no clock can move (done at once)."""
    now = timezone.now()
    job = RecomputeJob.objects.create(
        calendar=calendar,
        sla=sla,
        version=version,
        started_by=actor,
        as_of=now,
        changed_from=changed[0] if changed else None,
        changed_until=changed[1] if changed else None,
        planned_at=None if changed else now,
        finished_at=None if changed else now,
    )
    if changed:
        transaction.on_commit(lambda: _queue_plan(job.pk), robust=True)
    return job


def affected(job: RecomputeJob):
    """The open clocks the job recomputes (the same question at planning and in each chunk)."""
    versions = (
        SLAVersion.objects.filter(sla_id=job.sla_id)
        if job.sla_id
        else SLAVersion.objects.filter(calendar_id=job.calendar_id)
    )
    # The few version ids as values: PostgreSQL then estimates the clocks well (a subquery it does not).
    clocks = SLAClock.objects.filter(state__in=OPEN, version_id__in=list(versions.values_list("pk", flat=True)))
    if job.calendar_id:
        if job.changed_until is not None:
            # A clock's figures depend on the working time from its start to its due time (or to
            # now, if that is later): only a clock whose span meets the changed stretch can move.
            clocks = clocks.filter(started_at__lt=job.changed_until)
            if job.as_of <= job.changed_from:
                clocks = clocks.filter(
                    Q(due_at__gt=job.changed_from) | Q(state=ClockState.RUNNING, due_at__isnull=True)
                )
    return clocks


def plan(job_id: int) -> list[int]:
    """Split the job's clocks into chunks (once, even if run twice) and queue the chunks not done."""
    with transaction.atomic():
        job = RecomputeJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.finished_at is not None:
            return []
        if job.planned_at is None:
            # Chunk boundaries from the ids in order, streamed (a server-side cursor on PostgreSQL).
            ranges = []
            ids = affected(job).order_by("pk").values_list("pk", flat=True).iterator(chunk_size=20_000)
            for i, pk in enumerate(ids):
                if i % CHUNK == 0:
                    ranges.append([pk, pk, 0])
                ranges[-1][1] = pk
                ranges[-1][2] += 1
            RecomputeChunk.objects.bulk_create(
                [RecomputeChunk(job=job, first_id=a, last_id=b, size=n) for a, b, n in ranges]
            )
            job.total = sum(n for _, _, n in ranges)
            job.planned_at = timezone.now()
            job.finished_at = None if ranges else job.planned_at
            job.save(update_fields=["total", "planned_at", "finished_at"])
        pending = list(job.chunks.filter(done_at__isnull=True).values_list("pk", flat=True))
        transaction.on_commit(lambda: _queue_chunks(pending), robust=True)
    return pending


def run_chunk(chunk_id: int) -> int:
    """Recompute one chunk, count it done in the same transaction; a chunk already done is
    skipped. Returns how many clocks were rewritten."""
    with transaction.atomic():
        chunk = (
            RecomputeChunk.objects.select_for_update(of=("self",))
            .select_related("job__version__calendar")
            .filter(pk=chunk_id)
            .first()
        )
        if chunk is None or chunk.done_at is not None:
            return 0
        job = chunk.job
        changed = recompute(job, affected(job).filter(pk__gte=chunk.first_id, pk__lte=chunk.last_id))
        chunk.done_at = timezone.now()
        chunk.changed = changed
        chunk.save(update_fields=["done_at", "changed"])
        RecomputeJob.objects.filter(pk=job.pk).update(done=F("done") + chunk.size, changed=F("changed") + changed)
        RecomputeJob.objects.filter(pk=job.pk, done__gte=F("total"), finished_at__isnull=True).update(
            finished_at=timezone.now()
        )
    return changed


# --- one chunk ------------------------------------------------------------------------

COLUMNS = (
    "pk",
    "ticket_type",
    "ticket_id",
    "version_id",
    "metric",
    "created_at",
    "notified_threshold",
    "target_seconds",
    "updated_at",
)
STORED = ("state", "elapsed_seconds", "stopped_at", "counting_since", "due_at", "breached_at", "next_event_at")


def _us(at) -> int | None:
    """Epoch microseconds, exactly (a float timestamp would round them)."""
    return None if at is None else int(at.timestamp()) * 1_000_000 + at.microsecond


def _event_logs(clocks, tickets: dict[str, set]) -> dict[tuple[str, int], list[tuple]]:
    """The event logs of the clocks' tickets, one query per ticket type: (epoch second, epoch
    microsecond, state, hold_reason) tuples, oldest first."""
    logs = {}
    for ticket_type, wanted in sorted(tickets.items()):
        events = TicketEvent.objects.filter(ticket_type=ticket_type).order_by("ticket_id", "at", "id")
        low, high = min(wanted), max(wanted)
        if high - low < 4 * len(wanted):
            # A chunk's tickets are mostly neighbours: one range scan of the event index beats a
            # look-up per ticket (the few other tickets' events in the range are skipped below).
            events = events.filter(ticket_id__gte=low, ticket_id__lte=high)
        else:
            events = events.filter(ticket_id__in=clocks.filter(ticket_type=ticket_type).values("ticket_id"))
        rows = events.values_list("ticket_id", "at", "state", "hold_reason").iterator(chunk_size=10_000)
        for ticket_id, group in groupby(rows, key=lambda row: row[0]):
            if ticket_id not in wanted:
                continue
            log = []
            for _, at, state, hold in group:
                us = int(at.timestamp()) * 1_000_000 + at.microsecond
                log.append((us // 1_000_000, us, state, hold))
            logs[(ticket_type, ticket_id)] = log
    return logs


def recompute(job: RecomputeJob, clocks) -> int:
    """Derive the stored figures of `clocks` as of the job's instant (moved to the job's version
    if it re-targets them) and write those that changed. Returns how many were written."""
    on_postgres = connection.vendor == "postgresql"
    # PostgreSQL compares with what is stored in the UPDATE itself; elsewhere it is read and compared here.
    rows = list(clocks.order_by("pk").values_list(*COLUMNS, *(() if on_postgres else STORED)))
    if not rows:
        return 0
    tickets: dict[str, set] = {}
    for row in rows:
        tickets.setdefault(row[1], set()).add(row[2])
    logs = _event_logs(clocks, tickets)
    versions = {v.pk: v for v in SLAVersion.objects.filter(pk__in={r[3] for r in rows}).select_related("calendar")}
    retarget = job.version if job.version_id else None
    if retarget is not None and SLAVersion.objects.filter(sla_id=retarget.sla_id, number__gt=retarget.number).exists():
        retarget = None  # a later edit re-targets them (or not): this job no longer moves clocks back to its version
    now_s = job.as_of.timestamp()
    # Per (version, metric) of a clock: the version it ends on, its rules and its calendar's business time.
    how: dict[tuple[int, str], tuple] = {}
    figures_rows = []
    for pk, ticket_type, ticket_id, version_id, metric, created, notified, target_seconds, seen, *stored in rows:
        events = logs.get((ticket_type, ticket_id))
        if not events:
            continue
        if (version_id, metric) not in how:
            # Re-targeted to the new version, unless it has no target for this metric (the clock stays).
            version = retarget if retarget is not None and retarget.target(metric) else versions[version_id]
            how[(version_id, metric)] = (
                version.id,
                engine.Rules.of(version, metric),
                engine.engine_for(version.calendar),
            )
        new_version_id, rules, business = how[(version_id, metric)]
        figures = engine.stored_figures(events, rules, business, now_s, _us(created), notified)
        new = (
            new_version_id,
            figures.state,
            figures.elapsed_seconds,
            None if figures.stopped_index is None else events[figures.stopped_index][1],
            None if figures.counting_index is None else events[figures.counting_index][1],
            None if figures.due_s is None else figures.due_s * 1_000_000,
            None if figures.breached_s is None else figures.breached_s * 1_000_000,
            None if figures.next_s is None else figures.next_s * 1_000_000,
            rules.target or target_seconds,
        )
        if stored:
            state, elapsed, *instants = stored
            if new == (version_id, state, elapsed, *map(_us, instants), target_seconds):
                continue
        figures_rows.append((pk, _us(seen), *new))
    # A calendar moves only the business-time figures: the version, target, stop and the start of
    # the counting stretch come from the events and the version (fewer arrays to send and parse).
    return _write(figures_rows, job.as_of, columns=WRITTEN if job.sla_id else CALENDAR_WRITTEN)


WRITTEN = (
    "id",
    "seen",
    "version_id",
    "state",
    "elapsed_seconds",
    "stopped_at",
    "counting_since",
    "due_at",
    "breached_at",
    "next_event_at",
    "target_seconds",
)
CALENDAR_WRITTEN = ("id", "seen", "state", "elapsed_seconds", "due_at", "breached_at", "next_event_at")
TYPES = {"state": "varchar", "elapsed_seconds": "integer", "target_seconds": "integer"}  # the others: bigint
INSTANTS = ("stopped_at", "counting_since", "due_at", "breached_at", "next_event_at")
PLAIN = ("version_id", "state", "elapsed_seconds", "target_seconds")


def _write(rows, as_of, *, columns=WRITTEN) -> int:
    """Write the figures that moved; returns how many clocks were rewritten. On PostgreSQL one
    UPDATE joined to the rows as arrays, instants as epoch microseconds (no datetime to adapt
    per value), skipping the clocks whose figures are already these and those rewritten since
    they were read (a ticket event recomputed them meanwhile, with the new calendar already)."""
    if not rows:
        return 0
    if connection.vendor != "postgresql":
        clocks = []
        for pk, _, version_id, state, elapsed, *instants, target in rows:
            clock = SLAClock(
                pk=pk,
                version_id=version_id,
                state=state,
                elapsed_seconds=elapsed,
                target_seconds=target,
                updated_at=as_of,
            )
            for name, us in zip(INSTANTS, instants):
                setattr(
                    clock,
                    name,
                    None
                    if us is None
                    else dt.datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000),
                )
            clocks.append(clock)
        SLAClock.objects.bulk_update(clocks, [*PLAIN, *INSTANTS, "updated_at"], batch_size=1000)
        return len(clocks)

    def instant(ref):
        return f"TIMESTAMPTZ 'epoch' + {ref} * INTERVAL '1 microsecond'"

    figures = [name for name in columns if name not in ("id", "seen")]
    unnest = ", ".join(f"%s::{TYPES.get(name, 'bigint')}[]" for name in columns)
    sets = ", ".join(
        [f"{name} = {'u.' + name if name in PLAIN else instant('u.' + name)}" for name in figures] + ["updated_at = %s"]
    )
    differs = " OR ".join(
        f"c.{name} IS DISTINCT FROM {'u.' + name if name in PLAIN else instant('u.' + name)}" for name in figures
    )
    all_columns = list(zip(*rows))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {SLAClock._meta.db_table} AS c SET {sets} FROM unnest({unnest}) AS u({', '.join(columns)}) "
            f"WHERE c.id = u.id AND c.updated_at = {instant('u.seen')} AND ({differs})",
            [as_of, *(_array(all_columns[WRITTEN.index(name)]) for name in columns)],
        )
        return cursor.rowcount


def _array(values) -> str:
    """A PostgreSQL array literal of numbers or plain words: written directly, it costs a fifth of
    what adapting a list value by value does (all values here are ints, None or state names)."""
    return "{" + ",".join(map(str, values)).replace("None", "NULL") + "}"


# --- queuing (after commit) -------------------------------------------------------------


def _queue_plan(job_id: int) -> None:
    from slas.tasks import recompute_plan

    recompute_plan.delay(job_id)


def _queue_chunks(chunk_ids) -> None:
    """One task per chunk, as a group: the workers share them out."""
    if not chunk_ids:
        return
    from celery import group

    from slas.tasks import recompute_chunk

    group(recompute_chunk.s(pk) for pk in chunk_ids).apply_async()
