"""Concurrent filings on PostgreSQL: every incident gets its own number, none fails."""

import threading

import pytest
from django.db import connections

from tests.conftest import requires_postgres
from tests.factories import UserFactory

pytestmark = pytest.mark.integration


@pytest.mark.django_db(transaction=True)
def test_concurrent_filings_never_collide():
    requires_postgres()
    from incidents import services
    from incidents.models import Incident

    callers = [UserFactory(username=f"caller{i}") for i in range(20)]
    errors, barrier = [], threading.Barrier(20)

    def file(user):
        try:
            barrier.wait(timeout=10)
            for n in range(5):
                services.incident_create(actor=user, title=f"printer on fire {n}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=file, args=(u,)) for u in callers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    numbers = list(Incident.objects.values_list("number", flat=True))
    assert len(numbers) == 100 and len(set(numbers)) == 100


@pytest.mark.django_db(transaction=True)
def test_the_sequence_moves_past_numbers_loaded_in_bulk():
    requires_postgres()
    from incidents import services
    from incidents.models import Incident

    caller = UserFactory(username="bulk-caller")
    first = services.incident_create(actor=caller, title="a")
    loaded = services.incident_create(actor=caller, title="loaded")
    # Rows loaded in bulk (as the benchmarks' COPY does) take the next numbers without the sequence.
    Incident.objects.filter(pk=loaded.pk).update(number=first.number + 1)
    Incident.objects.filter(pk=first.pk).update(number=first.number + 2)
    second = services.incident_create(actor=caller, title="b")
    assert second.number > first.number + 2
