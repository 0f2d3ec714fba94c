"""The API with its Redis cache unreachable (here: nothing listens on the cache's port; the
integration tests kill and hang a real redis-server): every request answers as it would
with the cache, rate limits are counted in the process, and a dead Redis is asked once per
MOF_CACHE_RETRY_SECONDS, not once per cache call."""

import logging

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from incidents.models import Incident
from mof.cache import CacheUnavailable
from operations.models import MonitoringEvent
from tests.cache_outage import (  # noqa: F401
    count_connections,
    filing,
    free_port,
    fresh_cache_state,
    one_window,
    rates,
    redis_caches,
)
from tests.core.accounts_factories import make_token
from tests.factories import ServiceFactory, TeamFactory, UserFactory
from tests.operations.factories_events import ci_in_service, event, monitoring_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def dead_cache(settings, fresh_cache_state, one_window):
    settings.CACHES = redis_caches(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    settings.MOF_CACHE_RETRY_SECONDS = 60


def with_key(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_filing_ingestion_and_reads_answer_while_the_cache_is_down_and_limits_still_hold(dead_cache, settings, caplog):
    settings.REST_FRAMEWORK = rates(token="3/minute", ingest="2/minute")
    agent = UserFactory(roles=["support"])
    group = TeamFactory(role_cluster="support", members=[agent])
    service = ServiceFactory()
    _, agent_key = make_token(agent)
    nagios = monitoring_account()
    ci_in_service()
    _, nagios_key = make_token(nagios)
    agent_api, nagios_api = with_key(agent_key), with_key(nagios_key)
    with caplog.at_level(logging.WARNING):
        filed = agent_api.post("/api/v1/incidents/", filing(group, service), format="json")
        assert filed.status_code == 201, filed.content
        assert agent_api.get(f"/api/v1/incidents/{filed.json()['id']}/").status_code == 200
        assert agent_api.get("/api/v1/users/me/").status_code == 200
        # The 4th request of the window: the process's own counter still refuses a flood.
        refused = agent_api.get("/api/v1/users/me/")
        assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
        assert [nagios_api.post("/api/v1/events/", event(), format="json").status_code for _ in range(3)] == [
            201,
            201,
            429,
        ]
    assert Incident.objects.filter(pk=filed.json()["id"]).exists() and MonitoringEvent.objects.count() == 2
    outage = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    # One line from the cache, one from the rate limiter: not one per request.
    assert len(outage) == 2, outage


def test_a_dead_cache_is_asked_once_per_retry_period(dead_cache, settings, monkeypatch):
    settings.REST_FRAMEWORK = rates(user="100/minute")
    taken = count_connections(monkeypatch)
    client = APIClient()
    client.force_authenticate(UserFactory())
    assert all(client.get("/api/v1/users/me/").status_code == 200 for _ in range(5))
    assert len(taken) == 1  # the first call failed; the breaker answered the rest at once
    settings.MOF_CACHE_RETRY_SECONDS = 0  # the period is over: the next call tries again
    client.get("/api/v1/users/me/")
    assert len(taken) == 2


def test_reads_miss_writes_are_dropped_and_counters_raise(dead_cache):
    assert cache.get("k", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert cache.add("k", 1) is False
    cache.set("k", 1)  # dropped
    cache.delete("k")
    with pytest.raises(CacheUnavailable):
        cache.incr("k")
