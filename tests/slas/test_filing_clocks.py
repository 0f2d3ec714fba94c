"""Filing an incident with SLAs applicable: its clocks are inserted once with their figures, in a
fixed number of queries; the active SLA versions (and the priority matrix, and what webhook
subscriptions want) are kept per process, and a change to them applies to the next filing:
in this process, in another one (the generation in the shared cache), never a rolled-back one.

These tests commit (transaction=True): what a process keeps is only what has been committed."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from incidents import selectors as desk_selectors
from incidents import services as desk
from incidents.models import PriorityRule
from integrations.models import OutboxEvent
from mof.models import OutgoingMail
from slas import selectors, services
from slas.models import ClockState, ServiceLevelAgreement, SLAClock, SLAStatus
from tests.factories import ManagerFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
T = dt.time
HOUR = 3600
FIGURES = (
    "version_id",
    "metric",
    "state",
    "started_at",
    "stopped_at",
    "elapsed_seconds",
    "counting_since",
    "target_seconds",
    "due_at",
    "breached_at",
    "next_event_at",
    "notified_threshold",
)


@pytest.fixture
def world():
    manager = ManagerFactory(username="sla-boss", email="boss@example.test")
    agent = UserFactory(username="agent", email="agent@example.test", roles=["support"])
    group = TeamFactory(name="Desk", manager=manager, members=[agent])
    always = services.calendar_save(
        actor=manager, name="24x7", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    office = services.calendar_save(
        actor=manager, name="Office", time_zone="Europe/London", intervals=[(d, T(9), T(10)) for d in range(5)]
    )
    p1 = services.sla_create(
        actor=manager,
        name="P1",
        priorities=[1, 2],
        response_seconds=HOUR // 2,
        resolution_seconds=4 * HOUR,
        calendar=always,
    )
    p3 = services.sla_create(
        actor=manager,
        name="P3-P5",
        priorities=[3, 4, 5],
        response_seconds=4 * HOUR,
        resolution_seconds=24 * HOUR,
        calendar=office,
    )
    ola = services.sla_create(
        actor=manager, name="Desk OLA", kind="ola", assignment_group=group, resolution_seconds=8 * HOUR, calendar=office
    )
    ServiceLevelAgreement.objects.filter(pk__in=[p1.pk, p3.pk, ola.pk]).update(status=SLAStatus.ACTIVE)
    return {
        "manager": manager,
        "agent": agent,
        "group": group,
        "always": always,
        "office": office,
        "p1": p1,
        "p3": p3,
        "ola": ola,
    }


def file(world, **fields):
    return desk.incident_create(
        actor=world["agent"],
        title="Mail down",
        assignment_group=world["group"],
        **{"impact": 1, "urgency": 1, **fields},
    )


def clocks(incident):
    return SLAClock.objects.filter(ticket_type="incidents.incident", ticket_id=incident.pk).select_related(
        "version__sla"
    )


@pytest.fixture
def queued(monkeypatch):
    """The mail relay is queued after commit (counted here, not run: its queries are the task's)."""
    from mof import tasks

    calls = []
    monkeypatch.setattr(tasks.send_outgoing_mail, "delay", lambda *args: calls.append(args))
    return calls


def test_a_filing_with_slas_applicable_costs_a_fixed_number_of_queries(world, queued):
    file(world)  # the first filing of the process reads the SLA versions, the matrix and the subscriptions
    with CaptureQueriesContext(connection) as ctx:
        incident = file(world)
    sql = [q["sql"] for q in ctx.captured_queries]
    # BEGIN; the number (a sequence on PostgreSQL); the incident, in the savepoint that lets a
    # taken number be drawn again, with the group and its members in one query, their
    # notification preferences, their in-portal notifications in one INSERT, a lock on their mail
    # threads' roots and which of them hold one already, their mail in one INSERT (the
    # notification outbox) and its audit entry; its SLA event; its three clocks in one INSERT (the
    # filing service calls the SLA service in its transaction); COMMIT; after it, the mail relay's
    # flag (queue one task at most). No SLA, matrix or subscription query, no UPDATE of a clock,
    # no re-read of the event just written.
    assert len(sql) == 16, "\n".join(sql)
    assert len([s for s in sql if "SAVEPOINT" in s]) == 2
    assert "mof_relayflag" in sql[-1] and [s.split()[0] for s in sql[:-1]].count("INSERT") == 6
    assert not [
        s
        for s in sql
        if "slas_slaversion" in s or "incidents_priorityrule" in s or "integrations_webhooksubscription" in s
    ]
    assert not [s for s in sql if s.startswith("UPDATE")]
    assert sorted((c.version.sla.name, c.metric) for c in clocks(incident)) == [
        ("Desk OLA", "resolution"),
        ("P1", "resolution"),
        ("P1", "response"),
    ]
    assert len(queued) == 1  # the relay queued after the first filing still waits: the second queued none
    assert (
        OutgoingMail.objects.filter(kind="incidents.landed_in_queue", to_email="agent@example.test").count() == 2
    )  # the group heard of both filings


def test_clocks_are_inserted_with_the_figures_a_recompute_gives(world):
    incident = file(world, impact=2, urgency=3)  # P4: office hours
    rows = list(clocks(incident))
    assert {c.metric for c in rows} == {"response", "resolution"} and len(rows) == 3
    for clock in rows:
        inserted = {name: getattr(clock, name) for name in FIGURES}
        again = services.recompute_clock(clock, now=clock.created_at)
        assert inserted == {name: getattr(again, name) for name in FIGURES}
        assert clock.state == ClockState.RUNNING and clock.due_at is not None and clock.next_event_at is not None


def test_an_sla_change_applies_to_the_next_filing(world):
    assert clocks(file(world)).filter(version__sla=world["p1"], metric="resolution").get().target_seconds == 4 * HOUR
    services.sla_new_version(actor=world["manager"], sla=world["p1"], resolution_seconds=2 * HOUR)
    assert clocks(file(world)).filter(version__sla=world["p1"], metric="resolution").get().target_seconds == 2 * HOUR
    ServiceLevelAgreement.objects.filter(pk=world["p1"].pk).update(status=SLAStatus.RETIRED)
    assert not clocks(file(world)).filter(version__sla=world["p1"]).exists()
    services.sla_new_version(
        actor=world["manager"],
        sla=world["ola"],
        assignment_group=TeamFactory(name="Elsewhere"),
        resolution_seconds=8 * HOUR,
    )
    assert not clocks(file(world)).filter(version__sla=world["ola"]).exists()  # its newest version no longer matches


def test_a_calendar_edit_applies_to_the_next_filing(world):
    before = clocks(file(world, impact=3, urgency=3)).get(version__sla=world["p3"], metric="response")
    services.calendar_save(
        actor=world["manager"], calendar=world["office"], time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    after = clocks(file(world, impact=3, urgency=3)).get(version__sla=world["p3"], metric="response")
    assert (
        abs((after.due_at - after.started_at).total_seconds() - 4 * HOUR) < 1
    )  # round the clock now: 4 h of wall time (whole seconds)
    assert before.due_at - before.started_at > dt.timedelta(days=3)  # an hour a weekday: four working days at least
    assert before.version_id == after.version_id  # the same version, on its calendar as it is now


def test_a_priority_matrix_edit_and_a_new_subscription_apply_to_the_next_filing(world):
    assert file(world, impact=1, urgency=2).priority == 2
    desk.priority_matrix_update(actor=world["manager"], cells={(1, 2): 1})
    assert file(world, impact=1, urgency=2).priority == 1
    PriorityRule.objects.filter(impact=1, urgency=2).update(priority=3)
    assert file(world, impact=1, urgency=2).priority == 3
    assert not OutboxEvent.objects.exists()  # nobody listens
    from tests.integrations.factories import SubscriptionFactory

    SubscriptionFactory(event_types=["incident.created"])
    file(world)
    assert OutboxEvent.objects.filter(event_type="incident.created").count() == 1


def test_an_sla_edit_rolled_back_is_never_kept(world):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.sla_new_version(actor=world["manager"], sla=world["p1"], resolution_seconds=HOUR)
        inside = file(world)  # the edit's own transaction sees its new version...
        assert clocks(inside).get(version__sla=world["p1"], metric="resolution").target_seconds == HOUR
        raise RuntimeError("the edit is abandoned")
    later = file(world)  # ...which nobody keeps once it is rolled back
    assert clocks(later).get(version__sla=world["p1"], metric="resolution").target_seconds == 4 * HOUR


def test_another_process_edit_is_seen_through_the_generation(world):
    file(world)  # kept now
    with connection.cursor() as cursor:  # as another process would: nothing in this one hears of it
        cursor.execute("UPDATE slas_servicelevelagreement SET status = 'retired' WHERE id = %s", [world["p1"].pk])
    assert clocks(file(world)).filter(version__sla=world["p1"]).exists()  # still the kept versions
    cache.set(
        selectors.active_versions.key, "moved by another process", timeout=None
    )  # its commit moves the generation
    assert not clocks(file(world)).filter(version__sla=world["p1"]).exists()


def test_without_the_cache_the_versions_are_read_every_time(world, monkeypatch):
    file(world)

    def unreachable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_many", unreachable)
    with CaptureQueriesContext(connection) as ctx:
        incident = file(world)
    assert [q for q in ctx.captured_queries if "slas_slaversion" in q["sql"]]
    assert clocks(incident).count() == 3
    assert desk_selectors.priority_matrix.get() == {}  # still answers (the default matrix applies)
