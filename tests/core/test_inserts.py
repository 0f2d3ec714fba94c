"""mof.inserts: an INSERT built once stores what bulk_create() stores, gives the objects their
keys, leaves what it does not cover to bulk_create(), and fails inside a transaction as the
ORM does."""

import datetime as dt

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Now
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mof import inserts
from mof.models import AuditEntry
from slas import services
from slas.models import SLAClock, SLAVersion, TicketEvent
from tests.factories import ManagerFactory

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 3, 29, 0, 30, 15, 123456, tzinfo=dt.UTC)


def _rows(model, objs, exclude=("id",)):
    names = [f.attname for f in model._meta.concrete_fields if f.attname not in exclude]
    return [model.objects.values_list(*names).get(pk=obj.pk) for obj in objs]


def _entries(tag):
    return [
        AuditEntry(
            actor_id=None,
            actor_name=tag,
            via="api",
            action="create",
            model_label="incidents.incident",
            object_id=str(i),
            object_repr=f"INC-{i} “quoted”",
            changes={"title": [None, "Mail\u2028down"], "at": [None, "2026-03-29T00:30:15Z"], "n": [i, 1.5]},
            detail={"bulk": "create"} if i % 2 else {},
        )
        for i in range(3)
    ]


def _clocks(version, ticket_id):
    return [
        SLAClock(
            ticket_type="incidents.incident",
            ticket_id=ticket_id,
            version=version,
            metric=metric,
            started_at=WHEN,
            target_seconds=3600,
            due_at=WHEN + dt.timedelta(hours=1),
            next_event_at=None if metric == "resolution" else WHEN,
            counting_since=WHEN,
            created_at=WHEN,
        )
        for metric in ("response", "resolution")
    ]


@pytest.fixture
def version():
    manager = ManagerFactory()
    calendar = services.calendar_save(
        actor=manager, name="24x7", time_zone="UTC", intervals=[(d, dt.time(0), dt.time(0)) for d in range(7)]
    )
    sla = services.sla_create(actor=manager, name="P1", priorities=[1], resolution_seconds=3600, calendar=calendar)
    return SLAVersion.objects.get(sla=sla)


def test_the_rows_stored_are_those_bulk_create_stores(version):
    fast, slow = _entries("fast"), _entries("slow")
    assert inserts.insert(fast) == fast
    AuditEntry.objects.bulk_create(slow)
    assert all(e.pk is not None and not e._state.adding and e._state.db == "default" for e in fast)
    assert len({e.pk for e in fast + slow}) == 6
    assert _rows(AuditEntry, fast, ("id", "at", "actor_name")) == _rows(AuditEntry, slow, ("id", "at", "actor_name"))
    assert all(e.at is not None for e in AuditEntry.objects.filter(pk__in=[e.pk for e in fast]))

    fast_clocks, slow_clocks = _clocks(version, 1), _clocks(version, 2)
    inserts.insert(fast_clocks)
    SLAClock.objects.bulk_create(slow_clocks)
    exclude = ("id", "ticket_id", "updated_at")
    assert _rows(SLAClock, fast_clocks, exclude) == _rows(SLAClock, slow_clocks, exclude)
    assert all(c.updated_at is not None for c in fast_clocks)  # auto_now: pre_save ran, as in bulk_create

    event = TicketEvent(
        ticket_type="incidents.incident",
        ticket_id=7,
        at=WHEN,
        kind="opened",
        state="new",
        priority=3,
        hold_reason="",
        service_id=None,
        group_id=4,
    )
    inserts.insert([event])
    assert TicketEvent.objects.values_list("ticket_id", "at", "kind", "priority", "service_id", "group_id").get(
        pk=event.pk
    ) == (7, WHEN, "opened", 3, None, 4)


def test_one_statement_per_call_built_once(version):
    inserts.insert(_clocks(version, 3))
    with CaptureQueriesContext(connection) as ctx:
        inserts.insert(_clocks(version, 4))
    assert len(ctx.captured_queries) == 1 and ctx.captured_queries[0]["sql"].startswith("INSERT")
    assert inserts._statement(SLAClock, "default", 2) is inserts._statement(SLAClock, "default", 2)


def test_what_it_does_not_cover_goes_to_bulk_create(version, monkeypatch):
    calls = []
    real = type(SLAClock.objects.get_queryset()).bulk_create

    def spy(self, objs, *args, **kwargs):
        calls.append(len(objs))
        return real(self, objs, *args, **kwargs)

    monkeypatch.setattr(type(SLAClock.objects.get_queryset()), "bulk_create", spy)
    many = [c for i in range(9) for c in _clocks(version, 100 + i)]  # 18 rows: more than MAX_ROWS
    inserts.insert(many)
    with_expression = _clocks(version, 200)
    with_expression[0].started_at = Now()
    inserts.insert(with_expression)
    assert calls == [18, 2]
    assert all(c.pk is not None for c in many + with_expression)
    assert SLAClock.objects.get(pk=with_expression[0].pk).started_at <= timezone.now()
    inserts.insert(_clocks(version, 300))
    assert calls == [18, 2]


def test_a_failed_insert_marks_the_transaction_for_rollback(version):
    inserts.insert(_clocks(version, 5))
    with transaction.atomic():
        with pytest.raises(IntegrityError):
            inserts.insert(_clocks(version, 5))  # unique_clock
        assert connection.needs_rollback  # as the ORM leaves it: the block rolls back when it ends
    assert SLAClock.objects.filter(ticket_id=5).count() == 2
