"""Service accounts: created by admins only, never able to sign in to the pages, acting
through tokens issued, rotated and revoked on their page (the key shown once)."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from mof import policy, tokens
from mof.choices import RoleCluster
from mof.models import ApiToken, AuditEntry, User
from mof.models_access import TOKEN_PREFIX, token_digest
from tests.core.accounts_factories import ServiceAccountFactory, make_token
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def key_on(page) -> str:
    match = re.search(rf'value="({TOKEN_PREFIX}[A-Za-z0-9_-]+)"', page.content.decode())
    assert match, "the new key is shown on the page"
    return match.group(1)


# --- the service layer ---------------------------------------------------------------------


def test_admin_creates_a_service_account_that_cannot_sign_in(admin_user):
    account = tokens.service_account_create(actor=admin_user, username="svc-backup", roles=[RoleCluster.OPERATIONS])
    assert account.is_service_account and not account.has_usable_password()
    assert account.roles == {RoleCluster.OPERATIONS} and not account.is_manager and not account.is_superuser
    assert AuditEntry.objects.filter(
        model_label="mof.user", object_id=str(account.pk), action="create", actor_id=admin_user.pk
    ).exists()


def test_service_account_defaults_to_the_partner_role(admin_user):
    account = tokens.service_account_create(actor=admin_user, username="svc-vendor")
    assert account.roles == {RoleCluster.PARTNER}


def test_only_admins_create_service_accounts(manager, infra_user):
    for actor in (manager, infra_user):
        with pytest.raises(policy.Refused):
            tokens.service_account_create(actor=actor, username="svc-x")
    assert not User.objects.filter(username="svc-x").exists()


def test_service_account_needs_a_role_and_cannot_be_made_a_manager(admin_user):
    with pytest.raises(ValidationError) as error:
        tokens.service_account_create(actor=admin_user, username="svc-x", roles=[])
    assert "roles" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        tokens.service_account_create(actor=admin_user, username="svc-y", is_manager=True)
    assert "is_manager" in error.value.message_dict
    assert not User.objects.filter(username__in=["svc-x", "svc-y"]).exists()


def test_update_refuses_a_person(admin_user, infra_user):
    with pytest.raises(ValidationError):
        tokens.service_account_update(actor=admin_user, account=infra_user, first_name="x")


def test_deactivated_account_gets_no_new_token(admin_user):
    account = ServiceAccountFactory(is_active=False)
    with pytest.raises(ValidationError):
        tokens.token_issue(actor=admin_user, owner=account, name="t")


def test_token_rules_in_the_policy_table(admin_user, manager, infra_user, support_user):
    account = ServiceAccountFactory()
    svc_token, _ = make_token(account)
    personal, _ = make_token(infra_user)
    assert policy.can(admin_user, "token.issue", account)
    assert not policy.can(manager, "token.issue", account)
    assert policy.can(infra_user, "token.issue", infra_user)
    assert not policy.can(infra_user, "token.issue", support_user)
    assert not policy.can(admin_user, "token.issue", infra_user)  # an admin never mints a person's key
    assert not policy.can(account, "token.issue", account)  # nor does a service account its own
    assert policy.can(admin_user, "token.revoke", personal)  # a leaked key can be stopped
    assert not policy.can(admin_user, "token.rotate", personal)
    assert not policy.can(support_user, "token.revoke", personal)
    assert not policy.can(manager, "token.rotate", svc_token)


# --- no web sign-in --------------------------------------------------------------------------


def test_service_account_cannot_use_the_web_login_even_with_a_password(client):
    account = ServiceAccountFactory()
    account.set_password(PASSWORD)
    account.save()
    response = client.post("/login/", {"username": account.username, "password": PASSWORD})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert client.post("/admin/login/", {"username": account.username, "password": PASSWORD}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_forced_session_of_a_service_account_is_not_honoured(client):
    account = ServiceAccountFactory()
    client.force_login(account)
    assert client.get("/").status_code == 302  # sent to the login page
    assert APIClient().get("/api/v1/users/me/").status_code == 401


# --- the pages -------------------------------------------------------------------------------


def test_admin_creates_an_account_and_issues_a_token_shown_once(client, admin_user):
    client.force_login(admin_user)
    created = client.post(
        "/operating/security/service-accounts/new/",
        {"username": "svc-nagios", "first_name": "Nagios", "roles": ["operations"], "is_active": "on"},
    )
    account = User.objects.get(username="svc-nagios")
    assert created.status_code == 302 and created["Location"] == f"/operating/security/service-accounts/{account.pk}/"
    assert account.is_service_account and account.roles == {RoleCluster.OPERATIONS}
    issued = client.post(
        f"/operating/security/service-accounts/{account.pk}/", {"name": "mon01", "scope": "read_write"}
    )
    assert issued.status_code == 201
    key = key_on(issued)
    assert ApiToken.objects.get(user=account).digest == token_digest(key)
    again = client.get(f"/operating/security/service-accounts/{account.pk}/")
    assert key not in again.content.decode() and key[:12] in again.content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/users/me/").json()["username"] == "svc-nagios"


def test_issue_form_errors_are_form_errors(client, admin_user):
    account = ServiceAccountFactory()
    client.force_login(admin_user)
    response = client.post(f"/operating/security/service-accounts/{account.pk}/", {"name": "", "scope": "read_write"})
    assert response.status_code == 400 and not ApiToken.objects.filter(user=account).exists()
    past = client.post(
        f"/operating/security/service-accounts/{account.pk}/",
        {"name": "x", "scope": "read_write", "expires_at": "2001-01-01T00:00"},
    )
    assert past.status_code == 400 and "future" in past.content.decode()
    duplicate = client.post(
        "/operating/security/service-accounts/new/", {"username": account.username, "roles": ["partner"]}
    )
    assert duplicate.status_code == 400


def test_rotate_and_revoke_on_the_page(client, admin_user):
    account = ServiceAccountFactory()
    token, old_key = make_token(account)
    client.force_login(admin_user)
    rotated = client.post(f"/operating/security/tokens/{token.pk}/rotate/", {"grace_minutes": "0"})
    assert rotated.status_code == 201
    new_key = key_on(rotated)
    assert new_key != old_key
    token.refresh_from_db()
    assert not token.is_live()
    successor = ApiToken.objects.get(rotated_from=token)
    revoked = client.post(f"/operating/security/tokens/{successor.pk}/revoke/")
    assert revoked.status_code == 302 and revoked["Location"] == f"/operating/security/service-accounts/{account.pk}/"
    successor.refresh_from_db()
    assert successor.revoked_at is not None
    assert AuditEntry.objects.filter(
        model_label="mof.apitoken", object_id=str(successor.pk), action="update", actor_id=admin_user.pk
    ).exists()


def test_bad_grace_period_changes_nothing(client, admin_user):
    account = ServiceAccountFactory()
    token, _ = make_token(account)
    client.force_login(admin_user)
    response = client.post(f"/operating/security/tokens/{token.pk}/rotate/", {"grace_minutes": "-5"})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is None and ApiToken.objects.filter(user=account).count() == 1


def test_service_account_pages_are_admin_only(client, manager, infra_user):
    account = ServiceAccountFactory()
    token, _ = make_token(account)
    urls = [
        "/operating/security/service-accounts/",
        "/operating/security/service-accounts/new/",
        f"/operating/security/service-accounts/{account.pk}/",
        f"/operating/security/service-accounts/{account.pk}/edit/",
    ]
    for user in (manager, infra_user):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403, url
        assert (
            client.post(
                f"/operating/security/service-accounts/{account.pk}/", {"name": "x", "scope": "read_write"}
            ).status_code
            == 403
        )
        assert client.post(f"/operating/security/tokens/{token.pk}/rotate/", {"grace_minutes": "0"}).status_code == 404
        assert client.post(f"/operating/security/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None and ApiToken.objects.filter(user=account).count() == 1
    client.logout()
    assert client.get(urls[0]).status_code == 302


def test_token_pages_refuse_get(client, admin_user):
    token, _ = make_token(ServiceAccountFactory())
    client.force_login(admin_user)
    assert client.get(f"/operating/security/tokens/{token.pk}/revoke/").status_code == 405


def test_edit_deactivates_and_changes_roles(client, admin_user):
    account = ServiceAccountFactory()
    _, key = make_token(account)
    client.force_login(admin_user)
    response = client.post(
        f"/operating/security/service-accounts/{account.pk}/edit/",
        {"username": "ignored", "first_name": "Vendor", "roles": ["operations"]},
    )
    assert response.status_code == 302
    account.refresh_from_db()
    account.forget_cached_memberships()
    assert account.username != "ignored"  # the username is fixed once created
    assert not account.is_active and account.roles == {RoleCluster.OPERATIONS}
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/users/me/").status_code == 401


def test_list_page_is_constant_in_queries(client, admin_user):
    client.force_login(admin_user)
    make_token(ServiceAccountFactory(roles=[RoleCluster.PARTNER, RoleCluster.OPERATIONS]))
    with CaptureQueriesContext(connection) as small:
        assert client.get("/operating/security/service-accounts/").status_code == 200
    for _ in range(10):
        make_token(ServiceAccountFactory(roles=[RoleCluster.OPERATIONS]))
    with CaptureQueriesContext(connection) as large:
        page = client.get("/operating/security/service-accounts/")
    assert page.content.decode().count("/operating/security/service-accounts/") >= 11
    assert len(large.captured_queries) == len(small.captured_queries)


def test_detail_page_is_constant_in_queries(client, admin_user):
    account = ServiceAccountFactory()
    make_token(account)
    client.force_login(admin_user)
    with CaptureQueriesContext(connection) as small:
        client.get(f"/operating/security/service-accounts/{account.pk}/")
    for _ in range(8):
        make_token(account, created_by=admin_user)
    with CaptureQueriesContext(connection) as large:
        client.get(f"/operating/security/service-accounts/{account.pk}/")
    assert len(large.captured_queries) == len(small.captured_queries)


# --- my tokens ---------------------------------------------------------------------------------


def test_a_person_issues_and_revokes_own_tokens(client, infra_user, support_user):
    theirs, _ = make_token(support_user)
    client.force_login(infra_user)
    issued = client.post("/operating/security/tokens/", {"name": "my script", "scope": "read_only"})
    assert issued.status_code == 201
    key = key_on(issued)
    mine = ApiToken.objects.get(user=infra_user)
    assert mine.digest == token_digest(key) and mine.created_by == infra_user
    page = client.get("/operating/security/tokens/").content.decode()
    assert mine.prefix in page and theirs.prefix not in page
    assert client.post(f"/operating/security/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/operating/security/tokens/{mine.pk}/revoke/")["Location"] == "/operating/security/tokens/"
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_admin_revokes_a_persons_leaked_token_but_cannot_rotate_it(client, admin_user, infra_user):
    token, key = make_token(infra_user)
    client.force_login(admin_user)
    assert client.post(f"/operating/security/tokens/{token.pk}/rotate/", {"grace_minutes": "0"}).status_code == 403
    assert client.post(f"/operating/security/tokens/{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None and ApiToken.objects.filter(user=infra_user).count() == 1


def test_security_administration_links_on_the_operating_page(client, infra_user):
    client.force_login(infra_user)
    page = client.get("/operating/").content.decode()
    assert "/operating/security/tokens/" in page and "/operating/security/service-accounts/" in page
