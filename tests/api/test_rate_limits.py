"""API rate limits: per user (all its tokens share one budget; its session has another),
per IP address for anonymous callers, a scope of its own for bulk ingestion and for the
token endpoint; 429 with Retry-After and a JSON error. The suite runs without limits
(mof.test_settings): each test here sets low rates with override_settings."""

import logging
import os

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from mof.api.throttling import PortalRateThrottle, parse_rate
from tests.conftest import api_as
from tests.core.accounts_factories import ServiceAccountFactory, make_token
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def rates(**overrides):
    scopes = {scope: None for scope in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]}
    return override_settings(
        REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**scopes, **overrides}}
    )


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def one_window(monkeypatch):
    """The limiter's clock stands still, 30 s into a minute: a test's requests never straddle
    two fixed windows (a slow request at :59 would start a fresh count and flake)."""
    import time as real_time
    from types import SimpleNamespace

    from mof.api import throttling

    still = real_time.time() // 86400 * 86400 + 30.5
    monkeypatch.setattr(throttling, "time", SimpleNamespace(time=lambda: still))


def with_key(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_parse_rate():
    assert parse_rate("600/minute") == (600, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("100/hour") == (100, 3600)
    assert parse_rate("1000/day") == (1000, 86400)


def test_token_over_its_rate_gets_429_with_retry_after_and_json(caplog):
    account = ServiceAccountFactory()
    _, key = make_token(account)
    client = with_key(key)
    with rates(token="3/minute"), caplog.at_level(logging.WARNING, logger="mof.security"):
        assert [client.get("/api/v1/users/me/").status_code for _ in range(3)] == [200, 200, 200]
        refused = client.get("/api/v1/users/me/")
        client.get("/api/v1/users/me/")
    assert refused.status_code == 429
    assert refused["Content-Type"].startswith("application/json")
    assert "throttled" in refused.json()["detail"].lower()
    assert 1 <= int(refused["Retry-After"]) <= 60
    logged = [r.getMessage() for r in caplog.records if "rate limit" in r.getMessage()]
    assert len(logged) == 1  # once per window, not per refused request
    assert f"user:{account.pk}" in logged[0] and "(token " in logged[0]


def test_all_tokens_of_a_user_share_its_budget():
    """Minting more tokens buys no more requests: a service account's tokens count together,
    and so do a person's; another user's budget is untouched."""
    account = ServiceAccountFactory()
    _, first = make_token(account, name="a")
    _, second = make_token(account, name="b")
    _, third = make_token(account, name="c")
    other = ServiceAccountFactory()
    _, others = make_token(other)
    with rates(token="2/minute"):
        assert with_key(first).get("/api/v1/users/me/").status_code == 200
        assert with_key(second).get("/api/v1/users/me/").status_code == 200
        assert with_key(third).get("/api/v1/users/me/").status_code == 429
        assert with_key(first).get("/api/v1/users/me/").status_code == 429
        assert with_key(others).get("/api/v1/users/me/").status_code == 200


def test_a_persons_tokens_share_one_budget(infra_user):
    _, first = make_token(infra_user, name="laptop")
    _, second = make_token(infra_user, name="script")
    with rates(token="1/minute"):
        assert with_key(first).get("/api/v1/users/me/").status_code == 200
        assert with_key(second).get("/api/v1/users/me/").status_code == 429


def test_sessions_are_limited_per_user(infra_user, support_user):
    with rates(user="2/minute"):
        assert [api_as(infra_user).get("/api/v1/users/me/").status_code for _ in range(3)] == [200, 200, 429]
        assert api_as(support_user).get("/api/v1/users/me/").status_code == 200


def test_anonymous_callers_are_limited_per_ip_address():
    with rates(anon="2/minute"):
        codes = [APIClient().get("/api/v1/schema/", REMOTE_ADDR="10.0.0.1").status_code for _ in range(3)]
        assert codes[-1] == 429 and codes[:2] != [429, 429]
        assert APIClient().get("/api/v1/schema/", REMOTE_ADDR="10.0.0.2").status_code != 429


def test_forwarded_for_header_cannot_dodge_the_limit():
    with rates(anon="1/minute"):
        APIClient().get("/api/v1/schema/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1")
        again = APIClient().get("/api/v1/schema/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="2.2.2.2")
        assert again.status_code == 429


class IngestView(APIView):
    """Stands for a bulk ingestion endpoint (POST /api/v1/events/ sets the same scope)."""

    throttle_scope = "ingest"

    def post(self, request):
        return Response({"ok": True})


def test_ingest_scope_has_its_own_generous_counter():
    account = ServiceAccountFactory()
    token, key = make_token(account)
    factory = APIRequestFactory()
    view = IngestView.as_view()
    with rates(token="1/minute", ingest="5/minute"):
        codes = [
            view(factory.post("/ingest/", {}, format="json", HTTP_AUTHORIZATION=f"Token {key}")).status_code
            for _ in range(6)
        ]
        assert codes == [200] * 5 + [429]
        # The token's ordinary allowance is untouched by its ingestion.
        assert with_key(key).get("/api/v1/users/me/").status_code == 200


def test_token_endpoint_is_limited_per_address(infra_user):
    with rates(login="2/minute"):
        codes = [
            APIClient()
            .post(
                "/api/v1/auth/token/",
                {"username": "infra", "password": PASSWORD},
                format="json",
                REMOTE_ADDR="10.9.9.9",
            )
            .status_code
            for _ in range(3)
        ]
    assert codes == [200, 200, 429]


def test_no_rate_means_no_limit():
    account = ServiceAccountFactory()
    _, key = make_token(account)
    with rates(token=None):
        assert all(with_key(key).get("/api/v1/users/me/").status_code == 200 for _ in range(5))


def test_retry_after_counts_to_the_end_of_the_window(monkeypatch):
    from django.contrib.auth.models import AnonymousUser
    from rest_framework.request import Request

    from mof.api import throttling

    minute_start = 999_999_960  # a multiple of 60: a window starts here
    monkeypatch.setattr(throttling.time, "time", lambda: minute_start + 45.2)
    request = Request(APIRequestFactory().get("/x/", REMOTE_ADDR="10.1.1.1"))
    request._user, request._auth = AnonymousUser(), None
    throttle = PortalRateThrottle()
    with rates(anon="1/minute"):
        assert throttle.allow_request(request, APIView()) is True
        assert throttle.allow_request(request, APIView()) is False
    assert throttle.wait() == 15  # ceil(60 - 45.2)


@pytest.mark.integration
def test_counters_are_shared_through_redis():
    """Two processes meet in Redis: a second cache client (as another server process would
    have) sees the counts of the first."""
    url = os.environ.get("REDIS_TEST_URL") or os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith(("redis://", "rediss://")):
        pytest.skip("needs Redis (set CELERY_BROKER_URL=redis://...)")
    from django.core.cache.backends.redis import RedisCache

    redis_caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "mof-test-throttle",
        }
    }
    account = ServiceAccountFactory()
    _, key = make_token(account)
    with override_settings(CACHES=redis_caches), rates(token="2/minute"):
        from django.core.cache import caches

        caches["default"].clear()
        try:
            assert with_key(key).get("/api/v1/users/me/").status_code == 200
            other_process = RedisCache(url, {"KEY_PREFIX": "mof-test-throttle"})
            keys = [k for k in other_process._cache.get_client().keys("*") if f"user:{account.pk}".encode() in k]
            assert len(keys) == 1
            other_process.incr(keys[0].decode().split(":", 2)[2])  # another process's request
            assert with_key(key).get("/api/v1/users/me/").status_code == 429
        finally:
            caches["default"].clear()
