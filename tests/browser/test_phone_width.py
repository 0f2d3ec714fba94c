"""At 420 px wide (a phone): the navigation folds under a Menu button, tables reflow to cards,
and the self-service form, the service desk queue and a change's page fit the screen (no
horizontal scrolling). Screenshots go to var/screenshots/."""

import os

import pytest

from changes import services as change_services
from changes.models import RequestForChange
from mof.choices import RoleCluster
from mof.transitions import perform_transition
from tests.browser.conftest import log_in
from tests.factories import (
    CIFactory,
    ManagerFactory,
    ServiceFactory,
    TeamFactory,
    UserFactory,
)

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PHONE = {"width": 420, "height": 900}
SHOTS = "var/screenshots"


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def fits(page, name):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/phone-{name}.png", full_page=True)
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{name}: {widths[0]} px wide in a {widths[1]} px window"


def test_the_menu_folds_under_a_button(phone, live_server, builtin_data):
    UserFactory(username="employee")
    log_in(phone, live_server, "employee")
    toggle = phone.locator("[data-nav-toggle]")
    assert toggle.is_visible() and not phone.locator("#mainnav").is_visible()
    assert phone.locator("header.topbar").bounding_box()["height"] < 70  # one row, not three
    toggle.click()
    assert phone.locator("#mainnav").is_visible() and toggle.get_attribute("aria-expanded") == "true"
    fits(phone, "menu-open")
    toggle.click()
    assert not phone.locator("#mainnav").is_visible()


def test_the_self_service_form_fits_a_phone(phone, live_server, builtin_data):
    UserFactory(username="employee", first_name="Erin", last_name="Employee-With-A-Long-Name")
    ServiceFactory(name="Exchange mail")
    log_in(phone, live_server, "employee")
    phone.goto(f"{live_server.url}/supporting/self-service/")
    phone.locator("#self-service-form").wait_for()
    fits(phone, "self-service")


def test_the_queue_fits_a_phone_and_its_rows_are_cards(phone, live_server, builtin_data):
    from incidents import services

    agent = UserFactory(username="agent", roles=[RoleCluster.SUPPORT])
    group = TeamFactory(name="Messaging", role_cluster=RoleCluster.SUPPORT, members=[agent])
    mail = ServiceFactory(name="Exchange mail")
    for n in range(3):
        services.incident_create(
            actor=agent,
            caller=agent,
            title=f"Outlook keeps asking for the password on laptop {n}",
            service=mail,
            assignment_group=group,
        )
    log_in(phone, live_server, "agent")
    phone.goto(f"{live_server.url}/supporting/incidents/?queue=unassigned")
    first = phone.locator("table.queue-table tbody tr").first
    assert phone.locator("table.queue-table thead").bounding_box()["height"] <= 1  # headings move into the cells
    assert first.locator("td[data-label=Title]").is_visible()
    assert not phone.locator("#bulk-actions").is_visible()
    first.locator("input[name=incidents]").check()
    assert (
        phone.locator("#bulk-actions").is_visible() and "1 ticked" in phone.locator("#bulk-actions legend").inner_text()
    )
    fits(phone, "queue")


def test_a_change_page_fits_a_phone(phone, live_server, builtin_data):
    manager = ManagerFactory(username="cm", roles=[RoleCluster.RELEASE])
    router = CIFactory(name="core-router-01.datacentre-north.example.internal")
    change = change_services.change_create(
        actor=manager,
        title="Upgrade the core router firmware to 15.2 with the BGP memory leak fix",
        type="normal",
        affected_cis=[router],
        implementation_plan="Apply firmware 15.2.",
        backout_plan="Reload 15.1.",
        test_plan="Ping.",
    )
    perform_transition(model=RequestForChange, actor=manager, pk=change.pk, name="submit", data={})
    log_in(phone, live_server, "cm")
    phone.goto(f"{live_server.url}/changing/changes/{change.pk}/")
    phone.locator("#transitions-panel").wait_for()
    fits(phone, "change")
