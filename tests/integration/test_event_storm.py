"""An event storm on real PostgreSQL through a live, multi-threaded server: 10,000 events
for one deduplication key, posted concurrently in batches and one by one, open exactly
one incident, count every event, and the pages people use keep answering meanwhile.
Skipped on a bare machine, never in CI (.ci/run sets DATABASE_URL and CI=1)."""

import json
import statistics
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.test import Client

from incidents.models import Incident
from mof.choices import RoleCluster
from mof.tokens import service_account_create, token_issue
from operations.models import MonitoringAlert, MonitoringEvent
from tests.factories import AdminFactory, UserFactory
from tests.operations.factories_events import ci_in_service

pytestmark = pytest.mark.integration

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

KEY = "storm-mbx/queue-length"
BATCHES, BATCH_SIZE, SINGLES = 18, 500, 1000  # 18 x 500 + 1,000 = 10,000 events
THREADS = 8


def _event(n):
    return {
        "source": "scom",
        "ci": "storm-mbx",
        "severity": "critical",
        "key": KEY,
        "message": f"Queue length {1000 + n}",
    }


def _post(url, token, body):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return response.status


def _get(url, cookie):
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        return response.status, time.monotonic() - started


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
@pytest.mark.django_db(transaction=True)
def test_a_storm_of_ten_thousand_events_opens_one_incident_and_the_portal_keeps_answering(builtin_data, live_server):
    admin = AdminFactory(username="storm-admin")
    account = service_account_create(actor=admin, username="storm-scom", roles=[RoleCluster.OPERATIONS])
    _, token = token_issue(actor=admin, owner=account, name="event storm")
    ci, _ = ci_in_service("storm-mbx", service_name="Storm mail")
    desk = Client()
    desk.force_login(UserFactory(username="storm-desk", roles=[RoleCluster.SUPPORT]))
    cookie = f"{settings.SESSION_COOKIE_NAME}={desk.cookies[settings.SESSION_COOKIE_NAME].value}"
    pages = [
        f"{live_server.url}/supporting/incidents/",
        f"{live_server.url}/cmdb/cis/{ci.pk}/",
        f"{live_server.url}/operating/events/ci/{ci.pk}/",
    ]
    baseline = [_get(url, cookie)[1] for url in pages]

    # Batches and single events interleaved, so both paths race for the same alert row.
    bodies = [[_event(b * BATCH_SIZE + i) for i in range(BATCH_SIZE)] for b in range(BATCHES)]
    bodies += [_event(BATCHES * BATCH_SIZE + i) for i in range(SINGLES)]
    bodies = [bodies[i] for i in sorted(range(len(bodies)), key=lambda i: (i * 7919) % len(bodies))]
    url = f"{live_server.url}/api/v1/events/"

    storm_over = threading.Event()
    page_results = []

    def browse():
        while not storm_over.is_set():
            for page in pages:
                page_results.append(_get(page, cookie))
            time.sleep(0.1)

    browser = threading.Thread(target=browse)
    started = time.monotonic()
    browser.start()
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            statuses = list(pool.map(lambda body: _post(url, token, body), bodies))
    finally:
        storm_over.set()
        browser.join(timeout=120)
    elapsed = time.monotonic() - started

    assert statuses == [201] * len(bodies)
    total = BATCHES * BATCH_SIZE + SINGLES
    assert total == 10_000
    assert Incident.objects.filter(channel="monitoring").count() == 1
    alert = MonitoringAlert.objects.get(key=KEY)
    assert alert.count == total and alert.is_open and alert.incident is not None
    assert MonitoringEvent.objects.filter(key=KEY, alert=alert).count() == total

    # People kept being served while the storm lasted.
    assert page_results, "no page was requested during the storm"
    assert all(status == 200 for status, _ in page_results)
    latencies = [seconds for _, seconds in page_results]
    median = statistics.median(latencies)
    print(
        f"\nstorm: {total} events in {elapsed:.1f} s ({total / elapsed:.0f}/s); pages during it: {len(latencies)} answered, "
        f"median {median * 1000:.0f} ms, worst {max(latencies) * 1000:.0f} ms (before: {max(baseline) * 1000:.0f} ms)"
    )
    assert median < 2.0, f"pages slowed to a median of {median:.2f} s during the storm"
    assert max(latencies) < 10.0
