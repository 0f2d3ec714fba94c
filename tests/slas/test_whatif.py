"""What-if: a candidate version replayed on the recorded events of a past period, never saved."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from slas import services
from slas.models import SLAClock, SLAVersion, TicketEvent
from slas.whatif import what_if
from tests.factories import ManagerFactory, ServiceFactory

pytestmark = pytest.mark.django_db
T = dt.time
HOUR = 3600
NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def boss(db):
    return ManagerFactory(username="sla-boss")


@pytest.fixture
def always(boss):
    return services.calendar_save(
        actor=boss, name="24x7", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )


def ticket(ticket_id, opened, *changes, priority=1, service_id=None):
    """Record a ticket's history: opened at `opened`, then (hours after opening, state, hold reason)."""
    base = dict(
        ticket_type="incidents.incident", ticket_id=ticket_id, priority=priority, service_id=service_id, group_id=None
    )
    TicketEvent.objects.create(at=opened, kind="opened", state="new", hold_reason="", **base)
    for hours, state, reason in changes:
        TicketEvent.objects.create(
            at=opened + dt.timedelta(hours=hours), kind="change", state=state, hold_reason=reason, **base
        )


def history():
    day = dt.datetime(2026, 6, 10, 8, 0, tzinfo=dt.timezone.utc)
    ticket(1, day, (0.25, "in_progress", ""), (5, "resolved", ""))  # resolution breached under a 4 h target
    ticket(2, day, (0.25, "in_progress", ""), (2, "resolved", ""))  # met
    ticket(3, day, (0.25, "in_progress", ""), (9, "resolved", ""), priority=3)  # a P3: not applicable to a P1 SLA
    ticket(
        4, day, (0.25, "on_hold", "awaiting_vendor"), (3.25, "in_progress", ""), (4.5, "resolved", "")
    )  # 4.5 h, 3 h of it paused: met
    ticket(5, day, (4, "resolved", ""))  # exactly on target: met (and responded late: 4 h > 30 min)
    ticket(6, day, (4 + 1 / HOUR, "resolved", ""))  # one second over: breached
    ticket(7, day - dt.timedelta(days=40), (9, "resolved", ""))  # opened before the period: not counted


def test_a_candidate_scores_the_past_period_on_exact_seconds(boss, always):
    history()
    candidate = services.sla_create(
        actor=boss,
        name="P1 mail",
        priorities=[1],
        resolution_seconds=4 * HOUR,
        calendar=always,
        pause_on=["awaiting_vendor"],
        target_percentage=Decimal("60"),
    ).current_version
    result = what_if(candidate, dt.date(2026, 6, 1), dt.date(2026, 6, 30), now=NOW)
    assert (result["tickets"], result["applicable"], result["not_applicable"]) == (6, 5, 1)
    [resolution] = result["metrics"]
    assert (resolution["met"], resolution["breached"], resolution["open"]) == (3, 2, 0)
    assert resolution["compliance"] == Decimal("60.00") and resolution["meets_target"] is True  # 3 of 5 = exactly 60 %
    assert {b["ticket_id"]: b["over_seconds"] for b in result["breaches"]} == {1: HOUR, 6: 1}
    assert result["breaches"][0]["ticket_id"] == 1  # the largest first
    assert (result["met"], result["breached"]) == (3, 2)
    assert not SLAClock.objects.exists()  # nothing derived, nothing saved


def test_the_same_history_under_other_values_from_fields(boss, always):
    history()
    fields = {
        "priorities": [1, 3],
        "response_seconds": HOUR // 2,
        "resolution_seconds": 10 * HOUR,
        "calendar": always.pk,
        "pause_on": [],
        "warning_thresholds": [50, 75],
        "target_percentage": Decimal("95"),
        "service": None,
        "assignment_group": None,
    }
    versions_before = SLAVersion.objects.count()
    result = what_if(fields, dt.date(2026, 6, 1), dt.date(2026, 6, 30), now=NOW)
    assert SLAVersion.objects.count() == versions_before
    metrics = {m["metric"]: m for m in result["metrics"]}
    assert result["applicable"] == 6 and result["not_applicable"] == 0
    assert (metrics["resolution"]["met"], metrics["resolution"]["breached"]) == (6, 0)
    # Tickets 5 and 6 were taken only at resolution (4 h): late for a 30-minute response.
    assert (metrics["response"]["met"], metrics["response"]["breached"]) == (4, 2)
    assert metrics["response"]["meets_target"] is False and metrics["response"]["compliance"] == Decimal("66.67")
    assert (result["met"], result["breached"]) == (4, 2)  # a ticket meets the SLA when all its clocks met


def test_service_conditions_and_open_tickets(boss, always):
    mail, web = ServiceFactory(name="Mail"), ServiceFactory(name="Web")
    day = dt.datetime(2026, 6, 29, 8, 0, tzinfo=dt.timezone.utc)
    ticket(10, day, (0.1, "in_progress", ""), service_id=mail.pk)  # still open: 28 h in, target 48 h
    ticket(11, day, (0.1, "in_progress", ""), service_id=web.pk)
    ticket(12, day, (0.1, "cancelled", ""), service_id=mail.pk)
    candidate = services.sla_create(
        actor=boss, name="Mail", service=mail, resolution_seconds=48 * HOUR, calendar=always
    ).current_version
    result = what_if(candidate, dt.date(2026, 6, 29), dt.date(2026, 6, 29), now=NOW)
    [row] = result["metrics"]
    assert (result["applicable"], result["not_applicable"]) == (2, 1)
    assert (row["open"], row["cancelled"], row["met"], row["breached"]) == (1, 1, 0, 0)
    assert row["compliance"] is None and row["meets_target"] is None  # nothing decided yet


def test_events_are_read_in_one_query_whatever_the_number_of_tickets(boss, always, django_assert_num_queries):
    candidate = services.sla_create(
        actor=boss, name="P1", priorities=[1], resolution_seconds=4 * HOUR, calendar=always
    ).current_version
    day = dt.datetime(2026, 6, 10, 8, 0, tzinfo=dt.timezone.utc)
    for n in range(3):
        ticket(100 + n, day, (1, "resolved", ""))
    what_if(candidate, dt.date(2026, 6, 1), dt.date(2026, 6, 30), now=NOW)  # warms the calendar cache
    with django_assert_num_queries(1):
        small = what_if(candidate, dt.date(2026, 6, 1), dt.date(2026, 6, 30), now=NOW)
    for n in range(40):
        ticket(200 + n, day + dt.timedelta(hours=n), (1, "in_progress", ""), (6, "resolved", ""))
    with django_assert_num_queries(1):
        large = what_if(candidate, dt.date(2026, 6, 1), dt.date(2026, 6, 30), now=NOW)
    assert (small["tickets"], large["tickets"]) == (3, 43)
    assert (large["metrics"][0]["met"], large["metrics"][0]["breached"]) == (3, 40)


def test_defaults_to_now_and_current_time_zone(boss, always):
    candidate = services.sla_create(actor=boss, name="P1", resolution_seconds=HOUR, calendar=always).current_version
    ticket(300, timezone.now() - dt.timedelta(days=2), (0.5, "resolved", ""))
    result = what_if(candidate, timezone.localdate() - dt.timedelta(days=29), timezone.localdate())
    assert result["tickets"] == 1 and result["metrics"][0]["met"] == 1
