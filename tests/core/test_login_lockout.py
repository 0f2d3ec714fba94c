"""Login lockout: a burst of wrong passwords for one username, or from one address,
locks further sign-ins for a while on the login page, the admin and the token endpoint;
the right password is refused meanwhile, with the same message for unknown names."""
import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from mof import lockout
from mof.models import AuditEntry, LoginLockout
from mof.models_access import LockoutKind
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LIMITS = dict(MOF_LOGIN_LOCKOUT_ATTEMPTS=3, MOF_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS=5, MOF_LOGIN_LOCKOUT_WINDOW=600, MOF_LOGIN_LOCKOUT_SECONDS=300)


@pytest.fixture(autouse=True)
def limits(settings):
    for name, value in LIMITS.items():
        setattr(settings, name, value)


def web_login(client, username, password, address="10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def api_login(username, password, address="10.0.0.1"):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=address)


def signed_in(response):
    return response.status_code == 302


def test_web_login_locks_after_n_wrong_passwords_and_refuses_the_right_one(client, caplog):
    UserFactory(username="alice")
    with caplog.at_level(logging.WARNING, logger="mof.security"):
        for _ in range(3):
            assert web_login(client, "alice", "wrong").status_code == 200
        refused = web_login(client, "alice", PASSWORD)
    assert not signed_in(refused)
    assert "Too many failed sign-in attempts" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    messages = [r.getMessage() for r in caplog.records]
    assert any("locked out for username 'alice' after 3 failures" in m for m in messages)
    assert any("sign-in refused during lockout" in m for m in messages)


def test_under_the_limit_the_right_password_still_signs_in_and_resets_the_count(client):
    UserFactory(username="alice")
    for _ in range(2):
        web_login(client, "alice", "wrong")
    assert signed_in(web_login(client, "alice", PASSWORD))
    row = LoginLockout.objects.get(kind=LockoutKind.USERNAME, key="alice")
    assert row.failures == 0 and not row.is_locked()


def test_unknown_username_is_locked_with_the_same_message(client):
    UserFactory(username="alice")
    for name in ("alice", "nobody"):
        for _ in range(3):
            web_login(client, name, "wrong", address=f"10.0.1.{len(name)}")
    alice = web_login(client, "alice", PASSWORD, address="10.0.2.1").content.decode()
    nobody = web_login(client, "nobody", PASSWORD, address="10.0.2.2").content.decode()
    marker = "Too many failed sign-in attempts"
    assert marker in alice and marker in nobody
    assert alice.split(marker)[1][:120] == nobody.split(marker)[1][:120]


def test_username_lockout_ignores_case_and_the_address(client):
    UserFactory(username="alice")
    for i in range(3):
        web_login(client, "Alice" if i % 2 else "alice", "wrong", address=f"10.0.3.{i}")
    assert not signed_in(web_login(client, "alice", PASSWORD, address="10.0.3.99"))


def test_api_token_endpoint_locks_too_with_429(caplog):
    UserFactory(username="bob")
    for _ in range(3):
        assert api_login("bob", "wrong").status_code == 400
    refused = api_login("bob", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-in attempts" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 300
    assert "token" not in refused.json()


def test_web_and_api_failures_add_up():
    UserFactory(username="carol")
    from django.test import Client

    web_login(Client(), "carol", "wrong")
    api_login("carol", "wrong")
    web_login(Client(), "carol", "wrong")
    assert api_login("carol", PASSWORD).status_code == 429


def test_lockout_lifts_after_its_duration(client, monkeypatch):
    UserFactory(username="alice")
    for _ in range(3):
        web_login(client, "alice", "wrong")
    assert not signed_in(web_login(client, "alice", PASSWORD))
    later = timezone.now() + timedelta(seconds=301)
    monkeypatch.setattr(lockout.timezone, "now", lambda: later)
    assert signed_in(web_login(client, "alice", PASSWORD))


def test_after_a_served_lockout_one_more_failure_does_not_lock_again(client, monkeypatch):
    UserFactory(username="alice")
    for _ in range(3):
        web_login(client, "alice", "wrong")
    later = timezone.now() + timedelta(seconds=301)
    monkeypatch.setattr(lockout.timezone, "now", lambda: later)
    web_login(client, "alice", "wrong")
    row = LoginLockout.objects.get(kind=LockoutKind.USERNAME, key="alice")
    assert row.failures == 1 and not row.is_locked(later) and row.times_locked == 1


def test_failures_outside_the_window_do_not_add_up(client, monkeypatch):
    UserFactory(username="alice")
    start = timezone.now()
    for i in range(4):
        # One failure every 301 s: a window counts from its first failure, so the third
        # (at 602 s) opens a new window instead of reaching the limit of three.
        moment = start + timedelta(seconds=301 * i)
        monkeypatch.setattr(lockout.timezone, "now", lambda moment=moment: moment)
        web_login(client, "alice", "wrong")
    row = LoginLockout.objects.get(kind=LockoutKind.USERNAME, key="alice")
    assert row.times_locked == 0 and row.failures == 2


def test_one_address_trying_many_usernames_is_locked_out(client):
    for i in range(5):
        web_login(client, f"user{i}", "wrong", address="10.6.6.6")
    UserFactory(username="dave")
    assert not signed_in(web_login(client, "dave", PASSWORD, address="10.6.6.6"))
    assert api_login("dave", PASSWORD, address="10.6.6.6").status_code == 429
    # Another address is not affected.
    assert signed_in(web_login(client, "dave", PASSWORD, address="10.7.7.7"))
    assert LoginLockout.objects.get(kind=LockoutKind.ADDRESS, key="10.6.6.6").is_locked()


def test_admin_login_honours_the_lockout(client):
    from tests.factories import AdminFactory

    AdminFactory(username="root")
    for _ in range(3):
        client.post("/admin/login/", {"username": "root", "password": "wrong"}, REMOTE_ADDR="10.0.0.5")
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD}, REMOTE_ADDR="10.0.0.5")
    assert response.status_code == 200 and "Too many failed sign-in attempts" in response.content.decode()


def test_failures_are_in_the_audit_trail_but_counting_is_not():
    UserFactory(username="erin")
    for _ in range(4):
        api_login("erin", "wrong")
    assert AuditEntry.objects.filter(action="login_failed", actor_name="erin").count() == 3  # the 4th was refused before the check
    assert not AuditEntry.objects.filter(model_label="mof.loginlockout").exists()


def test_a_locked_check_costs_one_query():
    with CaptureQueriesContext(connection) as queries:
        assert lockout.locked_seconds(username="x", address="10.0.0.1") == 0
    assert len(queries.captured_queries) == 1


# --- the lockout page and the admin ------------------------------------------------------


def lock(username="frank", address="10.8.8.8"):
    for _ in range(3):
        lockout.record_failure(username=username, address=address)
    return LoginLockout.objects.get(kind=LockoutKind.USERNAME, key=username)


def test_admin_sees_and_clears_a_lockout(client, admin_user):
    UserFactory(username="frank")
    row = lock()
    client.force_login(admin_user)
    page = client.get("/operating/security/lockouts/?locked=1")
    assert page.status_code == 200 and "frank" in page.content.decode()
    assert client.post(f"/operating/security/lockouts/{row.pk}/clear/").status_code == 302
    assert not LoginLockout.objects.filter(pk=row.pk).exists()
    cleared = AuditEntry.objects.get(model_label="mof.loginlockout", object_id=str(row.pk), action="delete")
    assert cleared.actor_id == admin_user.pk
    from django.test import Client

    assert signed_in(web_login(Client(), "frank", PASSWORD, address="10.9.0.1"))


def test_security_may_see_lockouts_but_not_clear_them(client):
    from mof.choices import RoleCluster

    security = UserFactory(username="sec", roles=[RoleCluster.SECURITY])
    row = lock()
    client.force_login(security)
    page = client.get("/operating/security/lockouts/")
    assert page.status_code == 200 and "Clear</button>" not in page.content.decode()
    assert client.post(f"/operating/security/lockouts/{row.pk}/clear/").status_code == 403
    assert LoginLockout.objects.filter(pk=row.pk).exists()


def test_others_may_not_see_lockouts(client, manager, infra_user):
    row = lock()
    for user in (manager, infra_user):
        client.force_login(user)
        assert client.get("/operating/security/lockouts/").status_code == 403
        assert client.post(f"/operating/security/lockouts/{row.pk}/clear/").status_code == 403
    client.logout()
    assert client.get("/operating/security/lockouts/").status_code == 302  # to the login page


def test_lockout_page_is_constant_in_queries(client, admin_user):
    client.force_login(admin_user)
    lock("u1")
    with CaptureQueriesContext(connection) as small:
        client.get("/operating/security/lockouts/")
    for i in range(10):
        lock(f"many{i}", address=f"10.10.0.{i}")
    with CaptureQueriesContext(connection) as large:
        client.get("/operating/security/lockouts/")
    assert len(large.captured_queries) == len(small.captured_queries)


def test_admin_site_clears_lockouts_through_the_service(client, admin_user):
    row = lock()
    client.force_login(admin_user)
    assert client.get("/admin/mof/loginlockout/").status_code == 200
    response = client.post("/admin/mof/loginlockout/", {"action": "clear_selected", "_selected_action": [row.pk]})
    assert response.status_code == 302
    assert not LoginLockout.objects.filter(pk=row.pk).exists()
    assert AuditEntry.objects.filter(model_label="mof.loginlockout", action="delete", actor_id=admin_user.pk).exists()


# --- race safety ----------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_concurrent_failures_are_all_counted(postgres):
    """Eight threads (eight database connections) fail at once: no count is lost."""
    from django.db import connections

    barrier = threading.Barrier(8)
    errors = []

    def fail():
        try:
            barrier.wait()
            lockout.record_failure(username="grace", address="")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    with override_settings(MOF_LOGIN_LOCKOUT_ATTEMPTS=100):
        threads = [threading.Thread(target=fail) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert LoginLockout.objects.get(kind=LockoutKind.USERNAME, key="grace").failures == 8
