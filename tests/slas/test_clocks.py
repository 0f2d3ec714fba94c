"""SLA clocks: start, warn, breach once, pause, re-target on a priority change, versions."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from incidents import services as desk
from incidents.models import Incident
from slas import services
from slas.models import (
    ClockNotification,
    ClockState,
    ServiceLevelAgreement,
    SLAClock,
    SLAStatus,
    TicketEvent,
)
from tests.factories import (
    ManagerFactory,
    TeamFactory,
    UserFactory,
    rewriting_event_log,
)

pytestmark = pytest.mark.django_db
T = dt.time
HOUR = 3600


@pytest.fixture
def world(db):
    manager = ManagerFactory(username="sla-boss", email="boss@example.test")
    agent = UserFactory(username="agent", email="agent@example.test", roles=["support"])
    group = TeamFactory(name="Desk", manager=manager, members=[agent])
    always = services.calendar_save(
        actor=manager, name="24x7", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    p1 = services.sla_create(
        actor=manager,
        name="P1 mail",
        priorities=[1],
        response_seconds=HOUR // 2,
        resolution_seconds=4 * HOUR,
        calendar=always,
        pause_on=["awaiting_vendor"],
    )
    p3 = services.sla_create(
        actor=manager, name="P3 mail", priorities=[3], resolution_seconds=8 * HOUR, calendar=always
    )
    ServiceLevelAgreement.objects.filter(pk__in=[p1.pk, p3.pk]).update(status=SLAStatus.ACTIVE)
    return {"manager": manager, "agent": agent, "group": group, "calendar": always, "p1": p1, "p3": p3}


def clocks(incident, **filters):
    return SLAClock.objects.filter(ticket_type="incidents.incident", ticket_id=incident.pk, **filters)


def test_a_p1_incident_starts_its_clocks_with_due_times(world):
    incident = desk.incident_create(actor=world["agent"], title="Mail down", impact=1, urgency=1)
    rows = {c.metric: c for c in clocks(incident)}
    assert set(rows) == {"response", "resolution"}
    assert (
        rows["resolution"].due_at == incident.created_at.replace(microsecond=0) + dt.timedelta(hours=4)
        or abs((rows["resolution"].due_at - incident.created_at).total_seconds() - 4 * HOUR) < 2
    )
    assert rows["resolution"].state == ClockState.RUNNING and rows["resolution"].next_event_at is not None


def test_warnings_and_breach_are_notified_exactly_once(world, mailoutbox, django_capture_on_commit_callbacks):
    incident = desk.incident_create(
        actor=world["agent"],
        title="Mail down",
        impact=1,
        urgency=1,
        assignment_group=world["group"],
        assignee=world["agent"],
    )
    start = incident.created_at
    with django_capture_on_commit_callbacks(execute=True):
        services.sweep(now=start + dt.timedelta(hours=2, minutes=1))  # 50 % of resolution; response breached too
    thresholds = sorted(
        ClockNotification.objects.filter(clock__metric="resolution").values_list("threshold", flat=True)
    )
    assert thresholds == [50]
    with django_capture_on_commit_callbacks(execute=True):
        services.sweep(now=start + dt.timedelta(hours=5))
        services.sweep(now=start + dt.timedelta(hours=5))  # a second sweep (or beat twice) adds nothing
    thresholds = sorted(
        ClockNotification.objects.filter(clock__metric="resolution").values_list("threshold", flat=True)
    )
    assert thresholds == [50, 75, 100]
    resolution = clocks(incident, metric="resolution").get()
    assert resolution.state == ClockState.BREACHED and resolution.breached_at is not None
    assert Incident.objects.get(pk=incident.pk).sla_breached
    assert any("boss@example.test" in m.to and "breached" in m.subject for m in mailoutbox)
    assert any("agent@example.test" in m.to and "warning" in m.subject for m in mailoutbox)
    sent = ClockNotification.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        services.sweep(now=start + dt.timedelta(hours=9))
    assert ClockNotification.objects.count() == sent


def test_a_hold_for_a_pause_reason_stops_the_count_and_moves_the_due_time(world):
    t0 = (timezone.now() - dt.timedelta(hours=10)).replace(microsecond=0)  # clocks count whole seconds
    incident = desk.incident_create(actor=world["agent"], title="x", impact=1, urgency=1)
    base = dict(ticket_type="incidents.incident", ticket_id=incident.pk, priority=1, service_id=None, group_id=None)
    with rewriting_event_log():
        TicketEvent.objects.filter(ticket_type="incidents.incident", ticket_id=incident.pk).update(
            at=t0
        )  # opened ten hours ago
    TicketEvent.objects.create(
        at=t0 + dt.timedelta(hours=1), kind="change", state="on_hold", hold_reason="awaiting_vendor", **base
    )
    TicketEvent.objects.create(
        at=t0 + dt.timedelta(hours=3), kind="change", state="in_progress", hold_reason="", **base
    )
    services.sync_clocks("incidents.incident", incident.pk, now=t0 + dt.timedelta(hours=4))
    resolution = clocks(incident, metric="resolution").get()
    assert resolution.elapsed_seconds == 2 * HOUR  # 1 h before the hold + 1 h after it
    assert resolution.due_at == t0 + dt.timedelta(hours=6)  # 4 h target + 2 h paused
    paused_timeline = services.clock_timeline(resolution, now=t0 + dt.timedelta(hours=4))
    assert any(row["reason"] == "paused: on hold, awaiting vendor" for row in paused_timeline)


def test_a_priority_change_retargets_from_the_original_start(world):
    incident = desk.incident_create(actor=world["agent"], title="slow mail", impact=2, urgency=2)
    assert [c.version.sla.name for c in clocks(incident)] == ["P3 mail"]
    desk.incident_update(actor=world["agent"], incident=incident, impact=1, urgency=1)
    live = clocks(incident).exclude(state=ClockState.CANCELLED)
    assert sorted(c.version.sla.name for c in live) == ["P1 mail", "P1 mail"]
    assert all(c.started_at == clocks(incident, version__sla__name="P3 mail").get().started_at for c in live)
    assert clocks(incident, version__sla__name="P3 mail").get().state == ClockState.CANCELLED


def test_resolving_stops_and_compares_exact_seconds(world):
    incident = desk.incident_create(actor=world["agent"], title="x", impact=1, urgency=1)
    t0 = (timezone.now() - dt.timedelta(hours=4)).replace(microsecond=0)
    with rewriting_event_log():
        TicketEvent.objects.filter(ticket_type="incidents.incident", ticket_id=incident.pk).update(at=t0)
    base = dict(
        ticket_type="incidents.incident",
        ticket_id=incident.pk,
        priority=1,
        service_id=None,
        group_id=None,
        hold_reason="",
    )
    TicketEvent.objects.create(
        at=t0 + dt.timedelta(hours=4), kind="change", state="resolved", **base
    )  # exactly on target
    services.sync_clocks("incidents.incident", incident.pk)
    assert clocks(incident, metric="resolution").get().state == ClockState.MET
    TicketEvent.objects.create(
        at=t0 + dt.timedelta(hours=4, seconds=1), kind="change", state="in_progress", **base
    )  # reopened
    TicketEvent.objects.create(at=t0 + dt.timedelta(hours=4, seconds=2), kind="change", state="resolved", **base)
    services.sync_clocks("incidents.incident", incident.pk)
    resolution = clocks(incident, metric="resolution").get()
    assert resolution.elapsed_seconds == 4 * HOUR + 1 and resolution.state == ClockState.BREACHED


def test_editing_an_active_sla_makes_a_version_and_running_clocks_keep_theirs(
    world, django_capture_on_commit_callbacks
):
    incident = desk.incident_create(actor=world["agent"], title="x", impact=1, urgency=1)
    version2 = services.sla_new_version(actor=world["manager"], sla=world["p1"], resolution_seconds=2 * HOUR)
    assert version2.number == 2 and version2.response_seconds == HOUR // 2
    old = clocks(incident, metric="resolution").get()
    assert old.version.number == 1 and old.target_seconds == 4 * HOUR
    newer = desk.incident_create(actor=world["agent"], title="y", impact=1, urgency=1)
    assert clocks(newer, metric="resolution").get().version.number == 2
    with django_capture_on_commit_callbacks(execute=True):  # re-targeting runs in the background once the edit commits
        services.sla_new_version(
            actor=world["manager"], sla=world["p1"], resolution_seconds=3 * HOUR, retarget_running=True
        )
    assert clocks(incident, metric="resolution").get().target_seconds == 3 * HOUR


def test_business_hours_and_holidays_count_only_working_time(world):
    office = services.calendar_save(
        actor=world["manager"],
        name="Office",
        time_zone="Europe/London",
        intervals=[(d, T(9), T(17)) for d in range(5)],
        holidays=[(dt.date(2026, 12, 25), "Christmas Day")],
    )
    sla = services.sla_create(
        actor=world["manager"], name="P2 office", priorities=[2], resolution_seconds=8 * HOUR, calendar=office
    )
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=SLAStatus.ACTIVE)
    incident = desk.incident_create(actor=world["agent"], title="x", impact=1, urgency=2)
    thursday = dt.datetime(2026, 12, 24, 16, tzinfo=dt.UTC)
    with rewriting_event_log():
        TicketEvent.objects.filter(ticket_type="incidents.incident", ticket_id=incident.pk).update(at=thursday)
    services.sync_clocks("incidents.incident", incident.pk, now=dt.datetime(2026, 12, 29, 9, tzinfo=dt.UTC))
    clock = clocks(incident, version__sla=sla).get()
    assert (
        clock.elapsed_seconds == 1 * HOUR + 8 * HOUR
    )  # Thu 16-17, Mon 28th 9-17 (Christmas and the weekend do not count)
    timeline = services.clock_timeline(clock, now=dt.datetime(2026, 12, 29, 9, tzinfo=dt.UTC))
    assert any("public holiday: Christmas Day" in row["reason"] for row in timeline)


@pytest.mark.parametrize(
    "kwargs,field",
    [
        ({"resolution_seconds": 0}, "resolution_seconds"),
        ({"resolution_seconds": 3600, "warning_thresholds": [50, 120]}, "warning_thresholds"),
        ({"resolution_seconds": 3600, "priorities": [9]}, "priorities"),
        ({"resolution_seconds": 3600, "pause_on": ["coffee"]}, "pause_on"),
        ({}, "resolution_seconds"),
    ],
)
def test_bad_sla_input_is_refused(world, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        services.sla_create(actor=world["manager"], name="bad", calendar=world["calendar"], **kwargs)
    assert field in exc.value.message_dict
    assert not ServiceLevelAgreement.objects.filter(name="bad").exists()


def test_overlapping_calendar_intervals_are_refused(world):
    with pytest.raises(ValidationError) as exc:
        services.calendar_save(actor=world["manager"], name="bad", intervals=[(0, T(9), T(12)), (0, T(11), T(13))])
    assert "intervals" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.calendar_save(actor=world["manager"], name="bad2", time_zone="Mars/Olympus")


def test_a_calendar_edit_recomputes_open_clocks_in_chunks(world, django_capture_on_commit_callbacks, monkeypatch):
    from slas import recompute
    from slas.models import RecomputeChunk

    monkeypatch.setattr(recompute, "CHUNK", 2)
    for i in range(3):
        desk.incident_create(actor=world["agent"], title=f"x{i}", impact=1, urgency=1)
    before = {c.pk: c.due_at for c in SLAClock.objects.filter(metric="resolution")}
    with django_capture_on_commit_callbacks(execute=True):
        # Weekends off now: due times move for every open clock.
        services.calendar_save(
            actor=world["manager"], calendar=world["calendar"], intervals=[(d, T(0), T(0)) for d in range(5)]
        )
    assert sorted(RecomputeChunk.objects.values_list("size", flat=True)) == [2, 2, 2]  # 6 clocks, chunks of 2
    assert not RecomputeChunk.objects.filter(done_at__isnull=True).exists()
    assert set(SLAClock.objects.filter(metric="resolution").values_list("pk", flat=True)) == set(before)


def test_a_calendar_edit_shows_the_recompute_progress_to_the_manager(world, client, django_capture_on_commit_callbacks):
    from slas.models import RecomputeJob

    for i in range(3):
        desk.incident_create(actor=world["agent"], title=f"x{i}", impact=1, urgency=1)
    with django_capture_on_commit_callbacks(execute=True):  # the chunks run (eagerly) once the edit commits
        services.calendar_save(
            actor=world["manager"], calendar=world["calendar"], intervals=[(d, T(0), T(0)) for d in range(5)]
        )
    job = RecomputeJob.objects.get()
    assert job.started_by == world["manager"] and job.total == job.done == 6 and job.finished_at is not None
    client.force_login(world["manager"])
    page = client.get(f"/optimizing/calendars/{world['calendar'].pk}/")
    assert page.status_code == 200 and b"6 open clocks recomputed" in page.content
