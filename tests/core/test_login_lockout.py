"""Login lockout per (username, client address): wrong passwords make that pair wait, longer
after each, on the login page, the admin and the token endpoint; the right password is
refused meanwhile, with the same message for unknown names. An attacker elsewhere cannot
lock the user out; an address spraying many usernames waits too, except for the usernames
it signed in as before; the client address honours MOF_NUM_PROXIES."""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from mof import lockout
from mof.models import AuditEntry, LoginLockout
from mof.models_access import LockoutKind
from tests.factories import PASSWORD, AdminFactory, UserFactory

pytestmark = pytest.mark.django_db

LIMITS = dict(
    MOF_LOGIN_LOCKOUT_ATTEMPTS=3,
    MOF_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS=5,
    MOF_LOGIN_LOCKOUT_DELAY_SECONDS=60,
    MOF_LOGIN_LOCKOUT_WINDOW=600,
    MOF_LOGIN_LOCKOUT_SECONDS=300,
)


@pytest.fixture(autouse=True)
def limits(settings):
    for name, value in LIMITS.items():
        setattr(settings, name, value)


@pytest.fixture
def clock(monkeypatch):
    """lockout's clock, moved by hand: clock.move(seconds)."""

    class Clock:
        now = timezone.now()

        def move(self, seconds):
            self.now += timedelta(seconds=seconds)

    c = Clock()
    monkeypatch.setattr(lockout.timezone, "now", lambda: c.now)
    return c


def web_login(client, username, password, address="10.0.0.1", **extra):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def api_login(username, password, address="10.0.0.1", **extra):
    return APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json", REMOTE_ADDR=address, **extra
    )


def signed_in(response):
    return response.status_code == 302


def pair(username, address="10.0.0.1"):
    return LoginLockout.objects.get(kind=LockoutKind.PAIR, key=username, address=address)


def test_web_login_locks_the_pair_after_n_wrong_passwords_and_refuses_the_right_one(client, caplog):
    UserFactory(username="alice")
    with caplog.at_level(logging.WARNING, logger="mof.security"):
        for _ in range(3):
            assert web_login(client, "alice", "wrong").status_code == 200
        refused = web_login(client, "alice", PASSWORD)
    assert not signed_in(refused)
    assert "Too many failed sign-in attempts. Sign-in is locked for 1 more minute" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    messages = [r.getMessage() for r in caplog.records]
    assert any("locked out for 'alice' from 10.0.0.1 after 3 failures: 60 s" in m for m in messages)
    assert any("sign-in refused during lockout" in m for m in messages)


def test_under_the_limit_the_right_password_signs_in_and_clears_the_pair(client):
    UserFactory(username="alice")
    for _ in range(2):
        web_login(client, "alice", "wrong")
    assert signed_in(web_login(client, "alice", PASSWORD))
    row = pair("alice")
    assert row.failures == 0 and not row.is_locked() and row.last_success_at is not None


def test_an_attacker_elsewhere_does_not_lock_the_user_out(client):
    """Five, ten, fifty wrong passwords for admin from address A: admin signs in from B."""
    AdminFactory(username="admin")
    for _ in range(10):
        web_login(Client(), "admin", "wrong", address="203.0.113.66")
        api_login("admin", "wrong", address="203.0.113.66")
    assert pair("admin", "203.0.113.66").is_locked()
    assert not signed_in(web_login(Client(), "admin", PASSWORD, address="203.0.113.66"))
    assert signed_in(web_login(client, "admin", PASSWORD, address="10.0.0.2"))
    assert api_login("admin", PASSWORD, address="10.0.0.3").status_code == 200


def test_unknown_username_is_locked_with_the_same_message(client):
    UserFactory(username="alice")
    for name in ("alice", "nobody"):
        for _ in range(3):
            web_login(client, name, "wrong")
    alice = web_login(client, "alice", PASSWORD).content.decode()
    nobody = web_login(client, "nobody", PASSWORD).content.decode()
    marker = "Too many failed sign-in attempts"
    assert marker in alice and marker in nobody
    assert alice.split(marker)[1][:120] == nobody.split(marker)[1][:120]


def test_the_username_count_ignores_case(client):
    UserFactory(username="alice")
    for i in range(3):
        web_login(client, "Alice" if i % 2 else "alice", "wrong")
    assert not signed_in(web_login(client, "alice", PASSWORD))


def test_api_token_endpoint_locks_too_with_429():
    UserFactory(username="bob")
    for _ in range(3):
        assert api_login("bob", "wrong").status_code == 400
    refused = api_login("bob", PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed sign-in attempts" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "token" not in refused.json()


def test_web_and_api_failures_add_up():
    UserFactory(username="carol")
    web_login(Client(), "carol", "wrong")
    api_login("carol", "wrong")
    web_login(Client(), "carol", "wrong")
    assert api_login("carol", PASSWORD).status_code == 429


def test_the_delay_doubles_with_each_further_failure_up_to_the_cap(client, clock):
    UserFactory(username="alice")
    for _ in range(2):
        web_login(client, "alice", "wrong")
    waits = []
    for _ in range(5):
        web_login(client, "alice", "wrong")  # each one tried once the previous delay ran out
        row = pair("alice")
        waits.append(round((row.locked_until - clock.now).total_seconds()))
        assert not signed_in(web_login(client, "alice", PASSWORD))  # refused while it runs
        clock.move(waits[-1])
    assert waits == [60, 120, 240, 300, 300]  # MOF_LOGIN_LOCKOUT_SECONDS caps it
    assert pair("alice").times_locked == 5 and pair("alice").failures == 7
    assert signed_in(web_login(client, "alice", PASSWORD))  # the delay over, the right password works
    assert pair("alice").failures == 0 and not pair("alice").is_locked()


def test_a_right_password_after_a_delay_starts_the_count_afresh(client, clock):
    UserFactory(username="alice")
    for _ in range(3):
        web_login(client, "alice", "wrong")
    clock.move(61)
    assert signed_in(web_login(client, "alice", PASSWORD))
    web_login(Client(), "alice", "wrong")
    row = pair("alice")
    assert row.failures == 1 and not row.is_locked()


def test_a_count_is_forgotten_after_a_quiet_window_counted_from_the_end_of_its_delay(client, clock):
    UserFactory(username="alice")
    for _ in range(3):
        web_login(client, "alice", "wrong")  # a 60 s delay
    clock.move(60 + 599)  # 599 s quiet after the delay: still counting
    web_login(client, "alice", "wrong")
    assert pair("alice").failures == 4 and round((pair("alice").locked_until - clock.now).total_seconds()) == 120
    clock.move(120 + 601)  # more than the window after the delay: forgotten
    web_login(client, "alice", "wrong")
    row = pair("alice")
    assert row.failures == 1 and not row.is_locked()


def test_one_address_spraying_many_usernames_waits_but_not_for_users_who_signed_in_from_it(client):
    UserFactory(username="carol")
    assert signed_in(web_login(Client(), "carol", PASSWORD, address="10.6.6.6"))  # carol works behind this address
    for i in range(5):
        web_login(client, f"user{i}", "wrong", address="10.6.6.6")
    spray = LoginLockout.objects.get(kind=LockoutKind.ADDRESS, key="10.6.6.6")
    assert spray.is_locked() and spray.failures == 5
    UserFactory(username="dave")
    assert not signed_in(web_login(Client(), "dave", PASSWORD, address="10.6.6.6"))  # never signed in from there
    assert api_login("dave", PASSWORD, address="10.6.6.6").status_code == 429
    assert signed_in(web_login(Client(), "dave", PASSWORD, address="10.7.7.7"))  # another address is not affected
    assert signed_in(web_login(Client(), "carol", PASSWORD, address="10.6.6.6"))  # a known pair is not slowed


def test_a_known_users_typos_are_no_spraying_and_a_sprayers_success_resets_nothing(client):
    UserFactory(username="carol")
    assert signed_in(web_login(Client(), "carol", PASSWORD, address="10.6.6.6"))
    for _ in range(2):
        web_login(Client(), "carol", "wrong", address="10.6.6.6")
    assert not LoginLockout.objects.filter(kind=LockoutKind.ADDRESS, key="10.6.6.6").exists()
    for i in range(4):
        web_login(client, f"user{i}", "wrong", address="10.6.6.6")
    assert signed_in(web_login(Client(), "carol", PASSWORD, address="10.6.6.6"))
    assert LoginLockout.objects.get(kind=LockoutKind.ADDRESS, key="10.6.6.6").failures == 4


def test_behind_a_proxy_the_forwarded_address_counts_when_mof_num_proxies_says_so(client, settings):
    """All requests come from the proxy 10.0.0.100; X-Forwarded-For's last entry is the
    client the proxy saw. With MOF_NUM_PROXIES=1 the attacker's failures count for its own
    address (a spoofed first entry changes nothing); with 0 everyone shares the proxy's."""
    UserFactory(username="alice")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    for _ in range(3):
        web_login(Client(), "alice", "wrong", address="10.0.0.100", HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.66")
    assert pair("alice", "198.51.100.66").is_locked()
    assert not LoginLockout.objects.filter(address="10.0.0.100").exists()
    assert signed_in(web_login(client, "alice", PASSWORD, address="10.0.0.100", HTTP_X_FORWARDED_FOR="198.51.100.7"))
    assert api_login("alice", PASSWORD, address="10.0.0.100", HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 200
    assert pair("alice", "198.51.100.8").last_success_at is not None
    # A value that is no address counts as the connection's (the proxy's) address.
    web_login(Client(), "bob", "wrong", address="10.0.0.100", HTTP_X_FORWARDED_FOR="<script>")
    assert pair("bob", "10.0.0.100").failures == 1

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    for _ in range(3):
        web_login(Client(), "alice", "wrong", address="10.0.0.100", HTTP_X_FORWARDED_FOR="198.51.100.66")
    assert not signed_in(
        web_login(Client(), "alice", PASSWORD, address="10.0.0.100", HTTP_X_FORWARDED_FOR="198.51.100.7")
    )


def test_admin_login_honours_the_lockout(client):
    AdminFactory(username="root")
    for _ in range(3):
        client.post("/admin/login/", {"username": "root", "password": "wrong"}, REMOTE_ADDR="10.0.0.5")
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD}, REMOTE_ADDR="10.0.0.5"
    )
    assert response.status_code == 200 and "Too many failed sign-in attempts" in response.content.decode()


def test_failures_are_in_the_audit_trail_but_counting_is_not():
    UserFactory(username="erin")
    for _ in range(4):
        api_login("erin", "wrong")
    assert (
        AuditEntry.objects.filter(action="login_failed", actor_name="erin").count() == 3
    )  # the 4th was refused before the check
    assert not AuditEntry.objects.filter(model_label="mof.loginlockout").exists()


def test_a_locked_check_costs_one_query():
    with CaptureQueriesContext(connection) as queries:
        assert lockout.locked_seconds(username="x", address="10.0.0.1") == 0
    assert len(queries.captured_queries) == 1


# --- the lockout page and the admin ------------------------------------------------------


def lock(username="frank", address="10.8.8.8"):
    for _ in range(3):
        lockout.record_failure(username=username, address=address)
    return LoginLockout.objects.get(kind=LockoutKind.PAIR, key=username, address=address)


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
    assert signed_in(web_login(Client(), "frank", PASSWORD, address="10.8.8.8"))


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
        except Exception as exc:
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
    assert LoginLockout.objects.get(kind=LockoutKind.PAIR, key="grace", address="").failures == 8
