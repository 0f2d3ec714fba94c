"""Connection pooling: Django's own pool (DATABASE_POOL) and PgBouncer in transaction pooling
mode (DATABASE_PGBOUNCER). Under transaction pooling a server connection is this client's for
one transaction only, so nothing the portal does may need a session: no session advisory
lock, no SET outside a transaction, no cursor or prepared statement kept across transactions."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mof.dbconfig import databases
from tests.integration.stack import database_url

ROOT = Path(__file__).resolve().parents[2]
APPS = ("mof", "changes", "operations", "incidents", "slas", "reviews", "integrations", "bin")
PG = "postgres://portal:secret@db.example:5432/mof"
SQLITE = "sqlite:////tmp/mof-pooling-test.sqlite3"


def test_database_pool_puts_psycopg_pool_sizes_from_the_environment_and_keeps_no_connection():
    db = databases(
        {
            "DATABASE_URL": PG,
            "DATABASE_POOL": "1",
            "DATABASE_POOL_MIN_SIZE": "1",
            "DATABASE_POOL_MAX_SIZE": "4",
            "DATABASE_POOL_TIMEOUT": "5",
            "DATABASE_CONN_MAX_AGE": "600",
        },
        default_url=SQLITE,
    )["default"]
    assert db["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 4, "timeout": 5}
    assert db["CONN_MAX_AGE"] == 0  # Django refuses a pool with persistent connections


def test_without_database_pool_connections_are_kept_as_before():
    db = databases({"DATABASE_URL": PG}, default_url=SQLITE)["default"]
    assert "pool" not in db["OPTIONS"]
    assert db["CONN_MAX_AGE"] == 60 and db["CONN_HEALTH_CHECKS"] is True
    assert db["OPTIONS"]["application_name"] == "mof-portal"
    assert "DISABLE_SERVER_SIDE_CURSORS" not in db or db["DISABLE_SERVER_SIDE_CURSORS"] is False


def test_database_pgbouncer_turns_off_server_side_cursors_and_prepared_statements():
    db = databases({"DATABASE_URL": PG, "DATABASE_PGBOUNCER": "1"}, default_url=SQLITE)["default"]
    assert db["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert db["OPTIONS"]["prepare_threshold"] is None
    assert db["OPTIONS"]["server_side_binding"] is False


@pytest.mark.parametrize("flag", ["DATABASE_POOL", "DATABASE_PGBOUNCER"])
def test_pooling_flags_on_sqlite_are_refused(flag):
    with pytest.raises(ImproperlyConfigured, match="need PostgreSQL"):
        databases({flag: "1"}, default_url=SQLITE)


def test_a_pool_size_that_is_not_a_number_is_refused():
    with pytest.raises(ImproperlyConfigured, match="DATABASE_POOL_MAX_SIZE"):
        databases({"DATABASE_URL": PG, "DATABASE_POOL": "1", "DATABASE_POOL_MAX_SIZE": "ten"}, default_url=SQLITE)


def test_conflict_marks_serialise_on_a_transaction_scoped_advisory_lock(postgres):
    from tests.operations.factories import at, scheduled_change

    with CaptureQueriesContext(connection) as queries:
        scheduled_change(start=at(2030, 3, 1, 22))
    sql = [q["sql"] for q in queries.captured_queries]
    assert any("pg_advisory_xact_lock" in s for s in sql), sql
    assert not any(re.search(r"pg_(try_)?advisory_lock(_shared)?\(", s) for s in sql)


# SQL a transaction pooler would break: a lock or a setting that outlives the transaction,
# a cursor held across transactions, notifications to a session.
SESSION_SQL = re.compile(
    r"""(?i:pg_(try_)?advisory_lock(_shared)?\s*\(|\bCURSOR\s+WITH\s+HOLD\b|\bset_config\s*\([^)]*false)"""
    r"""|["']\s*LISTEN\s+\w|["']\s*SET\s+(?!LOCAL\b|TRANSACTION\b|CONSTRAINTS\b)\w+\s*(=|TO\b)""",
)


def test_no_code_issues_sql_that_needs_a_server_session():
    offending = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if SESSION_SQL.search(line):
                    offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offending == []


def test_the_session_sql_pattern_catches_what_it_must():
    for bad in (
        'cursor.execute("SELECT pg_advisory_lock(%s)", [1])',
        "cursor.execute('SET statement_timeout = 5')",
        'cursor.execute("DECLARE c CURSOR WITH HOLD FOR SELECT 1")',
        'cursor.execute("LISTEN mof_events")',
        'cursor.execute("SET search_path TO audit")',
    ):
        assert SESSION_SQL.search(bad), bad
    for good in (
        'cursor.execute("SELECT pg_advisory_xact_lock(%s)", [1])',
        'cursor.execute("SET LOCAL statement_timeout = 5")',
        'cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")',
        '"""Set the fields a service accepts."""',
    ):
        assert not SESSION_SQL.search(good), good


POOLED_REQUEST = """
import json
import django
django.setup()
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import Client, RequestFactory
from tests.factories import UserFactory

assert connection.settings_dict["OPTIONS"]["pool"]["max_size"] == 3, connection.settings_dict
user = UserFactory(username="pooled-reader")
client = Client()
client.force_login(user)
cookie = f"sessionid={client.cookies['sessionid'].value}"
connection.close()  # back to the pool: from here on only requests take connections
app, statuses = WSGIHandler(), []
for _ in range(5):
    # The real WSGI handler (the test client would keep the connection open between requests).
    environ = RequestFactory()._base_environ(PATH_INFO="/", REQUEST_METHOD="GET", HTTP_COOKIE=cookie)
    response = app(environ, lambda status, headers, exc_info=None: statuses.append(int(status.split()[0])))
    b"".join(response)
    response.close()  # request_finished: the connection goes back to the pool
stats = connection.pool.get_stats()
print(json.dumps({"statuses": statuses, "pool_max": stats["pool_max"], "requests": stats["requests_num"],
                  "held": connection.connection is not None}))
"""


def test_a_request_works_with_the_pool_option_on(transactional_db, postgres):
    """Another process on the test database with DATABASE_POOL=1: pages answer, and each
    request takes its connection from the pool and gives it back at the end."""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mof.test_settings",
            "PYTHONPATH": str(ROOT),
            "DATABASE_URL": database_url(connection.settings_dict),
            "DATABASE_POOL": "1",
            "DATABASE_POOL_MIN_SIZE": "1",
            "DATABASE_POOL_MAX_SIZE": "3",
            "DATABASE_REPLICA_URL": "",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    result = subprocess.run(
        [sys.executable, "-c", POOLED_REQUEST], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["statuses"] == [200] * 5
    assert answer["pool_max"] == 3
    assert answer["requests"] >= 5  # one checkout per request at least
    assert answer["held"] is False  # handed back at the end of the last request
