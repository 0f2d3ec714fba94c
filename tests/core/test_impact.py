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


def test_each_ci_carries_the_ci_it_was_reached_through(messaging):
    result = impact.analyse([messaging["router"].pk], impact.DOWNSTREAM)
    by_name = {c.name: c for c in result.cis}
    assert by_name["firewall-1"].via == messaging["router"].pk
    assert by_name["mailbox-1"].via == messaging["hub"].pk
    for ci in result.cis:  # via is the step before the CI on its path
        assert ci.path[-2]["id"] == ci.via and ci.path[-1]["id"] == ci.id and len(ci.path) == ci.depth + 1


@pytest.fixture
def diamond():
    """top <- a, b; c depends on both a and b (two shortest paths); d <- c and d -> top (depth 1)."""
    top, a, b, c, d = (CIFactory(name=n) for n in ("top", "a", "b", "c", "d"))
    RelationshipFactory(source=a, target=top)
    RelationshipFactory(source=b, target=top)
    RelationshipFactory(source=c, target=b, type="runs_on")
    RelationshipFactory(source=c, target=b, type="depends_on")  # two types between c and b
    RelationshipFactory(source=c, target=a, type="runs_on")
    RelationshipFactory(source=d, target=c)
    RelationshipFactory(source=d, target=top, type="connects_to")  # shorter than via c
    return locals()


def test_shortest_depth_and_a_deterministic_via(diamond):
    for _ in range(3):
        result = impact.analyse([diamond["top"].pk], impact.DOWNSTREAM)
        by_name = {c.name: c for c in result.cis}
        assert [c.name for c in result.cis] == ["a", "b", "d", "c"]
        assert by_name["d"].depth == 1 and by_name["d"].via == diamond["top"].pk
        assert by_name["d"].relationship == "connects_to"
        # c is reached at depth 2 through a and through b: the smaller id wins, then the type.
        first = min(diamond["a"].pk, diamond["b"].pk)
        assert by_name["c"].depth == 2 and by_name["c"].via == first
        assert by_name["c"].relationship == ("runs_on" if first == diamond["a"].pk else "depends_on")


def test_the_database_analysis_and_the_portable_analysis_agree(messaging, diamond, postgres):
    def portable(ci_ids, direction):
        return impact._rows_portable(ci_ids, direction)

    for start in (
        [messaging["router"].pk],
        [messaging["hub"].pk, messaging["unrelated"].pk],
        [diamond["top"].pk],
        [diamond["d"].pk],
    ):
        for direction in impact.DIRECTIONS:
            in_db = impact.analyse(start, direction)
            original = impact._rows_postgres
            impact._rows_postgres = portable
            try:
                elsewhere = impact.analyse(start, direction)
            finally:
                impact._rows_postgres = original
            assert in_db == elsewhere


def test_postgres_analysis_is_one_query_and_repeatable_in_a_transaction(messaging, postgres, django_assert_num_queries):
    with django_assert_num_queries(1):
        first = impact.analyse([messaging["router"].pk], impact.DOWNSTREAM)
    again = impact.analyse([messaging["router"].pk], impact.DOWNSTREAM)  # same transaction: visited set reset
    upstream = impact.analyse([messaging["hub"].pk], impact.UPSTREAM)
    assert first == again and {c.name for c in upstream.cis} == {"firewall-1", "core-router", "mailbox-1"}


def test_postgres_ci_search_has_trigram_indexes(postgres):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'mof_configurationitem' AND indexdef LIKE '%%gin_trgm_ops%%'"
        )
        found = dict(cursor.fetchall())
    assert set(found) == {"ci_name_trgm_idx", "ci_description_trgm_idx"}
    assert "upper" in found["ci_name_trgm_idx"].lower()


def test_unknown_direction_is_refused():
    with pytest.raises(ValueError):
        impact.analyse([1], "sideways")
