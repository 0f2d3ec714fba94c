"""Stored conflict marks (RequestForChange.schedule_conflicts): kept by every write they
depend on, equal to what conflict_marks() computes live, read by the forward schedule."""

import datetime as dt
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changes import conflicts, services
from changes.choices import ChangeStatus, TemplateStatus
from changes.conflicts import SCHEDULED_STATES, conflict_marks
from changes.models import RequestForChange
from mof.transitions import perform_transition
from tests.changes.factories import TemplateFactory
from tests.conftest import api_as, requires_postgres
from tests.factories import CIFactory, ManagerFactory, RelationshipFactory, UserFactory
from tests.operations.factories import at, freeze

MONDAY = at(2027, 3, 1, 10)
HOUR = dt.timedelta(hours=1)


@pytest.fixture
def chair(db):
    return ManagerFactory(username="cab-chair")


@pytest.fixture
def stack(db):
    """san <- vm <- app (app two hops above the storage array); printer unrelated."""
    san, vm, app, printer = (CIFactory(name=n) for n in ("san-01", "vm-01", "app-01", "printer-01"))
    RelationshipFactory(source=vm, target=san, type="depends_on")
    RelationshipFactory(source=app, target=vm, type="runs_on")
    return {"san": san, "vm": vm, "app": app, "printer": printer}


def approved(actor, cis, *, start=MONDAY, hours=2, implementer=None, title="Patch"):
    """A standard change filed and submitted through the services: pre-approved, so in the pool."""
    template = TemplateFactory(status=TemplateStatus.APPROVED)
    change = services.change_create(
        actor=actor,
        template=template,
        affected_cis=[c.pk for c in cis],
        title=title,
        planned_start=start,
        planned_end=start + hours * HOUR,
        implementer=implementer,
    )
    perform_transition(model=RequestForChange, actor=actor, pk=change.pk, name="submit")
    return fresh(change)


def schedule(actor, change, start, hours=2):
    data = {"planned_start": start.isoformat(), "planned_end": (start + hours * HOUR).isoformat()}
    return perform_transition(model=RequestForChange, actor=actor, pk=change.pk, name="schedule", data=data)


def fresh(change):
    return RequestForChange.objects.get(pk=change.pk)


def marks(*changes):
    return [fresh(c).schedule_conflicts for c in changes]


def live_marks() -> dict[int, list[str]]:
    """What conflict_marks() says now, for every change (none outside the scheduled states)."""
    scheduled = list(RequestForChange.objects.filter(status__in=SCHEDULED_STATES))
    computed = conflict_marks(scheduled, freezes=False)
    return {pk: sorted(computed.get(pk, ())) for pk in RequestForChange.objects.values_list("pk", flat=True)}


def stored_marks() -> dict[int, list[str]]:
    return dict(RequestForChange.objects.values_list("pk", "schedule_conflicts"))


def test_scheduling_into_a_colliding_slot_marks_both_and_moving_away_unmarks_both(chair, stack):
    first = approved(chair, [stack["vm"]], title="Patch the VM")
    schedule(chair, first, MONDAY)
    second = approved(chair, [stack["vm"]], start=MONDAY + 48 * HOUR, title="Resize the VM")
    assert marks(first, second) == [[], []]

    schedule(chair, second, MONDAY + HOUR)  # onto the first's period: both see the pair
    assert marks(first, second) == [["same_ci"], ["same_ci"]]

    third = approved(chair, [stack["vm"]], start=MONDAY + HOUR, title="Reboot the VM")  # approved: already counts
    assert marks(first, second, third) == [["same_ci"]] * 3
    schedule(chair, third, MONDAY + 24 * HOUR)  # scheduled elsewhere: it leaves the pair behind it unmarked of it
    assert marks(first, second, third) == [["same_ci"], ["same_ci"], []]
    assert stored_marks() == live_marks()


def test_a_change_scheduled_away_from_its_approved_slot_unmarks_the_change_it_left(chair, stack):
    first = approved(chair, [stack["vm"]])
    schedule(chair, first, MONDAY)
    second = approved(chair, [stack["vm"]], start=MONDAY + HOUR)
    assert marks(first, second) == [["same_ci"], ["same_ci"]]
    schedule(chair, second, MONDAY + 24 * HOUR)  # the first is found only through the period the second left
    assert marks(first, second) == [[], []]


@pytest.mark.parametrize("ending", ["cancel", "complete_and_close"])
def test_marks_go_when_the_other_change_leaves_the_schedule(chair, stack, ending):
    first = approved(chair, [stack["vm"]])
    schedule(chair, first, MONDAY)
    second = approved(chair, [stack["vm"]], start=MONDAY + HOUR)
    schedule(chair, second, MONDAY + HOUR)
    assert marks(first, second) == [["same_ci"], ["same_ci"]]
    if ending == "cancel":
        perform_transition(
            model=RequestForChange, actor=chair, pk=second.pk, name="cancel", data={"reason": "not needed"}
        )
    else:
        perform_transition(model=RequestForChange, actor=chair, pk=second.pk, name="implement_now")
        assert marks(first, second) == [["same_ci"], ["same_ci"]]  # implementing still occupies the slot
        perform_transition(
            model=RequestForChange, actor=chair, pk=second.pk, name="complete", data={"outcome": "successful"}
        )
        perform_transition(model=RequestForChange, actor=chair, pk=second.pk, name="close", data={"reason": "done"})
    assert marks(first, second) == [[], []]


def test_an_implementer_booked_twice_marks_both_until_reassigned(chair, stack):
    alice, bob = UserFactory(username="alice-ops"), UserFactory(username="bob-ops")
    first = approved(chair, [stack["printer"]], implementer=alice)
    schedule(chair, first, MONDAY)
    second = approved(chair, [stack["san"]], start=MONDAY + HOUR, implementer=bob)
    schedule(chair, second, MONDAY + HOUR)
    assert marks(first, second) == [[], []]

    services.change_update(actor=chair, change=fresh(second), implementer=alice)
    assert marks(first, second) == [["implementer"], ["implementer"]]
    services.change_update(actor=chair, change=fresh(second), implementer=bob)
    assert marks(first, second) == [[], []]


def test_an_impact_snapshot_taken_while_scheduled_marks_both(chair, stack):
    above = approved(chair, [stack["app"]])
    schedule(chair, above, MONDAY)
    below = approved(chair, [stack["san"]], start=MONDAY + HOUR)
    # No snapshot yet: the marks do not walk the CMDB (as conflict_marks never did).
    assert marks(above, below) == [[], []]
    services.change_analyse_impact(actor=chair, change=fresh(below))
    assert marks(above, below) == [["impact"], ["impact"]]


def test_a_stale_page_does_not_write_old_marks_back(chair, stack):
    first = approved(chair, [stack["vm"]])
    page = fresh(first)  # loaded by a page, with no marks yet
    approved(chair, [stack["vm"]], start=MONDAY + HOUR)
    services.change_update(actor=chair, change=page, pir_notes="nothing to say")  # saves every field it loaded
    assert marks(first) == [["same_ci"]]


def test_any_save_of_a_change_leaves_its_marks_alone(chair, stack):
    first = approved(chair, [stack["vm"]])
    page = fresh(first)
    approved(chair, [stack["vm"]], start=MONDAY + HOUR)
    page.save()  # e.g. the admin, or any code holding a copy loaded before the neighbour came
    assert marks(first) == [["same_ci"]]


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("file"),
            st.sets(st.sampled_from(["san", "vm", "app", "printer"]), max_size=2),
            st.integers(0, 5),
            st.sampled_from([None, 0, 1]),
        ),
        st.tuples(st.just("schedule"), st.integers(0, 5), st.integers(0, 5)),
        st.tuples(st.just("cancel"), st.integers(0, 5)),
        st.tuples(st.just("implementer"), st.integers(0, 5), st.sampled_from([None, 0, 1])),
        st.tuples(st.just("analyse"), st.integers(0, 5)),
        st.tuples(st.just("finish"), st.integers(0, 5)),
    ),
    min_size=3,
    max_size=9,
)


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(operations=OPERATIONS)
def test_stored_marks_equal_live_marks_after_any_sequence(chair, stack, operations):
    people = [UserFactory(username="impl-a"), UserFactory(username="impl-b")]
    filed: list[RequestForChange] = []

    def pick(i):
        return fresh(filed[i % len(filed)]) if filed else None

    for op, *args in operations:
        if op == "file":
            cis, slot, who = args
            filed.append(
                approved(
                    chair,
                    [stack[n] for n in sorted(cis)],
                    start=MONDAY + slot * HOUR,
                    implementer=None if who is None else people[who],
                )
            )
            continue
        change = pick(args[0])
        if change is None:
            continue
        if op == "schedule" and change.status == ChangeStatus.APPROVED:
            schedule(chair, change, MONDAY + args[1] * HOUR)
        elif op == "cancel" and change.status in (ChangeStatus.APPROVED, ChangeStatus.SCHEDULED):
            perform_transition(
                model=RequestForChange, actor=chair, pk=change.pk, name="cancel", data={"reason": "dropped"}
            )
        elif op == "implementer" and change.status not in (ChangeStatus.CANCELLED, ChangeStatus.CLOSED):
            services.change_update(actor=chair, change=change, implementer=None if args[1] is None else people[args[1]])
        elif op == "analyse" and change.affected_cis.exists():
            services.change_analyse_impact(actor=chair, change=change)
        elif op == "finish" and change.status == ChangeStatus.SCHEDULED:
            perform_transition(model=RequestForChange, actor=chair, pk=change.pk, name="implement_now")
            perform_transition(
                model=RequestForChange, actor=chair, pk=change.pk, name="complete", data={"outcome": "successful"}
            )
    assert stored_marks() == live_marks()


def test_the_command_repairs_every_stored_mark(chair, stack):
    first = approved(chair, [stack["vm"]])
    second = approved(chair, [stack["vm"]], start=MONDAY + HOUR)
    gone = approved(chair, [stack["printer"]])
    perform_transition(model=RequestForChange, actor=chair, pk=gone.pk, name="cancel", data={"reason": "dropped"})
    # As a bulk load or a restore leaves them: missing, and left on a change no longer scheduled.
    RequestForChange.objects.filter(pk__in=[first.pk, second.pk]).update(schedule_conflicts=[])
    RequestForChange.objects.filter(pk=gone.pk).update(schedule_conflicts=["implementer"])
    from io import StringIO

    out = StringIO()
    call_command("refresh_conflict_marks", stdout=out)
    assert marks(first, second, gone) == [["same_ci"], ["same_ci"], []]
    assert "2 of 2 scheduled changes" in out.getvalue() and "3 changes corrected" in out.getvalue()
    assert stored_marks() == live_marks()


def _month(client):
    start, end = MONDAY - 24 * HOUR, MONDAY + 24 * HOUR
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/schedule/", {"start": start.isoformat(), "end": end.isoformat()})
    assert response.status_code == 200
    return {c["reference"]: c["conflicts"] for c in response.json()["changes"]}, len(queries)


def test_the_schedule_reads_the_stored_marks_in_constant_queries(chair, stack):
    client = api_as(chair)
    freeze(start=MONDAY + HOUR, end=MONDAY + 2 * HOUR, name="Month end")
    approved(chair, [stack["vm"]], title="A")
    approved(chair, [stack["vm"]], start=MONDAY + HOUR, title="B")
    small, few = _month(client)
    assert sorted(small.values()) == [["freeze", "same_ci"], ["freeze", "same_ci"]]
    for i in range(6):
        approved(chair, [stack["printer"]], start=MONDAY + i * HOUR, implementer=chair if i % 2 else None)
    large, many = _month(client)
    assert many == few
    assert sum(1 for kinds in large.values() if "freeze" in kinds) == 4  # judged live: those running at 11:00

    # What the schedule shows is what is stored (plus freezes), not recomputed.
    lonely = approved(chair, [CIFactory()], start=MONDAY - 10 * HOUR, title="Lonely")
    RequestForChange.objects.filter(pk=lonely.pk).update(schedule_conflicts=["shared_impact"])
    assert _month(client)[0][lonely.reference] == ["shared_impact"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_changes_scheduled_at_once_into_overlapping_periods_are_both_marked(builtin_data, monkeypatch):
    requires_postgres()
    chair = ManagerFactory(username="cab-chair")
    vm = CIFactory(name="vm-01")
    first = approved(chair, [vm], start=MONDAY + 100 * HOUR, title="first")
    second = approved(chair, [vm], start=MONDAY + 200 * HOUR, title="second")

    # The first refresh dawdles after reading the pool, so the second transaction runs inside
    # its window: without the lock the second would not see the first, nor the first the second.
    pool_read = threading.Event()
    original = conflicts.conflict_marks

    def slow_first(*args, **kwargs):
        result = original(*args, **kwargs)
        if threading.current_thread().name == "first" and not pool_read.is_set():
            pool_read.set()
            time.sleep(0.5)
        return result

    monkeypatch.setattr(conflicts, "conflict_marks", slow_first)
    errors = []

    def run(change, start, wait):
        try:
            if wait:
                assert pool_read.wait(timeout=10)
            schedule(chair, change, start)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(first, MONDAY, False), name="first"),
        threading.Thread(target=run, args=(second, MONDAY + HOUR, True), name="second"),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert [fresh(c).status for c in (first, second)] == ["scheduled", "scheduled"]
    assert marks(first, second) == [["same_ci"], ["same_ci"]]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_on_overlapping_changes_neither_deadlock_nor_lose_marks(builtin_data):
    requires_postgres()
    chair = ManagerFactory(username="cab-chair")
    vm, alice, bob = CIFactory(name="vm-01"), UserFactory(username="alice-ops"), UserFactory(username="bob-ops")
    # Each writer has its own changes (no 409 between them), all on one CI and one morning:
    # every write changes the marks of the others' changes while they hold their own rows.
    own = [
        [approved(chair, [vm], start=MONDAY + (w + i) * HOUR / 4, title=f"w{w}-{i}") for i in range(3)]
        for w in range(4)
    ]
    barrier, errors = threading.Barrier(4), []

    def write(w):
        try:
            barrier.wait(timeout=30)
            first, second, third = own[w]
            services.change_update(actor=chair, change=fresh(first), implementer=alice)
            schedule(chair, first, MONDAY + w * HOUR / 2)
            services.change_update(actor=chair, change=fresh(second), implementer=alice if w % 2 else bob)
            services.change_update(actor=chair, change=fresh(first), implementer=bob)
            perform_transition(
                model=RequestForChange, actor=chair, pk=second.pk, name="cancel", data={"reason": "merged"}
            )
            services.change_analyse_impact(actor=chair, change=fresh(third))
            schedule(chair, third, MONDAY + w * HOUR)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert stored_marks() == live_marks()
    assert all(fresh(changes[0]).schedule_conflicts == ["implementer", "same_ci"] for changes in own)


def test_only_transitions_into_or_out_of_the_scheduled_states_take_the_marks_lock():
    from changes.conflicts import transition_moves_schedule
    from changes.models import RequestForChange

    assert not transition_moves_schedule(RequestForChange, "submit")  # draft -> submitted
    assert not transition_moves_schedule(RequestForChange, "close")  # completed -> closed
    assert transition_moves_schedule(RequestForChange, "schedule")
    assert transition_moves_schedule(RequestForChange, "cancel")  # may leave a scheduled state
    assert transition_moves_schedule(RequestForChange, "no_such_transition")  # unknown: assume it may
