"""In chromium: single sign-on through a real OpenID provider (tests/oidc_provider, a separate
process): the full redirect flow, the groups claim mapped to roles, and signing out at both."""

import os

import pytest

from mof.choices import RoleCluster
from mof.identity.models import DirectoryGroupMapping, DirectoryProfile
from mof.models import AuditEntry, User

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def provider_sign_in(page, sso):
    page.wait_for_selector("#provider-username")
    assert page.url.startswith("http://127.0.0.1:18280/accounts/login/")
    page.fill("#provider-username", sso["username"])
    page.fill("#provider-password", sso["password"])
    page.click("#provider-submit")


def test_an_sso_user_signs_in_through_the_provider_with_the_roles_of_the_groups_claim(
    page, live_server, sso, builtin_data
):
    DirectoryGroupMapping.objects.create(group="Portal Support", roles=[RoleCluster.SUPPORT])
    page.goto(f"{live_server.url}/login/")
    page.click("#sso-sign-in")
    provider_sign_in(page, sso)
    page.wait_for_url(f"{live_server.url}/")
    assert page.locator(".usermenu summary").inner_text() == "Sam Sso"
    sam = User.objects.get(username="sam")
    assert sam.roles == {RoleCluster.SUPPORT} and sam.email == "sam@corp.example" and not sam.has_usable_password()
    assert DirectoryProfile.objects.get(user=sam).source == "oidc"
    assert AuditEntry.objects.filter(model_label="mof.roleassignment", via="directory-oidc").exists()
    page.goto(f"{live_server.url}/supporting/incidents/")
    assert page.url == f"{live_server.url}/supporting/incidents/"

    # Signing out ends the portal's session and the provider's: the next sign-in asks again.
    page.click(".usermenu summary")
    page.click(".usermenu-panel button[type=submit]")
    page.wait_for_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/login/")
    page.click("#sso-sign-in")
    provider_sign_in(page, sso)
    page.wait_for_url(f"{live_server.url}/")
    assert User.objects.filter(username="sam").count() == 1


def test_a_wrong_provider_password_never_reaches_the_portal(page, live_server, sso, builtin_data):
    page.goto(f"{live_server.url}/login/")
    page.click("#sso-sign-in")
    page.wait_for_selector("#provider-username")
    page.fill("#provider-username", sso["username"])
    page.fill("#provider-password", "wrong")
    page.click("#provider-submit")
    page.wait_for_selector("#provider-error")
    assert not User.objects.filter(username="sam").exists()


def test_a_person_deactivated_in_the_portal_cannot_come_in_through_the_provider(page, live_server, sso, builtin_data):
    from tests.factories import UserFactory

    UserFactory(username="sam", is_active=False)
    page.goto(f"{live_server.url}/login/")
    page.click("#sso-sign-in")
    provider_sign_in(page, sso)
    page.wait_for_url(f"{live_server.url}/login/?sso=failed")
    assert "Single sign-on did not sign you in" in page.locator("[role=alert]").inner_text()
    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/login/")
