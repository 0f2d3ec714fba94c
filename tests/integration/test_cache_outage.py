"""A real Redis behind the portal's cache goes away and comes back (a private redis-server
this test starts, kills, hangs with SIGSTOP and restarts; the shared one is never touched):

* killed: token reads, incident filing and monitoring ingestion answer as usual, no 500;
  rate limits are counted in the process meanwhile (a flood is still refused), and once
  Redis is back the counters are shared through it again;
* hung (every command waits for its socket timeout): one request pays the timeout, the
  following ones do not touch the network until MOF_CACHE_RETRY_SECONDS have passed;
* a change to a read-mostly table made while Redis is away is never missed: the tables are
  read every time meanwhile, and the generation that could not move is moved once Redis
  answers, so other processes drop what they kept from before."""

import threading
import time

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from incidents.models import Incident, PriorityRule
from mof.api.throttling import PortalRateThrottle
from operations.models import MonitoringEvent
from tests.cache_outage import (  # noqa: F401
    count_connections,
    filing,
    fresh_cache_state,
    one_window,
    private_redis,
    rates,
    redis_caches,
)
from tests.core.accounts_factories import make_token
from tests.factories import ManagerFactory, ServiceFactory, TeamFactory, UserFactory
from tests.operations.factories_events import ci_in_service, event, monitoring_account

pytestmark = pytest.mark.integration

RETRY = 0.2  # MOF_CACHE_RETRY_SECONDS in these tests


@pytest.fixture
def portal_on_private_redis(private_redis, settings, fresh_cache_state):
    settings.CACHES = redis_caches(private_redis.url)
    settings.MOF_CACHE_RETRY_SECONDS = RETRY
    return private_redis


def with_key(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def counters(server) -> dict:
    """The rate-limit counters in Redis: {key: count}."""
    client = server.client()
    return {k.decode(): int(client.get(k)) for k in client.keys("*mof:throttle:*")}


@pytest.mark.django_db
def test_the_api_keeps_answering_while_redis_is_killed_and_shares_its_limits_again_after(
    portal_on_private_redis, settings, one_window
):
    server = portal_on_private_redis
    settings.REST_FRAMEWORK = rates(token="4/minute", ingest="3/minute")
    agent = UserFactory(roles=["support"])
    group, service = TeamFactory(role_cluster="support", members=[agent]), ServiceFactory()
    _, agent_key = make_token(agent)
    nagios = monitoring_account()
    ci_in_service()
    _, nagios_key = make_token(nagios)
    agent_api, nagios_api = with_key(agent_key), with_key(nagios_key)

    # Redis up: the counters are in Redis.
    assert agent_api.get("/api/v1/users/me/").status_code == 200
    assert list(counters(server).values()) == [1]

    server.stop()
    codes = [
        agent_api.post("/api/v1/incidents/", filing(group, service), format="json").status_code,
        agent_api.get("/api/v1/incidents/").status_code,
        *[nagios_api.post("/api/v1/events/", event(), format="json").status_code for _ in range(4)],
        *[agent_api.get("/api/v1/users/me/").status_code for _ in range(4)],
    ]
    # Counted afresh in this process: 4 token requests pass, the 5th is refused; 3 events
    # posts pass, the 4th is refused. Never a 5xx.
    assert codes == [201, 200, 201, 201, 201, 429, 200, 200, 429, 429]
    assert Incident.objects.filter(title="Mail down").count() == 1 and MonitoringEvent.objects.count() == 3

    server.start()  # an empty Redis on the same port
    time.sleep(RETRY * 2)
    assert nagios_api.post("/api/v1/events/", event(), format="json").status_code == 201
    assert list(counters(server).values()) == [1]  # counted in Redis again, from zero
    other_process = server.client()
    key = next(iter(counters(server)))
    other_process.incrby(key, 2)  # another server process's two posts in this window
    assert nagios_api.post("/api/v1/events/", event(), format="json").status_code == 429


@pytest.mark.django_db
def test_a_hung_redis_costs_one_timeout_then_nothing_until_the_retry_period_ends(
    portal_on_private_redis, settings, monkeypatch, one_window
):
    server = portal_on_private_redis
    settings.REST_FRAMEWORK = rates(anon="100/minute")
    settings.MOF_CACHE_RETRY_SECONDS = 60
    request = Request(APIRequestFactory().get("/x/", REMOTE_ADDR="10.1.1.1"))
    request._user, request._auth = AnonymousUser(), None
    throttle = PortalRateThrottle()
    assert throttle.allow_request(request, APIView()) is True  # connected, counted in Redis
    server.pause()
    try:
        answers = []
        started = time.monotonic()
        # In a thread: without socket timeouts the call would wait for ever.
        worker = threading.Thread(
            target=lambda: answers.append(throttle.allow_request(request, APIView())), daemon=True
        )
        worker.start()
        worker.join(10)
        assert not worker.is_alive() and answers == [True]
        assert time.monotonic() - started < 3  # the socket timeout (0.5 s), not for ever
        taken = count_connections(monkeypatch)
        assert all(throttle.allow_request(request, APIView()) for _ in range(20))
        assert cache.get("anything") is None
        assert taken == []  # the breaker answered: no command went out
    finally:
        server.resume()


@pytest.mark.django_db(transaction=True)
def test_a_matrix_change_made_while_redis_is_away_is_never_missed(portal_on_private_redis):
    from incidents import selectors as desk_selectors
    from incidents import services as desk

    server = portal_on_private_redis
    manager = ManagerFactory()
    matrix = desk_selectors.priority_matrix
    desk.priority_matrix_update(actor=manager, cells={(1, 2): 2})
    assert matrix.get()[(1, 2)] == 2  # kept, under the generation every process reads
    before = cache.get(matrix.key)
    assert before is not None

    server.pause()  # commands time out: the change below cannot move the generation
    try:
        desk.priority_matrix_update(actor=manager, cells={(1, 2): 1})
        assert matrix.get()[(1, 2)] == 1  # read from the table
        # Another process's edit (plain SQL: nothing in this process hears of it) is seen too.
        PriorityRule.objects.filter(impact=1, urgency=2).update(priority=3)
        assert matrix.get()[(1, 2)] == 3
    finally:
        server.resume()
    time.sleep(RETRY * 2)
    assert matrix.get()[(1, 2)] == 3
    # The generation is moved now: a process that kept the matrix from before reloads it.
    assert cache.get(matrix.key) not in (None, before)
