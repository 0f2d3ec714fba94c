"""Impact analysis: transitive, cycle-safe, with explaining paths, on SQLite and PostgreSQL."""
import pytest

from mof import impact
from tests.factories import CIFactory, RelationshipFactory, ServiceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def messaging():
    """router <- firewall <- hub transport -> Exchange mail; mailbox -> hub transport; cycle hub<->mailbox."""
    router = CIFactory(name="core-router")
    firewall = CIFactory(name="firewall-1")
    hub = CIFactory(name="hub-transport-1")
    mailbox = CIFactory(name="mailbox-1")
    unrelated = CIFactory(name="printer")
    mail = ServiceFactory(name="Exchange mail", criticality="critical")
    web = ServiceFactory(name="Intranet", criticality="low")
    hub.services.set([mail])
    mailbox.services.set([mail])
    unrelated.services.set([web])
    RelationshipFactory(source=firewall, target=router, type="connects_to")
    RelationshipFactory(source=hub, target=firewall)
    RelationshipFactory(source=mailbox, target=hub)
    RelationshipFactory(source=hub, target=mailbox, type="connects_to")  # a cycle
    return locals()


def test_downstream_reaches_every_dependent_with_its_path(messaging):
    result = impact.analyse([messaging["router"].pk], impact.DOWNSTREAM)
    names = {c.name: c for c in result.cis}
    assert set(names) == {"firewall-1", "hub-transport-1", "mailbox-1"}
    assert [s["name"] for s in names["mailbox-1"].path] == ["core-router", "firewall-1", "hub-transport-1", "mailbox-1"]
    assert names["firewall-1"].depth == 1 and names["firewall-1"].relationship == "connects_to"
    [service] = result.services
    assert service.name == "Exchange mail" and service.criticality == "critical"
    assert service.path == ["core-router", "firewall-1", "hub-transport-1", "Exchange mail"]


def test_upstream_answers_what_a_ci_depends_on(messaging):
    result = impact.analyse([messaging["hub"].pk], impact.UPSTREAM)
    assert {c.name for c in result.cis} == {"firewall-1", "core-router", "mailbox-1"}


def test_several_cis_at_once_and_no_self_inclusion(messaging):
    result = impact.analyse([messaging["firewall"].pk, messaging["unrelated"].pk], impact.DOWNSTREAM)
    assert {c.name for c in result.cis} == {"hub-transport-1", "mailbox-1"}
    assert {s.name for s in result.services} == {"Exchange mail", "Intranet"}


def test_a_leaf_has_no_dependents(messaging):
    result = impact.analyse([messaging["unrelated"].pk], impact.DOWNSTREAM)
    assert result.cis == []


def test_the_database_walk_and_the_portable_walk_agree(messaging, postgres):
    start = [messaging["router"].pk]
    for direction in impact.DIRECTIONS:
        in_db = impact.reach(start, direction)
        portable = impact._reach_by_level(start, direction)
        assert {k: v[2] for k, v in in_db.items()} == {k: v[2] for k, v in portable.items()}


def test_postgres_walk_is_one_query(messaging, postgres, django_assert_num_queries):
    with django_assert_num_queries(1):
        impact.reach([messaging["router"].pk], impact.DOWNSTREAM)
