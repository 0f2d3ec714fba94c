"""Recomputing clocks after a calendar or SLA edit: in the background, in chunks fanned out as
tasks, with progress for the manager; only the clocks the edit can move are rewritten, a chunk
run twice changes nothing more, completed clocks keep their history. And the fast derivation
of a clock's stored figures agrees with the replay that draws its timeline (property-based)."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incidents import services as desk
from mof.readmostly import ReadMostly
from slas import engine, recompute, services
from slas.businesstime import BusinessTime, CalendarSpec
from slas.models import (
    RecomputeChunk,
    RecomputeJob,
    ServiceLevelAgreement,
    SLAClock,
    SLAStatus,
    SLAVersion,
    TicketEvent,
)
from tests.factories import (
    ManagerFactory,
    TeamFactory,
    UserFactory,
    rewriting_event_log,
)

T = dt.time
HOUR = 3600
UTC = dt.UTC
FIGURES = (
    "version_id",
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
)


def office_hours_elsewhere():
    """Working hours that certainly move a clock running now: one weekday that is neither
    today nor tomorrow (weekday office hours would change nothing for a clock opened an hour
    ago at noon on a Monday, so a test of them passed or failed by the time of day)."""
    day = (timezone.now().weekday() + 3) % 7
    return [(day, T(9), T(17))]


def tasks_queued(callbacks):
    """The after-commit callbacks other than the kept SLA versions' generation bump (mof.readmostly)."""
    return [c for c in callbacks if not isinstance(getattr(c, "__self__", None), ReadMostly)]


@pytest.fixture
def world(db):
    manager = ManagerFactory(username="sla-boss", email="boss@example.test")
    agent = UserFactory(username="agent", email="agent@example.test", roles=["support"])
    TeamFactory(name="Desk", manager=manager, members=[agent])
    always = services.calendar_save(
        actor=manager, name="24x7", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    p1 = services.sla_create(
        actor=manager,
        name="P1 mail",
        priorities=[1],
        resolution_seconds=4 * HOUR,
        calendar=always,
        pause_on=["awaiting_vendor"],
    )
    ServiceLevelAgreement.objects.filter(pk=p1.pk).update(status=SLAStatus.ACTIVE)
    return SimpleNamespace(manager=manager, agent=agent, calendar=always, p1=p1)


def incident_opened(world, hours_ago: float, *events):
    """A P1 incident opened `hours_ago`, with later (hours after opening, state, hold reason) events."""
    incident = desk.incident_create(actor=world.agent, title="mail down", impact=1, urgency=1)
    opened = (timezone.now() - dt.timedelta(hours=hours_ago)).replace(microsecond=0)
    with rewriting_event_log():
        TicketEvent.objects.filter(ticket_type="incidents.incident", ticket_id=incident.pk).update(at=opened)
    base = dict(ticket_type="incidents.incident", ticket_id=incident.pk, priority=1, service_id=None, group_id=None)
    for hours, state, hold in events:
        TicketEvent.objects.create(
            at=opened + dt.timedelta(hours=hours), kind="change", state=state, hold_reason=hold, **base
        )
    services.sync_clocks("incidents.incident", incident.pk)
    return SLAClock.objects.get(ticket_type="incidents.incident", ticket_id=incident.pk, metric="resolution")


def snapshot(*clocks):
    return {c.pk: tuple(getattr(c, f) for f in FIGURES) for c in SLAClock.objects.filter(pk__in=[c.pk for c in clocks])}


# --- which clocks an edit recomputes ------------------------------------------------------


def test_a_holiday_far_ahead_rewrites_no_clock_and_the_job_is_done_at_once(world, django_capture_on_commit_callbacks):
    running = incident_opened(world, 1)
    before = snapshot(running)
    far = timezone.now().date() + dt.timedelta(days=40)
    with django_capture_on_commit_callbacks(execute=True):
        services.calendar_save(actor=world.manager, calendar=world.calendar, holidays=[(far, "Company day")])
    job = RecomputeJob.objects.get()
    assert job.changed_from.date() == far and job.total == 0 and job.finished_at is not None and job.percent == 100
    assert snapshot(running) == before  # not even its updated_at


def test_a_holiday_today_moves_the_open_clocks_that_span_it(world, django_capture_on_commit_callbacks):
    running = incident_opened(world, 1)
    due_before = running.due_at
    today = timezone.now().date()
    with django_capture_on_commit_callbacks(execute=True):
        services.calendar_save(actor=world.manager, calendar=world.calendar, holidays=[(today, "Company day")])
    job = RecomputeJob.objects.get()
    running.refresh_from_db()
    assert job.total == job.done == job.changed == 1 and job.percent == 100
    assert running.due_at > due_before  # today does not count any more
    assert running.updated_at == job.as_of


def test_a_rename_moves_no_clock(world, django_capture_on_commit_callbacks):
    running = incident_opened(world, 1)
    before = snapshot(running)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        services.calendar_save(actor=world.manager, calendar=world.calendar, name="Round the clock")
    job = RecomputeJob.objects.get()
    assert job.total == 0 and job.finished_at is not None and not tasks_queued(callbacks)  # nothing queued
    assert snapshot(running) == before


def test_met_and_breached_clocks_keep_their_history_when_the_hours_change(world, django_capture_on_commit_callbacks):
    met = incident_opened(world, 10, (2, "resolved", ""))
    breached = incident_opened(world, 10, (6, "resolved", ""))
    late_open = incident_opened(world, 6)  # past its 4 h: breached while still open
    running = incident_opened(world, 1)
    assert (met.state, breached.state, late_open.state, running.state) == ("met", "breached", "breached", "running")
    history = snapshot(met, breached, late_open)
    due_before = running.due_at
    with django_capture_on_commit_callbacks(execute=True):
        # One day's office hours only: every completed clock would score differently if it were replayed.
        services.calendar_save(actor=world.manager, calendar=world.calendar, intervals=office_hours_elsewhere())
    assert snapshot(met, breached, late_open) == history
    running.refresh_from_db()
    assert running.due_at != due_before and RecomputeJob.objects.get().total == 1


# --- chunks: fan-out, idempotency, progress ------------------------------------------------


def test_chunks_fan_out_and_progress_reaches_100_percent(world, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(recompute, "CHUNK", 2)
    clocks = [incident_opened(world, 1 + i / 10) for i in range(5)]
    queued = []
    real = recompute._queue_chunks
    monkeypatch.setattr(recompute, "_queue_chunks", lambda ids: (queued.append(list(ids)), real(ids)))
    with django_capture_on_commit_callbacks(execute=True):
        services.calendar_save(actor=world.manager, calendar=world.calendar, intervals=office_hours_elsewhere())
    job = RecomputeJob.objects.get()
    assert [len(ids) for ids in queued] == [3]  # one group of three chunk tasks (2 + 2 + 1 clocks)
    assert sorted(job.chunks.values_list("size", flat=True)) == [1, 2, 2]
    assert (job.total, job.done, job.percent, job.changed) == (5, 5, 100, 5) and job.finished_at is not None
    assert all(c.updated_at == job.as_of for c in SLAClock.objects.filter(pk__in=[c.pk for c in clocks]))


def planned_job(world, monkeypatch, *, chunk=2):
    """A calendar edit whose recomputation is planned but whose chunks have not run."""
    monkeypatch.setattr(recompute, "CHUNK", chunk)
    monkeypatch.setattr(recompute, "_queue_chunks", lambda ids: None)
    monkeypatch.setattr(recompute, "_queue_plan", lambda job_id: None)
    services.calendar_save(actor=world.manager, calendar=world.calendar, intervals=office_hours_elsewhere())
    job = RecomputeJob.objects.get()
    return job, recompute.plan(job.pk)


def test_a_chunk_run_twice_gives_the_same_figures_and_counts_once(world, monkeypatch):
    clocks = [incident_opened(world, 1 + i / 10) for i in range(3)]
    job, pending = planned_job(world, monkeypatch)
    assert len(pending) == 2 and recompute.plan(job.pk) == pending  # planning again makes no new chunks
    assert recompute.run_chunk(pending[0]) == 2
    first = snapshot(*clocks)
    assert recompute.run_chunk(pending[0]) == 0  # delivered again: skipped
    job.refresh_from_db()
    assert (job.done, job.finished_at) == (2, None) and job.percent == 66
    # Even forced to recompute again (as if its done mark were lost), it writes the same figures.
    RecomputeChunk.objects.filter(pk=pending[0]).update(done_at=None)
    assert recompute.run_chunk(pending[0]) == 0 and snapshot(*clocks) == first
    assert recompute.run_chunk(pending[1]) == 1
    job.refresh_from_db()
    assert job.finished_at is not None and job.done == 2 + 2 + 1 and job.percent == 100


def test_a_chunk_that_hits_a_deadlock_is_retried(world, monkeypatch):
    from celery.exceptions import Retry
    from django.db import OperationalError

    from slas.tasks import recompute_chunk, recompute_plan

    assert recompute_chunk.acks_late and recompute_plan.acks_late
    incident_opened(world, 1)
    job, pending = planned_job(world, monkeypatch)
    real, calls = recompute.run_chunk, []

    def deadlocked_once(chunk_id):
        calls.append(chunk_id)
        if len(calls) == 1:
            raise OperationalError("deadlock detected")
        return real(chunk_id)

    monkeypatch.setattr(recompute, "run_chunk", deadlocked_once)
    with pytest.raises(Retry):  # asks to be run again (eagerly, the retry is raised rather than queued)
        recompute_chunk.delay(pending[0])
    job.refresh_from_db()
    assert job.done == 0 and job.finished_at is None
    assert recompute_chunk.delay(pending[0]).get() == 1  # the retry
    job.refresh_from_db()
    assert calls == [pending[0]] * 2 and job.finished_at is not None and job.done == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the rewrite guard is part of the PostgreSQL UPDATE")
def test_a_clock_a_ticket_event_rewrote_meanwhile_is_not_overwritten(world, monkeypatch):
    clock = incident_opened(world, 1)
    job, pending = planned_job(world, monkeypatch)
    read_events = recompute._event_logs

    def ticket_moves_meanwhile(*args):
        # Between the chunk's read of the clock and its write, a ticket event recomputed it.
        SLAClock.objects.filter(pk=clock.pk).update(
            updated_at=timezone.now() + dt.timedelta(seconds=1), elapsed_seconds=7
        )
        return read_events(*args)

    monkeypatch.setattr(recompute, "_event_logs", ticket_moves_meanwhile)
    assert recompute.run_chunk(pending[0]) == 0
    assert SLAClock.objects.get(pk=clock.pk).elapsed_seconds == 7
    monkeypatch.setattr(recompute, "_event_logs", read_events)
    RecomputeChunk.objects.filter(pk=pending[0]).update(done_at=None)
    assert recompute.run_chunk(pending[0]) == 1  # without the race it is rewritten


# --- SLA edits that re-target running clocks ------------------------------------------------


def test_retargeting_running_clocks_runs_as_a_job_and_leaves_completed_ones(world, django_capture_on_commit_callbacks):
    running = incident_opened(world, 1)
    met = incident_opened(world, 10, (2, "resolved", ""))
    history = snapshot(met)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        version = services.sla_new_version(
            actor=world.manager, sla=world.p1, resolution_seconds=2 * HOUR, retarget_running=True
        )
    assert tasks_queued(callbacks)  # queued after the commit, not done in the edit's request
    job = RecomputeJob.objects.get()
    assert (job.sla, job.version, job.started_by, job.total, job.done) == (world.p1, version, world.manager, 1, 1)
    running.refresh_from_db()
    assert running.version == version and running.target_seconds == 2 * HOUR
    assert running.due_at == running.started_at + dt.timedelta(hours=2)
    assert snapshot(met) == history


def test_a_later_retargeting_edit_wins_over_an_earlier_job_still_running(world, monkeypatch):
    running = incident_opened(world, 1)
    monkeypatch.setattr(recompute, "_queue_plan", lambda job_id: None)
    monkeypatch.setattr(recompute, "_queue_chunks", lambda ids: None)
    services.sla_new_version(actor=world.manager, sla=world.p1, resolution_seconds=2 * HOUR, retarget_running=True)
    v3 = services.sla_new_version(actor=world.manager, sla=world.p1, resolution_seconds=3 * HOUR, retarget_running=True)
    first, second = RecomputeJob.objects.order_by("pk")
    for chunk in recompute.plan(second.pk):
        recompute.run_chunk(chunk)
    for chunk in recompute.plan(first.pk):  # the earlier job's chunks run last
        recompute.run_chunk(chunk)
    running.refresh_from_db()
    assert running.version == v3 and running.target_seconds == 3 * HOUR


def test_an_edit_without_retargeting_starts_no_job(world, django_capture_on_commit_callbacks):
    running = incident_opened(world, 1)
    with django_capture_on_commit_callbacks(execute=True):
        services.sla_new_version(actor=world.manager, sla=world.p1, resolution_seconds=2 * HOUR)
    assert not RecomputeJob.objects.exists()
    assert SLAClock.objects.get(pk=running.pk).target_seconds == 4 * HOUR


def test_the_sla_page_shows_the_progress_and_polls_until_done(world, client, monkeypatch):
    incident_opened(world, 1)
    monkeypatch.setattr(recompute, "_queue_plan", lambda job_id: None)
    client.force_login(world.manager)
    response = client.post(
        reverse("sla_edit", args=[world.p1.pk]),
        {
            "resolution_seconds": "2h",
            "calendar": world.calendar.pk,
            "priorities": ["1"],
            "warning_thresholds": "50, 75",
            "target_percentage": "95",
            "pause_on": ["awaiting_vendor"],
            "carry_pauses": "on",
            "retarget_running": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    job = RecomputeJob.objects.get()
    page = client.get(reverse("sla_detail", args=[world.p1.pk])).content.decode()
    progress_url = reverse("recompute_progress", args=[job.pk])
    assert (
        "Running clocks re-targeted to version 2" in page
        and f'hx-get="{progress_url}"' in page
        and 'hx-trigger="every 2s"' in page
    )
    recompute.plan(job.pk)
    for chunk in job.chunks.all():
        recompute.run_chunk(chunk.pk)
    partial = client.get(progress_url, HTTP_HX_REQUEST="true").content.decode()
    assert "Done: 1 open clock recomputed" in partial and "hx-trigger" not in partial


def test_only_staff_follow_a_recomputation(world, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.calendar_save(actor=world.manager, calendar=world.calendar, name="Round the clock")
    job = RecomputeJob.objects.get()
    client.force_login(UserFactory(username="employee"))
    assert client.get(reverse("recompute_progress", args=[job.pk])).status_code == 403
    client.force_login(world.agent)
    assert client.get(reverse("recompute_progress", args=[job.pk])).status_code == 200
    assert client.get(reverse("recompute_progress", args=[job.pk + 1])).status_code == 404


# --- the fast derivation agrees with replay() ----------------------------------------------

STATES = ["new", "assigned", "in_progress", "on_hold", "resolved", "closed", "cancelled"]
HOLDS = ["", "awaiting_vendor", "awaiting_caller"]
OFFICE = CalendarSpec(
    "Europe/London",
    {d: ((T(9), T(12, 30)), (T(13, 30), T(17, 30))) for d in range(5)},
    {dt.date(2026, 3, 30): "A holiday"},
)
BUSINESS = BusinessTime(OFFICE, around=dt.date(2026, 3, 28))  # spans the change to summer time on 29 March
START = dt.datetime(2026, 3, 26, 8, tzinfo=UTC)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 40 * HOUR), st.integers(0, 999_999), st.sampled_from(STATES), st.sampled_from(HOLDS)),
        min_size=0,
        max_size=6,
    ),
    metric=st.sampled_from(["response", "resolution"]),
    target=st.integers(60, 20 * HOUR),
    thresholds=st.lists(st.integers(1, 99), max_size=3),
    pause_on=st.lists(st.sampled_from(HOLDS[1:]), max_size=2),
    carry=st.booleans(),
    started_after=st.integers(0, 30 * HOUR),
    now_after=st.integers(0, 80 * HOUR),
    notified=st.sampled_from([0, 50, 75, 100]),
)
def test_stored_figures_agree_with_replay(
    steps, metric, target, thresholds, pause_on, carry, started_after, now_after, notified
):
    version = SLAVersion(
        response_seconds=target,
        resolution_seconds=target,
        warning_thresholds=thresholds,
        pause_on=pause_on,
        carry_pauses=carry,
    )
    at = START
    events = [SimpleNamespace(at=START, state="new", hold_reason="")]
    for gap, micro, state, hold in steps:
        at = at + dt.timedelta(seconds=gap, microseconds=micro)
        events.append(SimpleNamespace(at=at, state=state, hold_reason=hold if state == "on_hold" else ""))
    clock_started = START + dt.timedelta(seconds=started_after)
    now = at + dt.timedelta(seconds=now_after, microseconds=123)
    figures = engine.replay(events, version, metric, BUSINESS, now=now, clock_started=clock_started)
    clock = SimpleNamespace(version=version, notified_threshold=notified, metric=metric, target_seconds=target)
    services._apply(clock, figures, now)

    tuples = [(recompute._us(e.at) // 1_000_000, recompute._us(e.at), e.state, e.hold_reason) for e in events]
    fast = engine.stored_figures(
        tuples, engine.Rules.of(version, metric), BUSINESS, now.timestamp(), recompute._us(clock_started), notified
    )

    def instant(s):
        return None if s is None else dt.datetime.fromtimestamp(s, UTC)

    def event_at(i):
        return None if i is None else events[i].at

    assert (fast.state, fast.elapsed_seconds, event_at(fast.stopped_index), event_at(fast.counting_index)) == (
        clock.state,
        clock.elapsed_seconds,
        clock.stopped_at,
        clock.counting_since,
    )
    assert (instant(fast.due_s), instant(fast.breached_s), instant(fast.next_s)) == (
        clock.due_at,
        clock.breached_at,
        clock.next_event_at,
    )


def test_changed_span_of_an_edit():
    hours = {0: ((T(9), T(17)),)}
    before = CalendarSpec("Europe/London", hours, {dt.date(2026, 12, 25): "Christmas Day"})
    assert (
        engine.changed_span(before, CalendarSpec("Europe/London", hours, {dt.date(2026, 12, 25): "Xmas"})) is None
    )  # a name only
    assert engine.changed_span(before, CalendarSpec("Europe/Paris", hours, before.holidays)) == (None, None)
    assert engine.changed_span(before, CalendarSpec("Europe/London", {0: ((T(9), T(18)),)}, before.holidays)) == (
        None,
        None,
    )
    first, until = engine.changed_span(
        before, CalendarSpec("Europe/London", hours, {dt.date(2026, 7, 1): "Summer day"})
    )
    assert (first.isoformat(), until.isoformat()) == ("2026-07-01T00:00:00+01:00", "2026-12-26T00:00:00+00:00")
