"""Twenty managers decide the same agenda item at the same moment, on PostgreSQL: exactly
one decision stands (one transition, one audit record of it), the others get 409, no 500s."""

import threading

import pytest
from django.db import connection

from changes.choices import ChangeStatus
from changes.models import RequestForChange
from mof.models import AuditEntry, ReviewDecisionRecord
from reviews.models import AgendaItem
from tests.conftest import api_as, requires_postgres

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

THREADS = 20


def test_twenty_concurrent_decisions_one_stands(db):
    requires_postgres()
    from reviews import services
    from tests.factories import ManagerFactory
    from tests.reviews.conftest import change_in, vote_all

    people = {
        "chair": ManagerFactory(username="chair", roles=["operations"]),
        **{
            name: ManagerFactory(username=name, roles=[role])
            for name, role in (("rel", "release"), ("infra", "infrastructure"), ("ops", "operations"))
        },
    }
    deciders = [ManagerFactory(username=f"manager{n:02d}", roles=["support"]) for n in range(THREADS)]
    from tests.reviews.conftest import make_meeting

    cab = make_meeting({**people, "deputy": people["chair"]})
    change = change_in()
    [item] = services.agenda_refresh(actor=people["chair"], meeting=cab)
    vote_all(item, people)

    barrier = threading.Barrier(THREADS)
    results: list = [None] * THREADS

    def decide(n):
        try:
            client = api_as(deciders[n])
            barrier.wait(timeout=30)
            response = client.post(
                f"/api/v1/reviews/{cab.pk}/agenda/{item.pk}/decision/",
                {"decision": "approve" if n % 2 == 0 else "reject", "reason": f"manager {n}"},
                format="json",
            )
            results[n] = (response.status_code, response.json())
        except Exception as exc:  # noqa: BLE001 - recorded and asserted below
            results[n] = (type(exc).__name__, str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    codes = sorted(r[0] for r in results)
    assert codes.count(200) == 1 and codes.count(409) == THREADS - 1, results
    conflicts = [body for code, body in results if code == 409]
    assert all(
        "already" in body["detail"] or "current state" in body["detail"] or "changed" in body["detail"]
        for body in conflicts
    )

    winner = next(body for code, body in results if code == 200)
    change = RequestForChange.objects.get(pk=change.pk)
    expected = ChangeStatus.APPROVED if winner["decision"] == "approve" else ChangeStatus.REJECTED
    assert change.status == expected
    assert ReviewDecisionRecord.objects.filter(object_id=str(change.pk)).count() == 1
    transitions = AuditEntry.objects.filter(
        model_label="changes.requestforchange", object_id=str(change.pk), action="transition"
    )
    assert transitions.count() == 1 and transitions.get().transition == winner["decision"]
    item = AgendaItem.objects.get(pk=item.pk)
    assert item.state == "decided" and item.decision == winner["decision"] and item.reason == winner["reason"]
