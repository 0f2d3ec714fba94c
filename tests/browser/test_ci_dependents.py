"""In a real browser: a CI's page names what depends on it and the services it can touch."""

import os

import pytest

from mof.choices import RoleCluster
from tests.browser.conftest import log_in
from tests.factories import CIFactory, RelationshipFactory, ServiceFactory, UserFactory, ci_class

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_router_page_lists_dependents_and_exchange(page, live_server, builtin_data):
    UserFactory(username="netops", roles=[RoleCluster.INFRASTRUCTURE])
    mail = ServiceFactory(name="Exchange mail", criticality="critical")
    router = CIFactory(name="router", ci_class=ci_class("network-device"), status="in_service")
    firewall = CIFactory(name="firewall", ci_class=ci_class("firewall"), status="in_service")
    hub = CIFactory(name="hub transport", ci_class=ci_class("server"), services=[mail])
    RelationshipFactory(source=firewall, target=router)
    RelationshipFactory(source=hub, target=firewall)

    log_in(page, live_server, "netops")
    page.goto(f"{live_server.url}/cmdb/cis/{router.pk}/")

    dependents = page.locator("[data-list=dependents]")
    assert "firewall" in dependents.inner_text()

    impact = page.locator("#impact")
    graph = impact.locator("svg.impact-graph")
    assert graph.is_visible()
    graph_text = graph.text_content()
    assert "firewall" in graph_text and "hub transport" in graph_text and "Exchange mail" in graph_text
    assert impact.locator("svg [data-kind=service]").count() == 1

    services_table = impact.locator("table.impact-services")
    assert "router → firewall → hub transport → Exchange mail" in services_table.inner_text()

    # The service node links to the service's page.
    impact.locator("svg [data-kind=service]").click()
    page.wait_for_url(f"{live_server.url}/cmdb/services/{mail.pk}/")
    assert "hub transport" in page.locator("main").inner_text()


def test_commission_through_htmx_refreshes_the_page(page, live_server, builtin_data):
    user = UserFactory(username="netops", roles=[RoleCluster.INFRASTRUCTURE])
    ci = CIFactory(name="edge-router-02", owner=user)
    log_in(page, live_server, "netops")
    page.goto(f"{live_server.url}/cmdb/cis/{ci.pk}/")
    with page.expect_navigation():
        page.click("#transitions-panel form[data-transition=commission] button")
    page.locator(".messages .message-success").wait_for()
    assert "In service" in page.locator("#transitions-panel .current-state").inner_text()
    ci.refresh_from_db()
    assert ci.status == "in_service"
