"""The portal on a real streaming replica: a fresh PostgreSQL primary and a hot standby
streaming from it (tests/integration/pgcluster.py, ports 5441 and 5442), gunicorn with
DATABASE_URL on the primary and DATABASE_REPLICA_URL on the standby. With the standby's
replay paused, what a page read tells where it was read: a lag-tolerant read (an export, the
reports) misses the newest write, a page that must read its own write sees it."""

from __future__ import annotations

import re
import sys
import urllib.error
import urllib.request

import pytest

from tests.integration.pgcluster import ClusterUnavailable, streaming_pair
from tests.integration.stack import PortalStack, Process, wait_for

pytestmark = pytest.mark.integration

SEED = """
import json
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.urls import reverse
from mof.choices import RoleCluster
from mof.tokens import token_issue
from tests.factories import ManagerFactory, ServiceFactory, TeamFactory, UserFactory

manager = ManagerFactory(username="replica-manager")
desk = UserFactory(username="replica-desk", roles=[RoleCluster.SUPPORT])
group = TeamFactory(name="Replica desk", role_cluster=RoleCluster.SUPPORT, manager=manager, members=[desk])
service = ServiceFactory(name="Replica mail")
_, token = token_issue(actor=desk, owner=desk, name="replica")

def session_for(user):  # a signed-in browser, as the login form would leave it
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY], store[BACKEND_SESSION_KEY], store[HASH_SESSION_KEY] = str(user.pk), settings.AUTHENTICATION_BACKENDS[0], user.get_session_auth_hash()
    store.create()
    return store.session_key

print(json.dumps({
    "token": token, "group": group.pk, "service": service.pk,
    "desk_session": session_for(desk), "manager_session": session_for(manager),
    "export": reverse("incident_queue") + "?queue=open&export=csv",
    "lagging_pages": [reverse(n) for n in ("sla_reports", "availability_summary", "capacity_dashboard", "capacity_warnings", "operations_calendar")]
                     + [reverse("sla_report_csv", args=["compliance"]), reverse("capacity_csv"), reverse("availability_csv")],
    "compliance_api": reverse("report_compliance"),
    "detail": reverse("incident_detail", args=[999999]).replace("999999", "{id}"),
}))
"""


def get(stack, path, *, session=None, cookies=None, token=None):
    """(status, body, Set-Cookie headers) of a GET."""
    headers = {}
    jar = dict(cookies or {})
    if session:
        jar["sessionid"] = session
    if jar:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(stack.base_url + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return (
                response.status,
                response.read().decode(errors="replace"),
                response.headers.get_all("Set-Cookie") or [],
            )
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), exc.headers.get_all("Set-Cookie") or []


def file_incident(stack, info, title):
    """A write through the portal (the API), with the Set-Cookie it answered."""
    import json

    body = json.dumps(
        {
            "title": title,
            "description": "replica test",
            "service": info["service"],
            "assignment_group": info["group"],
            "impact": 3,
            "urgency": 3,
        }
    ).encode()
    request = urllib.request.Request(
        stack.base_url + "/api/v1/incidents/",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Token {info['token']}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
        return json.loads(response.read()), response.headers.get_all("Set-Cookie") or []


def replica_statements(replica, since) -> str:
    """What the portal's connections to the replica ran since the log mark (one text)."""
    return "\n".join(replica.statements(since, application_name="mof-portal-replica"))


@pytest.fixture(scope="module")
def portal_on_a_replica(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("replica")
    try:
        pair = streaming_pair()
        primary, replica = pair.__enter__()
    except ClusterUnavailable as exc:
        pytest.skip(f"cannot start a primary and a streaming replica: {exc}")
    try:
        stack = PortalStack(tmp, name="replica", server=primary.url())
        stack.env_extra["DATABASE_REPLICA_URL"] = replica.url(stack.db_name)
        stack.env_extra["MOF_REPLICA_STICKY_SECONDS"] = "60"
        with stack:
            stack.info = stack.run_python(SEED)
            gunicorn = Process(
                "gunicorn",
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "mof.wsgi",
                    "-w",
                    "1",
                    "--threads",
                    "2",
                    "-b",
                    f"127.0.0.1:{stack.port}",
                    "--graceful-timeout",
                    "5",
                ],
                env=stack.env(),
                log=tmp / "gunicorn.log",
            ).start()
            stack.processes["gunicorn"] = gunicorn
            wait_for(
                "gunicorn to answer",
                lambda: stack.api("GET", "/api/v1/", None, timeout=5)[0] not in (0, 502, 503),
                timeout=60,
            )
            replica.wait_for_replay(primary)
            replica.log_statements()
            yield stack, primary, replica
    finally:
        pair.__exit__(None, None, None)


def test_lagging_reads_come_from_the_replica_and_own_writes_from_the_primary(portal_on_a_replica):
    stack, primary, replica = portal_on_a_replica
    info = stack.info
    assert replica.in_recovery() and not primary.in_recovery()

    mark = replica.log_mark()
    first, _ = file_incident(stack, info, "Seen everywhere")
    assert "INSERT" not in replica_statements(replica, mark)  # the filing went to the primary only
    replica.wait_for_replay(primary)
    mark = replica.log_mark()
    status, csv_text, _ = get(stack, info["export"], session=info["desk_session"])
    assert status == 200 and first["title"] in csv_text
    # The export's rows were read on the replica (its own connection, application name -replica),
    # through a server-side cursor; who is signed in was read on the primary.
    read_there = replica_statements(replica, mark)
    assert '"incidents_incident"' in read_there and "DECLARE" in read_there, read_there
    assert '"django_session"' not in read_there and 'FROM "mof_user" WHERE' not in read_there, read_there

    replica.execute("SELECT pg_wal_replay_pause()")
    try:
        wait_for(
            "replay to pause",
            lambda: replica.execute("SELECT pg_get_wal_replay_pause_state()")[0][0] == "paused",
            timeout=10,
        )
        second, set_cookies = file_incident(stack, info, "Only on the primary")
        # The write landed on the primary, and the paused replica has not got it.
        assert primary.execute(
            "SELECT count(*) FROM incidents_incident WHERE id = %s", [second["id"]], database=stack.db_name
        ) == [(1,)]
        assert replica.execute(
            "SELECT count(*) FROM incidents_incident WHERE id = %s", [second["id"]], database=stack.db_name
        ) == [(0,)]

        # A lag-tolerant read by another browser: from the replica, without the new incident.
        status, csv_text, _ = get(stack, info["export"], session=info["desk_session"])
        assert status == 200 and first["title"] in csv_text and second["title"] not in csv_text

        # A page that must read its own write: the incident's own page and API detail, on the primary.
        status, body, _ = get(stack, f"/api/v1/incidents/{second['id']}/", token=info["token"])
        assert status == 200 and second["title"] in body
        status, body, _ = get(stack, info["detail"].format(id=second["id"]), session=info["desk_session"])
        assert status == 200 and second["title"] in body, body[:500]

        # The client that wrote was marked: its lag-tolerant reads stay on the primary a while.
        sticky = dict(re.match(r"([^=]+)=([^;]*)", c).groups() for c in set_cookies)
        assert "mof_primary_until" in sticky
        status, csv_text, _ = get(
            stack,
            info["export"],
            session=info["desk_session"],
            cookies={"mof_primary_until": sticky["mof_primary_until"]},
        )
        assert status == 200 and second["title"] in csv_text

        # Every lag-tolerant page answers from a read-only standby (nothing there writes).
        for path in info["lagging_pages"]:
            status, body, _ = get(stack, path, session=info["manager_session"])
            assert status == 200, (path, status, body[:1000])
        status, body, _ = get(stack, info["compliance_api"] + "?start=2026-01-01&end=2026-01-31", token=info["token"])
        assert status in (200, 403), (status, body[:500])
    finally:
        replica.execute("SELECT pg_wal_replay_resume()")

    replica.wait_for_replay(primary)
    status, csv_text, _ = get(stack, info["export"], session=info["desk_session"])
    assert status == 200 and second["title"] in csv_text
    assert "ERROR" not in (stack.tmp / "gunicorn.log").read_text(), (stack.tmp / "gunicorn.log").read_text()[-3000:]


def test_compliance_report_reads_from_the_replica(portal_on_a_replica):
    stack, primary, replica = portal_on_a_replica
    manager_token = stack.run_python(
        "import json\nfrom mof.models import User\nfrom mof.tokens import token_issue\n"
        "m = User.objects.get(username='replica-manager')\n_, key = token_issue(actor=m, owner=m, name='reports')\nprint(json.dumps(key))"
    )
    replica.wait_for_replay(primary)
    mark = replica.log_mark()
    status, body, _ = get(stack, stack.info["compliance_api"] + "?start=2026-01-01&end=2026-01-31", token=manager_token)
    assert status == 200, body[:500]
    assert '"slas_' in replica_statements(replica, mark), replica.statements(mark)


def test_with_the_replica_down_the_lagging_reads_come_from_the_primary(portal_on_a_replica):
    """Last in this module: it stops the standby. The export and the report still answer,
    from the primary (the router gives the replica up for a while, with a warning)."""
    stack, primary, replica = portal_on_a_replica
    info = stack.info
    incident, _ = file_incident(stack, info, "Filed with the standby down")
    replica.stop()
    for _ in range(3):  # every gunicorn thread's kept replica connection is found dead and given up
        status, csv_text, _ = get(stack, info["export"], session=info["desk_session"])
        assert status == 200 and incident["title"] in csv_text, (status, csv_text[:500])
    status, body, _ = get(stack, info["lagging_pages"][0], session=info["manager_session"])
    assert status == 200, body[:500]
    assert "read replica cannot be reached" in (stack.tmp / "gunicorn.log").read_text()
