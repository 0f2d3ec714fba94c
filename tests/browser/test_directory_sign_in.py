"""In chromium: people of the AD-like slapd sign in on the login page with their directory
password and land with the roles their groups give; a disabled account cannot."""

import os

import pytest

from mof.choices import RoleCluster
from mof.identity.models import DirectoryGroupMapping
from tests.factories import TeamFactory
from tests.identity.slapd import GROUPS, PASSWORDS

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def mapped(builtin_data):
    desk = TeamFactory(name="Service desk", role_cluster=RoleCluster.SUPPORT)
    support = DirectoryGroupMapping.objects.create(group=f"CN=Portal Support,{GROUPS}", roles=[RoleCluster.SUPPORT])
    support.teams.add(desk)
    DirectoryGroupMapping.objects.create(group="Portal Managers", is_manager=True)


def sign_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_an_ad_user_signs_in_with_the_directory_password_and_lands_with_their_roles(page, live_server, slapd, mapped):
    sign_in(page, live_server, "alice@corp.example", PASSWORDS["alice"])
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".usermenu summary").inner_text() == "Alice Archer"
    # Support, from Service Desk L1 inside Portal Support: the service desk's queue opens.
    page.goto(f"{live_server.url}/supporting/incidents/")
    assert page.url == f"{live_server.url}/supporting/incidents/"


def test_a_directory_manager_lands_as_a_manager_and_a_person_without_groups_as_a_caller(
    browser, live_server, slapd, mapped
):
    bob = browser.new_context().new_page()
    sign_in(bob, live_server, "bob", PASSWORDS["bob"])
    bob.wait_for_url(f"{live_server.url}/")
    assert "· manager" in bob.locator(".usermenu-panel").text_content()
    carol = browser.new_context().new_page()
    sign_in(carol, live_server, "carol", PASSWORDS["carol"])
    carol.wait_for_url(f"{live_server.url}/")
    carol.goto(f"{live_server.url}/supporting/incidents/")
    assert carol.url == f"{live_server.url}/supporting/self-service/"


def test_a_disabled_directory_account_cannot_sign_in(page, live_server, slapd, mapped):
    sign_in(page, live_server, "dave", PASSWORDS["dave"])
    page.locator(".errorlist, .form-errors, [role=alert]").first.wait_for()
    assert page.url.startswith(f"{live_server.url}/login/")
    assert page.locator("input[name=password]").is_visible()
