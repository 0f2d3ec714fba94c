"""CMDB pages: who sees what, forms that write nothing on bad input, transitions over HTTP."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mof.models import AuditEntry, CIRelationship, ConfigurationItem, Service
from tests.factories import CIFactory, RelationshipFactory, ServiceFactory, ci_class

pytestmark = pytest.mark.django_db


def as_user(client, user):
    client.force_login(user)
    return client


def ci_data(**overrides):
    data = {
        "name": "edge-router-01",
        "ci_class": ci_class("network-device").pk,
        "owner": "",
        "environment": "production",
        "attributes": '{"firmware": "15.2", "site": "HQ"}',
        "description": "",
    }
    data.update(overrides)
    return data


# --- visibility ---------------------------------------------------------------------


def test_partner_sees_only_owned_cis(client, partner_user):
    mine = CIFactory(name="partner-owned-ci", owner=partner_user)
    other = CIFactory(name="someone-elses-ci")
    as_user(client, partner_user)
    content = client.get(reverse("ci_list")).content.decode()
    assert "partner-owned-ci" in content and "someone-elses-ci" not in content
    assert client.get(reverse("ci_detail", args=[mine.pk])).status_code == 200
    assert client.get(reverse("ci_detail", args=[other.pk])).status_code == 404


def test_partner_does_not_see_the_names_of_invisible_neighbours(client, partner_user):
    mine = CIFactory(name="partner-owned-ci", owner=partner_user)
    RelationshipFactory(source=CIFactory(name="secret-dependent"), target=mine)
    as_user(client, partner_user)
    content = client.get(reverse("ci_detail", args=[mine.pk])).content.decode()
    assert "secret-dependent" not in content


def test_employee_has_an_empty_cmdb_and_404_on_details(client, employee):
    ci = CIFactory(name="core-switch")
    as_user(client, employee)
    response = client.get(reverse("ci_list"))
    assert response.status_code == 200
    assert "core-switch" not in response.content.decode()
    assert reverse("ci_create") not in response.content.decode()
    for name in ("ci_detail", "ci_edit"):
        assert client.get(reverse(name, args=[ci.pk])).status_code == 404
    assert client.post(reverse("ci_transition", args=[ci.pk, "commission"])).status_code == 404
    assert client.post(reverse("ci_delete", args=[ci.pk])).status_code == 404
    assert client.get(reverse("ci_create")).status_code == 403


def test_unknown_ci_is_404(client, infra_user):
    as_user(client, infra_user)
    assert client.get(reverse("ci_detail", args=[987654])).status_code == 404


# --- list: search, filters, sort, pagination, queries -------------------------------


def test_list_search_and_filters(client, infra_user):
    mail = ServiceFactory(name="Exchange mail")
    CIFactory(name="mbx-01", ci_class=ci_class("mailbox-server"), services=[mail], status="in_service")
    CIFactory(name="fw-01", ci_class=ci_class("firewall"), description="perimeter mailbox filter")
    CIFactory(name="db-01", ci_class=ci_class("database"), environment="test")
    as_user(client, infra_user)

    def names(**params):
        content = client.get(reverse("ci_list"), params).content.decode()
        return {n for n in ("mbx-01", "fw-01", "db-01") if f">{n}<" in content}

    assert names() == {"mbx-01", "fw-01", "db-01"}
    assert names(q="mailbox") == {"fw-01"}
    assert names(q="mbx") == {"mbx-01"}
    assert names(ci_class="firewall") == {"fw-01"}
    assert names(status="in_service") == {"mbx-01"}
    assert names(environment="test") == {"db-01"}
    assert names(service=mail.pk) == {"mbx-01"}
    assert names(owner=infra_user.pk) == set()


def test_list_sort(client, infra_user):
    CIFactory(name="aaa", status="retired")
    CIFactory(name="bbb", status="in_service")
    CIFactory(name="ccc")
    as_user(client, infra_user)
    content = client.get(reverse("ci_list"), {"sort": "-name"}).content.decode()
    assert content.index(">ccc<") < content.index(">bbb<") < content.index(">aaa<")
    content = client.get(reverse("ci_list"), {"sort": "status"}).content.decode()
    assert content.index(">bbb<") < content.index(">ccc<") < content.index(">aaa<")


def test_list_pagination(client, infra_user):
    CIFactory.create_batch(12)
    as_user(client, infra_user)
    content = client.get(reverse("ci_list"), {"page_size": 5}).content.decode()
    assert "1–5 of 12" in content
    assert 'rel="next"' in content and "page=2" in content
    content = client.get(reverse("ci_list"), {"page_size": 5, "page": 3}).content.decode()
    assert "11–12 of 12" in content and 'rel="prev"' in content and 'rel="next"' not in content


def test_list_says_more_than_the_count_limit(client, infra_user, settings):
    settings.MOF_COUNT_LIMIT = 3
    CIFactory.create_batch(5)
    as_user(client, infra_user)
    content = client.get(reverse("ci_list"), {"page_size": 2}).content.decode()
    assert "1–2 of more than 3" in content


def test_list_query_count_does_not_grow_with_page_size(client, infra_user):
    services = ServiceFactory.create_batch(3)
    for i in range(60):
        CIFactory(owner=infra_user, services=services[: i % 3 + 1])
    as_user(client, infra_user)
    counts = {}
    for size in (5, 50):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("ci_list"), {"page_size": size, "service": services[0].pk, "sort": "-name"})
        assert response.status_code == 200
        counts[size] = len(ctx.captured_queries)
    assert counts[5] == counts[50], counts


# --- create / edit / delete ----------------------------------------------------------


def test_create_ci(client, infra_user):
    service = ServiceFactory(name="Exchange mail")
    as_user(client, infra_user)
    assert client.get(reverse("ci_create")).status_code == 200
    response = client.post(reverse("ci_create"), ci_data(services=[service.pk]))
    ci = ConfigurationItem.objects.get(name="edge-router-01")
    assert response.status_code == 302 and response["Location"] == ci.get_absolute_url()
    assert ci.status == "planned" and ci.attributes == {"firmware": "15.2", "site": "HQ"}
    assert list(ci.services.all()) == [service]
    assert AuditEntry.objects.filter(
        model_label="mof.configurationitem", object_id=str(ci.pk), action="create"
    ).exists()


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"attributes": "[1, 2]"}, "attributes", "JSON object"),
        ({"attributes": "{not json"}, "attributes", "Enter a valid JSON"),
        ({"name": ""}, "name", "required"),
        ({"ci_class": ""}, "ci_class", "required"),
        ({"environment": "moon"}, "environment", "valid choice"),
    ],
)
def test_create_ci_bad_input_shows_errors_and_writes_nothing(client, infra_user, overrides, field, message):
    as_user(client, infra_user)
    before = AuditEntry.objects.count()
    response = client.post(reverse("ci_create"), ci_data(**overrides))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert message in response.content.decode()
    assert not ConfigurationItem.objects.exists()
    assert AuditEntry.objects.count() == before


def test_create_duplicate_name_is_a_field_error(client, infra_user):
    CIFactory(name="edge-router-01")
    as_user(client, infra_user)
    response = client.post(reverse("ci_create"), ci_data())
    assert response.status_code == 400
    assert "name" in response.context["form"].errors
    assert ConfigurationItem.objects.count() == 1


def test_create_refused_for_support(client, support_user):
    as_user(client, support_user)
    assert client.get(reverse("ci_create")).status_code == 403
    assert client.post(reverse("ci_create"), ci_data()).status_code == 403
    assert not ConfigurationItem.objects.exists()
    assert reverse("ci_create") not in client.get(reverse("ci_list")).content.decode()


def test_edit_ci_and_status_is_not_a_field(client, infra_user):
    ci = CIFactory(name="edge-router-01", status="in_service")
    as_user(client, infra_user)
    page = client.get(reverse("ci_edit", args=[ci.pk]))
    assert page.status_code == 200 and 'name="status"' not in page.content.decode()
    response = client.post(reverse("ci_edit", args=[ci.pk]), ci_data(description="HQ edge", status="retired"))
    assert response.status_code == 302
    ci.refresh_from_db()
    assert ci.description == "HQ edge" and ci.status == "in_service"


def test_edit_bad_json_writes_nothing(client, infra_user):
    ci = CIFactory(name="edge-router-01", attributes={"a": 1})
    as_user(client, infra_user)
    response = client.post(
        reverse("ci_edit", args=[ci.pk]), ci_data(attributes='"just a string"', description="changed")
    )
    assert response.status_code == 400
    ci.refresh_from_db()
    assert ci.attributes == {"a": 1} and ci.description == ""


def test_edit_refused_for_support_even_when_naming_themselves_owner(client, support_user):
    ci = CIFactory(name="edge-router-01")
    as_user(client, support_user)
    assert client.get(reverse("ci_edit", args=[ci.pk])).status_code == 403
    response = client.post(reverse("ci_edit", args=[ci.pk]), ci_data(owner=support_user.pk))
    assert response.status_code == 403
    ci.refresh_from_db()
    assert ci.owner_id is None


def test_delete_ci_manager_only(client, infra_user, manager):
    ci = CIFactory()
    as_user(client, infra_user)
    assert client.get(reverse("ci_delete", args=[ci.pk])).status_code == 405
    assert client.post(reverse("ci_delete", args=[ci.pk])).status_code == 403
    assert ConfigurationItem.objects.filter(pk=ci.pk).exists()
    as_user(client, manager)
    assert "Delete" in client.get(reverse("ci_detail", args=[ci.pk])).content.decode()
    response = client.post(reverse("ci_delete", args=[ci.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("ci_list")
    assert not ConfigurationItem.objects.filter(pk=ci.pk).exists()


# --- relationships ------------------------------------------------------------------


def test_add_relationship_by_name_and_by_id(client, infra_user):
    firewall, router, switch = CIFactory(name="firewall"), CIFactory(name="router"), CIFactory(name="switch")
    as_user(client, infra_user)
    response = client.post(
        reverse("relationship_create", args=[firewall.pk]), {"target": "router", "type": "depends_on"}
    )
    assert response.status_code == 302
    response = client.post(
        reverse("relationship_create", args=[firewall.pk]), {"target": str(switch.pk), "type": "connects_to"}
    )
    assert response.status_code == 302
    assert set(CIRelationship.objects.values_list("source__name", "target__name", "type")) == {
        ("firewall", "router", "depends_on"),
        ("firewall", "switch", "connects_to"),
    }
    content = client.get(reverse("ci_detail", args=[router.pk])).content.decode()
    assert 'data-list="dependents"' in content and "firewall" in content


@pytest.mark.parametrize(
    "target, message",
    [("no-such-ci", "No configuration item"), ("firewall", "cannot depend on itself"), ("router", "already")],
)
def test_add_relationship_errors(client, infra_user, target, message):
    firewall, router = CIFactory(name="firewall"), CIFactory(name="router")
    RelationshipFactory(source=firewall, target=router)
    as_user(client, infra_user)
    response = client.post(reverse("relationship_create", args=[firewall.pk]), {"target": target, "type": "depends_on"})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert CIRelationship.objects.count() == 1


def test_add_relationship_refused_for_support(client, support_user):
    firewall, _router = CIFactory(name="firewall"), CIFactory(name="router")
    as_user(client, support_user)
    assert "Add relationship" not in client.get(reverse("ci_detail", args=[firewall.pk])).content.decode()
    response = client.post(
        reverse("relationship_create", args=[firewall.pk]), {"target": "router", "type": "depends_on"}
    )
    assert response.status_code == 403
    assert not CIRelationship.objects.exists()


def test_partner_cannot_link_to_a_ci_they_cannot_see(client, partner_user):
    mine, other = CIFactory(name="mine", owner=partner_user), CIFactory(name="theirs")
    as_user(client, partner_user)
    response = client.post(
        reverse("relationship_create", args=[mine.pk]), {"target": str(other.pk), "type": "depends_on"}
    )
    assert response.status_code == 400
    assert not CIRelationship.objects.exists()


def test_delete_relationship(client, infra_user, support_user):
    rel = RelationshipFactory(source=CIFactory(name="firewall"), target=CIFactory(name="router"))
    as_user(client, support_user)
    assert client.post(reverse("relationship_delete", args=[rel.pk])).status_code == 403
    as_user(client, infra_user)
    response = client.post(reverse("relationship_delete", args=[rel.pk]), {"from": str(rel.target_id)})
    assert response.status_code == 302 and response["Location"] == rel.target.get_absolute_url()
    assert not CIRelationship.objects.exists()
    assert client.post(reverse("relationship_delete", args=[rel.pk])).status_code == 404


# --- transitions --------------------------------------------------------------------


def test_commission_ok(client, infra_user):
    ci = CIFactory(owner=infra_user)
    as_user(client, infra_user)
    response = client.post(reverse("ci_transition", args=[ci.pk, "commission"]))
    assert response.status_code == 302 and response["Location"] == ci.get_absolute_url()
    ci.refresh_from_db()
    assert ci.status == "in_service"
    entry = AuditEntry.objects.filter(object_id=str(ci.pk), action="transition").get()
    assert entry.transition == "commission" and entry.actor_name == "infra"


def test_commission_without_owner_is_blocked_with_the_reason(client, infra_user):
    ci = CIFactory()
    as_user(client, infra_user)
    page = client.get(reverse("ci_detail", args=[ci.pk])).content.decode()
    assert "needs an owner" in page  # shown disabled with its reason before anyone tries
    response = client.post(reverse("ci_transition", args=[ci.pk, "commission"]))
    assert response.status_code == 400
    assert "A CI needs an owner before it goes into service." in response.content.decode()
    ci.refresh_from_db()
    assert ci.status == "planned"


def test_retire_needs_a_reason(client, infra_user):
    ci = CIFactory(owner=infra_user, status="in_service")
    as_user(client, infra_user)
    response = client.post(reverse("ci_transition", args=[ci.pk, "retire"]), {"reason": ""})
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    ci.refresh_from_db()
    assert ci.status == "in_service"
    response = client.post(reverse("ci_transition", args=[ci.pk, "retire"]), {"reason": "replaced by edge-router-02"})
    assert response.status_code == 302
    ci.refresh_from_db()
    assert ci.status == "retired" and ci.retired_reason == "replaced by edge-router-02"
    content = client.get(ci.get_absolute_url()).content.decode()
    assert "replaced by edge-router-02" in content


def test_transition_refused_for_support_is_403(client, support_user):
    ci = CIFactory(owner=support_user)
    as_user(client, support_user)
    assert "Put into service" not in client.get(reverse("ci_detail", args=[ci.pk])).content.decode()
    response = client.post(reverse("ci_transition", args=[ci.pk, "commission"]))
    assert response.status_code == 403
    ci.refresh_from_db()
    assert ci.status == "planned"
    assert AuditEntry.objects.filter(action="refused", actor_name="support").exists()


def test_transition_from_the_wrong_state_is_409(client, manager):
    ci = CIFactory(owner=manager, status="in_service")
    as_user(client, manager)
    response = client.post(reverse("ci_transition", args=[ci.pk, "reinstate"]), {"reason": "back"})
    assert response.status_code == 409
    assert "not possible in the current state" in response.content.decode()
    ci.refresh_from_db()
    assert ci.status == "in_service"


def test_unknown_transition_is_404_and_get_is_405(client, manager):
    ci = CIFactory(owner=manager)
    as_user(client, manager)
    assert client.post(reverse("ci_transition", args=[ci.pk, "explode"])).status_code == 404
    assert client.post(reverse("ci_transition", args=[ci.pk, "_private"])).status_code == 404
    assert client.get(reverse("ci_transition", args=[ci.pk, "commission"])).status_code == 405


def test_htmx_transition_rerenders_the_partial(client, infra_user):
    ci = CIFactory(owner=infra_user)
    as_user(client, infra_user)
    response = client.post(reverse("ci_transition", args=[ci.pk, "commission"]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="transitions-panel"')
    assert "<html" not in content and "In service" in content and "Retire" in content
    # Then the whole page refreshes (header state, history), and says what was done.
    assert response["HX-Refresh"] == "true"
    page = client.get(ci.get_absolute_url()).content.decode()
    assert "Put into service done." in page and "Reload the page" not in page


def test_htmx_blocked_and_refused_render_the_partial_with_reasons(client, infra_user, support_user):
    ci = CIFactory()
    as_user(client, infra_user)
    response = client.post(reverse("ci_transition", args=[ci.pk, "commission"]), HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    assert "<html" not in response.content.decode() and "needs an owner" in response.content.decode()
    as_user(client, support_user)
    response = client.post(reverse("ci_transition", args=[ci.pk, "commission"]), HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert "Not permitted" in response.content.decode()


# --- impact -------------------------------------------------------------------------


@pytest.fixture
def chain(db):
    mail = ServiceFactory(name="Exchange mail", criticality="critical")
    router = CIFactory(name="router", status="in_service")
    firewall = CIFactory(name="firewall", status="in_service")
    hub = CIFactory(name="hub transport", services=[mail])
    RelationshipFactory(source=firewall, target=router)
    RelationshipFactory(source=hub, target=firewall, type="connects_to")
    return router, firewall, hub, mail


def test_impact_downstream_graph_and_service_path(client, infra_user, chain):
    router, firewall, hub, mail = chain
    as_user(client, infra_user)
    content = client.get(reverse("ci_detail", args=[router.pk])).content.decode()
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="impact-graph' in content
    assert "router → firewall → hub transport → Exchange mail" in content
    assert 'data-kind="service"' in content and "crit-critical" in content
    assert "depends on" in content and "connects to" in content


def test_impact_upstream(client, infra_user, chain):
    router, firewall, hub, mail = chain
    as_user(client, infra_user)
    content = client.get(reverse("ci_detail", args=[hub.pk]), {"direction": "upstream"}).content.decode()
    assert "hub transport → firewall → router" in content
    content = client.get(reverse("ci_detail", args=[router.pk]), {"direction": "upstream"}).content.decode()
    assert "depends on nothing recorded" in content
    assert client.get(reverse("ci_detail", args=[router.pk]), {"direction": "sideways"}).status_code == 200


def test_impact_graph_is_capped(client, infra_user):
    from mof import graph, impact

    hub = CIFactory(name="hub")
    for i in range(80):
        RelationshipFactory(source=CIFactory(name=f"leaf-{i:02d}"), target=hub)
    svg = graph.render_impact(impact.analyse([hub.pk]), max_nodes=60)
    assert svg.count('data-kind="ci"') == 59
    assert "+21 more" in svg
    as_user(client, infra_user)
    content = client.get(reverse("ci_detail", args=[hub.pk])).content.decode()
    assert "leaf-79" in content  # every CI is still listed in the table


def test_graph_escapes_names():
    from mof import graph
    from mof.impact import Impact, ImpactedCI

    impact = Impact(
        direction="downstream",
        origin=[{"id": 1, "name": "<script>x</script>"}],
        cis=[
            ImpactedCI(
                2,
                "a&b",
                "Server",
                "planned",
                "production",
                1,
                "depends_on",
                [{"id": 1, "name": "<script>x</script>"}, {"id": 2, "name": "a&b"}],
            )
        ],
        services=[],
    )
    svg = str(graph.render_impact(impact))
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg
    json.dumps(svg)  # plain text


def test_service_create_and_edit(client, manager):
    as_user(client, manager)
    response = client.post(
        reverse("service_create"),
        {"name": "Exchange mail", "criticality": "critical", "hours_of_service": "24x7", "description": ""},
    )
    service = Service.objects.get(name="Exchange mail")
    assert response.status_code == 302 and response["Location"] == service.get_absolute_url()
    response = client.post(reverse("service_create"), {"name": "Exchange mail", "criticality": "critical"})
    assert response.status_code == 400 and "name" in response.context["form"].errors
    response = client.post(
        reverse("service_edit", args=[service.pk]), {"name": "Exchange mail", "criticality": "urgent"}
    )
    assert response.status_code == 400
    service.refresh_from_db()
    assert service.criticality == "critical"
    response = client.post(
        reverse("service_edit", args=[service.pk]),
        {"name": "Exchange mail", "criticality": "high", "hours_of_service": "Mon-Fri"},
    )
    assert response.status_code == 302
    service.refresh_from_db()
    assert service.criticality == "high" and service.hours_of_service == "Mon-Fri"


def test_each_transition_is_offered_once(client, infra_user):
    ci = CIFactory(owner=infra_user, status="in_service")
    as_user(client, infra_user)
    content = client.get(reverse("ci_detail", args=[ci.pk])).content.decode()
    assert content.count('data-transition="retire"') == 1


def test_list_tolerates_bad_parameters(client, infra_user):
    CIFactory(name="survivor")
    as_user(client, infra_user)
    for params in (
        {"ci_class": "no-such-class"},
        {"status": "bogus"},
        {"page": "abc"},
        {"page_size": "100000"},
        {"service": "x"},
        {"sort": "password"},
    ):
        response = client.get(reverse("ci_list"), params)
        assert response.status_code == 200, params
        assert (
            "survivor" in response.content.decode()
            or params.get("ci_class")
            or params.get("status")
            or params.get("service")
        )
    assert client.get(reverse("ci_list"), {"page_size": "100000"}).context["page"].page_size == 200


def test_failed_login_shows_an_error(client, infra_user):
    response = client.post(reverse("login"), {"username": "infra", "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
