"""API tokens: a token acts as exactly its user; revoked, expired and rotated tokens are
refused; keys are stored hashed; the token endpoints are admin/owner-only."""

import logging
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from mof import tokens
from mof.choices import RoleCluster
from mof.models import ApiToken, AuditEntry
from mof.models_access import TOKEN_PREFIX, TokenScope, token_digest
from tests.conftest import api_as
from tests.core.accounts_factories import ServiceAccountFactory, make_token
from tests.factories import PASSWORD, CIFactory, UserFactory

pytestmark = pytest.mark.django_db


def with_key(key, keyword="Token"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return client


# --- the token acts as its account, through the policy table -----------------------------


def test_token_acts_with_exactly_its_accounts_permissions():
    partner = ServiceAccountFactory(roles=[RoleCluster.PARTNER])
    own, other = CIFactory(owner=partner), CIFactory()
    _, key = make_token(partner)
    client = with_key(key)
    assert client.get("/api/v1/users/me/").json()["username"] == partner.username
    ids = {row["id"] for row in client.get("/api/v1/cis/").json()["results"]}
    assert ids == {own.pk}  # a partner sees the CIs it owns, nothing else
    assert client.get(f"/api/v1/cis/{other.pk}/").status_code == 404
    # Partners may not add CIs; the token cannot either.
    response = client.post("/api/v1/cis/", {"name": "sneaky", "ci_class": own.ci_class.slug}, format="json")
    assert response.status_code == 403
    assert AuditEntry.objects.filter(action="refused", actor_id=partner.pk, transition="ci.add").exists()


def test_operations_service_account_may_do_what_operations_may():
    monitor = ServiceAccountFactory(roles=[RoleCluster.OPERATIONS])
    ci = CIFactory()
    _, key = make_token(monitor)
    response = with_key(key).post("/api/v1/cis/", {"name": "probe-01", "ci_class": ci.ci_class.slug}, format="json")
    assert response.status_code == 201
    entry = AuditEntry.objects.get(
        model_label="mof.configurationitem", object_id=str(response.json()["id"]), action="create"
    )
    assert entry.actor_name == monitor.username


def test_bearer_keyword_is_accepted_too():
    account = ServiceAccountFactory()
    _, key = make_token(account)
    assert with_key(key, "Bearer").get("/api/v1/users/me/").json()["id"] == account.pk


def test_read_only_token_reads_but_may_not_write():
    monitor = ServiceAccountFactory(roles=[RoleCluster.OPERATIONS])
    ci = CIFactory()
    token, key = make_token(monitor, scope=TokenScope.READ_ONLY)
    client = with_key(key)
    assert client.get("/api/v1/cis/").status_code == 200
    response = client.post("/api/v1/cis/", {"name": "x", "ci_class": ci.ci_class.slug}, format="json")
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    assert (
        AuditEntry.objects.filter(
            action="refused", actor_id=monitor.pk, model_label="mof.apitoken", object_id=str(token.pk)
        ).count()
        == 1
    )


# --- refusals ------------------------------------------------------------------------


def test_revoked_token_is_refused_at_once(admin_user):
    account = ServiceAccountFactory()
    token, key = make_token(account)
    client = with_key(key)
    assert client.get("/api/v1/users/me/").status_code == 200
    tokens.token_revoke(actor=admin_user, token=token)
    response = client.get("/api/v1/users/me/")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


def test_expired_token_is_refused():
    account = ServiceAccountFactory()
    _, key = make_token(account, expires_at=timezone.now() - timedelta(seconds=1))
    response = with_key(key).get("/api/v1/users/me/")
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_unknown_key_and_deactivated_account_are_refused():
    account = ServiceAccountFactory()
    _, key = make_token(account)
    assert with_key(key + "x").get("/api/v1/users/me/").status_code == 401
    account.is_active = False
    account.save()
    assert with_key(key).get("/api/v1/users/me/").status_code == 401


def test_refusals_and_first_use_go_to_the_security_log(caplog):
    account = ServiceAccountFactory()
    token, key = make_token(account)
    with caplog.at_level(logging.INFO, logger="mof.security"):
        with_key(key).get("/api/v1/users/me/")
        with_key(TOKEN_PREFIX + "nonsense").get("/api/v1/users/me/")
    messages = [r.getMessage() for r in caplog.records if r.name == "mof.security"]
    assert any(token.prefix in m and "in use" in m for m in messages)
    assert any("unknown API token" in m for m in messages)


def test_rotation_refuses_the_old_key_and_accepts_the_new(admin_user):
    account = ServiceAccountFactory()
    token, old_key = make_token(account, scope=TokenScope.READ_ONLY)
    new, new_key = tokens.token_rotate(actor=admin_user, token=token)
    assert with_key(old_key).get("/api/v1/users/me/").status_code == 401
    assert with_key(new_key).get("/api/v1/users/me/").status_code == 200
    assert (new.name, new.scope, new.rotated_from_id) == (token.name, TokenScope.READ_ONLY, token.pk)


def test_rotation_grace_period_keeps_the_old_key_until_it_ends(admin_user, monkeypatch):
    account = ServiceAccountFactory()
    token, old_key = make_token(account)
    tokens.token_rotate(actor=admin_user, token=token, grace_minutes=10)
    assert with_key(old_key).get("/api/v1/users/me/").status_code == 200
    later = timezone.now() + timedelta(minutes=11)
    monkeypatch.setattr(tokens.timezone, "now", lambda: later)
    assert with_key(old_key).get("/api/v1/users/me/").status_code == 401


def test_revoking_cuts_a_grace_period_short(admin_user):
    account = ServiceAccountFactory()
    token, old_key = make_token(account)
    tokens.token_rotate(actor=admin_user, token=token, grace_minutes=60)
    token.refresh_from_db()
    tokens.token_revoke(actor=admin_user, token=token)
    assert with_key(old_key).get("/api/v1/users/me/").status_code == 401


def test_a_rotated_or_revoked_token_cannot_be_rotated_again(admin_user):
    from django.core.exceptions import ValidationError

    account = ServiceAccountFactory()
    token, _ = make_token(account)
    tokens.token_rotate(actor=admin_user, token=token, grace_minutes=5)
    with pytest.raises(ValidationError):
        tokens.token_rotate(actor=admin_user, token=token)
    assert ApiToken.objects.filter(user=account).count() == 2


def test_rotation_keeps_the_lifetime_of_an_expiring_token(admin_user):
    account = ServiceAccountFactory()
    created = timezone.now() - timedelta(days=10)
    token, _ = make_token(account, created_at=created, expires_at=created + timedelta(days=30))
    new, _ = tokens.token_rotate(actor=admin_user, token=token)
    assert abs((new.expires_at - new.created_at) - timedelta(days=30)) < timedelta(seconds=5)


# --- storage --------------------------------------------------------------------------


def test_key_is_stored_hashed_never_in_clear(admin_user):
    account = ServiceAccountFactory()
    token, key = tokens.token_issue(actor=admin_user, owner=account, name="nagios")
    assert key.startswith(TOKEN_PREFIX) and token.prefix == key[: len(token.prefix)]
    assert token.digest == token_digest(key) != key
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM mof_apitoken")
        rows = cursor.fetchall()
    assert not any(key in str(value) for row in rows for value in row)
    trail = AuditEntry.objects.filter(model_label="mof.apitoken", object_id=str(token.pk))
    assert trail.filter(action="create", actor_id=admin_user.pk).exists()
    assert not any(key in str(e.changes) or token.digest in str(e.changes) for e in trail)


def test_last_used_is_written_at_most_once_a_minute():
    account = ServiceAccountFactory()
    token, key = make_token(account)
    client = with_key(key)
    client.get("/api/v1/users/me/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        client.get("/api/v1/users/me/")
    assert not any("UPDATE" in q["sql"] and "mof_apitoken" in q["sql"] for q in queries.captured_queries)
    token.refresh_from_db()
    assert token.last_used_at == first
    assert not AuditEntry.objects.filter(model_label="mof.apitoken", action="update").exists()


# --- the sign-in endpoint --------------------------------------------------------------


def test_sign_in_issues_a_hashed_personal_token_listed_under_my_tokens(infra_user):
    response = APIClient().post("/api/v1/auth/token/", {"username": "infra", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    key = response.json()["token"]
    token = ApiToken.objects.get(user=infra_user)
    assert token.digest == token_digest(key) and token.expires_at > timezone.now() + timedelta(days=29)
    listed = with_key(key).get("/api/v1/tokens/").json()["results"]
    assert [row["id"] for row in listed] == [token.pk] and "key" not in listed[0]


def test_legacy_drf_token_still_authenticates(infra_user):
    legacy = Token.objects.create(user=infra_user)
    assert with_key(legacy.key).get("/api/v1/users/me/").json()["id"] == infra_user.pk
    assert with_key(legacy.key, "Bearer").get("/api/v1/users/me/").json()["id"] == infra_user.pk


def test_service_account_cannot_obtain_a_token_with_a_password():
    account = ServiceAccountFactory()
    account.set_password(PASSWORD)  # even if someone gave it one
    account.save()
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": account.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert not ApiToken.objects.filter(user=account).exists()


# --- the endpoints: who may do what ------------------------------------------------------


def test_service_account_endpoints_are_admin_only(manager, infra_user):
    account = ServiceAccountFactory()
    token, _ = make_token(account)
    partner_svc = ServiceAccountFactory()
    _, svc_key = make_token(partner_svc)
    for client in (api_as(manager), api_as(infra_user), with_key(svc_key)):
        assert client.get("/api/v1/service-accounts/").status_code == 403
        assert client.post("/api/v1/service-accounts/", {"username": "svc-x"}, format="json").status_code == 403
        assert client.get(f"/api/v1/service-accounts/{account.pk}/tokens/").status_code == 403
        assert (
            client.post(f"/api/v1/service-accounts/{account.pk}/tokens/", {"name": "t"}, format="json").status_code
            == 403
        )
        assert client.post(f"/api/v1/service-accounts/{account.pk}/tokens/{token.pk}/rotate/").status_code == 403
        assert client.post(f"/api/v1/service-accounts/{account.pk}/tokens/{token.pk}/revoke/").status_code == 403
    assert APIClient().get("/api/v1/service-accounts/").status_code == 401
    token.refresh_from_db()
    assert token.revoked_at is None


def test_admin_creates_a_service_account_and_issues_rotates_revokes_over_the_api(admin_user):
    client = api_as(admin_user)
    created = client.post(
        "/api/v1/service-accounts/",
        {"username": "svc-nagios", "first_name": "Nagios", "roles": ["operations"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    account_id = created.json()["id"]
    assert created.json()["roles"] == ["operations"]
    issued = client.post(
        f"/api/v1/service-accounts/{account_id}/tokens/", {"name": "mon01", "scope": "read_only"}, format="json"
    )
    assert issued.status_code == 201
    body = issued.json()
    assert body["key"].startswith(TOKEN_PREFIX) and body["status"] == "active" and body["created_by"] == "admin"
    listed = client.get(f"/api/v1/service-accounts/{account_id}/tokens/").json()
    assert [row["id"] for row in listed] == [body["id"]] and "key" not in listed[0]
    rotated = client.post(
        f"/api/v1/service-accounts/{account_id}/tokens/{body['id']}/rotate/", {"grace_minutes": 5}, format="json"
    )
    assert rotated.status_code == 201
    assert with_key(body["key"]).get("/api/v1/users/me/").status_code == 200  # grace period
    revoked = client.post(f"/api/v1/service-accounts/{account_id}/tokens/{body['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert with_key(body["key"]).get("/api/v1/users/me/").status_code == 401
    assert with_key(rotated.json()["key"]).get("/api/v1/users/me/").status_code == 200


def test_token_endpoints_validate_input(admin_user):
    account = ServiceAccountFactory()
    token, _ = make_token(account)
    client = api_as(admin_user)
    bad = client.post(
        f"/api/v1/service-accounts/{account.pk}/tokens/",
        {"name": "", "scope": "root", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert bad.status_code == 400 and {"name", "scope"} <= set(bad.json())
    past = client.post(
        f"/api/v1/service-accounts/{account.pk}/tokens/",
        {"name": "x", "expires_at": "2001-01-01T00:00:00Z"},
        format="json",
    )
    assert past.status_code == 400 and "expires_at" in past.json()
    grace = client.post(
        f"/api/v1/service-accounts/{account.pk}/tokens/{token.pk}/rotate/", {"grace_minutes": 100000}, format="json"
    )
    assert grace.status_code == 400 and "grace_minutes" in grace.json()
    assert client.post(f"/api/v1/service-accounts/{account.pk}/tokens/999999/revoke/").status_code == 404
    person = UserFactory()
    assert (
        client.get(f"/api/v1/service-accounts/{person.pk}/tokens/").status_code == 404
    )  # a person is not a service account
    roles = client.post("/api/v1/service-accounts/", {"username": "svc-none", "roles": []}, format="json")
    assert roles.status_code == 400 and "roles" in roles.json()
    dup = client.post("/api/v1/service-accounts/", {"username": account.username}, format="json")
    assert dup.status_code == 400 and "username" in dup.json()
    assert ApiToken.objects.filter(user=account).count() == 1


def test_token_of_another_service_account_is_404_under_the_wrong_account(admin_user):
    first, second = ServiceAccountFactory(), ServiceAccountFactory()
    token, _ = make_token(first)
    response = api_as(admin_user).post(f"/api/v1/service-accounts/{second.pk}/tokens/{token.pk}/revoke/")
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_people_manage_only_their_own_tokens(infra_user, support_user):
    mine, _ = make_token(infra_user)
    theirs, _ = make_token(support_user)
    client = api_as(infra_user)
    assert [row["id"] for row in client.get("/api/v1/tokens/").json()["results"]] == [mine.pk]
    assert client.post(f"/api/v1/tokens/{theirs.pk}/revoke/").status_code == 404
    assert client.post(f"/api/v1/tokens/{theirs.pk}/rotate/").status_code == 404
    created = client.post("/api/v1/tokens/", {"name": "laptop script"}, format="json")
    assert created.status_code == 201 and created.json()["user"] == "infra"
    assert client.post(f"/api/v1/tokens/{mine.pk}/revoke/").json()["status"] == "revoked"
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_a_service_account_cannot_issue_itself_tokens():
    account = ServiceAccountFactory()
    _, key = make_token(account)
    assert with_key(key).post("/api/v1/tokens/", {"name": "more"}, format="json").status_code == 403


def test_service_account_list_is_constant_in_queries(admin_user, django_assert_max_num_queries):
    for _ in range(3):
        account = ServiceAccountFactory(roles=[RoleCluster.PARTNER, RoleCluster.OPERATIONS])
        make_token(account)
    client = api_as(admin_user)
    with CaptureQueriesContext(connection) as small:
        assert len(client.get("/api/v1/service-accounts/").json()["results"]) == 3
    for _ in range(10):
        make_token(ServiceAccountFactory())
    with CaptureQueriesContext(connection) as large:
        assert len(client.get("/api/v1/service-accounts/").json()["results"]) == 13
    assert len(large.captured_queries) == len(small.captured_queries)


def test_token_list_is_constant_in_queries(admin_user):
    account = ServiceAccountFactory()
    make_token(account)
    client = api_as(admin_user)
    with CaptureQueriesContext(connection) as small:
        client.get(f"/api/v1/service-accounts/{account.pk}/tokens/")
    for _ in range(8):
        make_token(account, created_by=admin_user)
    with CaptureQueriesContext(connection) as large:
        assert len(client.get(f"/api/v1/service-accounts/{account.pk}/tokens/").json()) == 9
    assert len(large.captured_queries) == len(small.captured_queries)


def test_admin_site_lists_tokens_without_digests_and_revokes_through_the_service(client, admin_user, manager):
    account = ServiceAccountFactory()
    token, key = make_token(account)
    client.force_login(admin_user)
    listing = client.get("/admin/mof/apitoken/")
    assert listing.status_code == 200 and token.prefix in listing.content.decode()
    detail = client.get(f"/admin/mof/apitoken/{token.pk}/change/").content.decode()
    assert token.digest not in detail and key not in detail
    response = client.post("/admin/mof/apitoken/", {"action": "revoke_selected", "_selected_action": [token.pk]})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEntry.objects.filter(
        model_label="mof.apitoken", object_id=str(token.pk), action="update", actor_id=admin_user.pk
    ).exists()
    manager.is_staff = True
    manager.save()
    client.force_login(manager)
    assert client.get("/admin/mof/apitoken/").status_code == 403


# --- the cap on live tokens per user ------------------------------------------------------


@override_settings(MOF_MAX_TOKENS_PER_USER=2)
def test_issuing_beyond_the_cap_is_a_400_with_the_reason(infra_user, admin_user):
    client = api_as(infra_user)
    assert [client.post("/api/v1/tokens/", {"name": f"t{i}"}, format="json").status_code for i in range(2)] == [
        201,
        201,
    ]
    refused = client.post("/api/v1/tokens/", {"name": "third"}, format="json")
    assert refused.status_code == 400
    assert "2 live API tokens" in str(refused.json()) and "revoke" in str(refused.json())
    assert ApiToken.objects.filter(user=infra_user).count() == 2
    # The sign-in endpoint mints a token too: the same cap.
    signed_in = APIClient().post("/api/v1/auth/token/", {"username": "infra", "password": PASSWORD}, format="json")
    assert signed_in.status_code == 400 and ApiToken.objects.filter(user=infra_user).count() == 2
    # Service accounts too, whoever issues.
    account = ServiceAccountFactory()
    admin = api_as(admin_user)
    codes = [
        admin.post(f"/api/v1/service-accounts/{account.pk}/tokens/", {"name": f"s{i}"}, format="json").status_code
        for i in range(3)
    ]
    assert codes == [201, 201, 400]


@override_settings(MOF_MAX_TOKENS_PER_USER=2)
def test_revoked_and_expired_tokens_free_their_place(infra_user):
    first, _ = tokens.token_issue(actor=infra_user, owner=infra_user, name="a")
    make_token(infra_user, name="old", expires_at=timezone.now() - timedelta(days=1))
    tokens.token_issue(actor=infra_user, owner=infra_user, name="b")
    with pytest.raises(ValidationError):
        tokens.token_issue(actor=infra_user, owner=infra_user, name="c")
    tokens.token_revoke(actor=infra_user, token=first)
    assert tokens.token_issue(actor=infra_user, owner=infra_user, name="c")[0].pk


@override_settings(MOF_MAX_TOKENS_PER_USER=2)
def test_at_the_cap_a_rotation_replaces_but_a_grace_period_needs_room(admin_user):
    account = ServiceAccountFactory()
    first, _ = tokens.token_issue(actor=admin_user, owner=account, name="a")
    tokens.token_issue(actor=admin_user, owner=account, name="b")
    with pytest.raises(ValidationError, match="grace period"):
        tokens.token_rotate(actor=admin_user, token=first, grace_minutes=10)
    new, _ = tokens.token_rotate(actor=admin_user, token=first)  # the old one is revoked at once
    assert tokens.live_token_count(account) == 2 and new.is_live()


@override_settings(MOF_MAX_TOKENS_PER_USER=1)
def test_issuing_beyond_the_cap_on_the_page_is_a_form_error(client, infra_user):
    client.force_login(infra_user)
    assert client.post("/operating/security/tokens/", {"name": "laptop", "scope": "read_write"}).status_code == 201
    refused = client.post("/operating/security/tokens/", {"name": "script", "scope": "read_write"})
    assert refused.status_code == 400
    assert "1 live API token, the most allowed" in refused.content.decode()
    assert ApiToken.objects.filter(user=infra_user).count() == 1


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_issues_at_once_cannot_both_take_the_last_place(postgres, admin_user):
    """The owner's row is locked while the live tokens are counted: of two requests at once for
    the last place, one gets it and the other a ValidationError (never one token too many)."""
    import threading

    from django.db import connections

    account = ServiceAccountFactory()
    outcomes, barrier = [], threading.Barrier(2)

    def issue(name):
        try:
            barrier.wait(5)
            tokens.token_issue(actor=admin_user, owner=account, name=name)
            outcomes.append("issued")
        except ValidationError:
            outcomes.append("refused")
        finally:
            connections.close_all()

    with override_settings(MOF_MAX_TOKENS_PER_USER=1):
        threads = [threading.Thread(target=issue, args=(f"t{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    assert sorted(outcomes) == ["issued", "refused"]
    assert ApiToken.objects.filter(user=account).count() == 1
