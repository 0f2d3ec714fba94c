"""The portal's kept database connections dropped under load (a PostgreSQL restart, a
failover, an idle timeout): requests recover without a 500. Django checks a kept
connection before a request reuses it (CONN_HEALTH_CHECKS) and replaces a dead one.

Against a real gunicorn (sync workers keep their connection between requests) on the
test database; between bursts of a bounded load, this test terminates the backends of
that gunicorn only: those on the test database with the application_name it was given."""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import psycopg
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.factories import CIFactory, UserFactory
from tests.integration.stack import collected_static, database_url, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
THREADS, ROUNDS, PER_ROUND = 4, 5, 8


@pytest.fixture
def gunicorn(builtin_data, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    port, app_name = free_port(), f"mof-portal-test-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mof.settings",
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": database_url(connection.settings_dict),
        "DATABASE_APPLICATION_NAME": app_name,
        "DATABASE_CONN_MAX_AGE": "600",
        "DEBUG": "0",
        "SECRET_KEY": "integration-" + "k" * 60,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "CACHE_URL": "locmem://",
        "CELERY_BROKER_URL": "memory://",
        "MOF_VAR_DIR": str(tmp_path),
        "MOF_RATE_TOKEN": "100000/minute",
        "MOF_BASE_URL": f"http://127.0.0.1:{port}",
        "STATIC_ROOT": str(collected_static()),
    }
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "mof.wsgi:application",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--timeout",
            "60",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "gunicorn.log", "w"),
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/login/", timeout=30)
                break
            except OSError:  # not listening yet (URLError), or still loading (timeout)
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"gunicorn did not start: {(tmp_path / 'gunicorn.log').read_text()[-2000:]}")
                time.sleep(0.3)
        yield base, app_name, tmp_path / "gunicorn.log"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def terminate_backends(app_name: str) -> int:
    """Terminate this test's gunicorn connections: the test database and its application_name only."""
    s = connection.settings_dict
    own = psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"] or None,
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
    )
    try:
        own.autocommit = True
        with own.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND application_name = %s AND pid <> pg_backend_pid()",
                [s["NAME"], app_name],
            )
            return cursor.fetchone()[0]
    finally:
        own.close()


def test_requests_recover_without_500_when_the_portals_connections_are_terminated(gunicorn):
    base, app_name, log = gunicorn
    user = UserFactory(username="conn-drop", roles=["infrastructure"])
    CIFactory(name="conn-drop-ci", owner=user)
    token = Token.objects.create(user=user).key
    statuses, terminated, lock = Counter(), [], threading.Lock()

    def between_rounds():
        # Every client waits here: the workers' kept connections are idle, as after a drop.
        terminated.append(terminate_backends(app_name))

    barrier = threading.Barrier(THREADS, action=between_rounds, timeout=120)

    def client(n):
        for _ in range(ROUNDS):
            for i in range(PER_ROUND):
                path = ("/api/v1/cis/", "/api/v1/users/me/", "/")[(n + i) % 3]
                request = urllib.request.Request(base + path, headers={"Authorization": f"Token {token}"})
                try:
                    with urllib.request.urlopen(request, timeout=30) as response:
                        status = response.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                with lock:
                    statuses[status] += 1
            barrier.wait()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(terminated) == ROUNDS and min(terminated) >= 1, f"connections terminated per round: {terminated}"
    assert not [code for code in statuses if code >= 500], f"{statuses}; log: {log.read_text()[-3000:]}"
    assert sum(statuses.values()) == THREADS * ROUNDS * PER_ROUND and set(statuses) <= {200, 302}
