"""/readyz of a production-configured gunicorn turns not-ready when its PostgreSQL or its Redis
is stopped, or beat falls silent, and ready again after; /metrics adds up its processes.

Nothing shared is stopped: the portal under test runs on a private PostgreSQL cluster
(initdb + pg_ctl on a free port, a copy of the migrated test database restored into it) and a
private redis-server, both started and stopped by this test."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from tests.integration.stack import (
    Process,
    RedisServer,
    free_port,
    postgres_url,
    tail,
    wait_for,
)

pytestmark = [pytest.mark.integration]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
METRICS_TOKEN = "scrape-me-please-0123456789"


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (trust auth, no fsync) in a temporary folder. initdb
    refuses to run as root: as root it runs as the postgres system user."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mof-readyz-pg-"))
        self.data = self.dir / "data"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.dir, "postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/mof"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
        )
        self.start()

    def start(self) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
        )

    def stop(self) -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def psql(self, sql: str, database: str = "mof") -> str:
        result = subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atqc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return result.stdout.strip()

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def get(base: str, path: str, headers: dict | None = None) -> tuple[int, str]:
    request = urllib.request.Request(base + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


@pytest.fixture
def migrated_copy(transactional_db):
    """The migrated test database, with a fresh worker heartbeat and beat's run of it
    committed, copied into a private PostgreSQL cluster."""
    if postgres_url() is None or not (PG_BIN / "initdb").exists() or shutil.which("redis-server") is None:
        pytest.skip("needs PostgreSQL (DATABASE_URL), its server binaries and redis-server")
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from mof import health

    now = timezone.now()
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name="Heartbeat",
        defaults={"task": health.HEARTBEAT_TASK, "interval": interval, "last_run_at": now, "enabled": True},
    )
    health.record_heartbeat(now=now)

    source = settings.DATABASES["default"]
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.psql("CREATE DATABASE mof", database="postgres")
        dump = subprocess.run(
            [
                "pg_dump",
                "-h",
                source["HOST"] or "127.0.0.1",
                "-p",
                str(source["PORT"] or 5432),
                "-U",
                source["USER"] or "postgres",
                "--no-owner",
                "--no-privileges",
                source["NAME"],
            ],
            check=True,
            capture_output=True,
            timeout=120,
            env={**os.environ, "PGPASSWORD": source["PASSWORD"] or ""},
        ).stdout
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(pg.port),
                "-U",
                "postgres",
                "-d",
                "mof",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
            ],
            input=dump,
            check=True,
            capture_output=True,
            timeout=120,
        )
        yield pg
    finally:
        pg.remove()


@pytest.fixture
def portal(migrated_copy, tmp_path):
    """gunicorn (two processes, production settings, metrics in multiprocess mode) on the
    private database and a private Redis (cache and broker)."""
    redis = RedisServer(tmp_path)
    redis.start()
    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "CELERY_", "MOF_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "mof.settings",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
            "PYTHONUNBUFFERED": "1",
            "DEBUG": "0",
            "SECRET_KEY": "readyz-test-" + "k" * 50,
            # Probes come by address, over plain http: neither is what the portal itself serves.
            "ALLOWED_HOSTS": "portal.example.org",
            "MOF_BASE_URL": "https://portal.example.org",
            "DATABASE_URL": migrated_copy.url,
            "CACHE_URL": f"{redis.url}/1",
            "CELERY_BROKER_URL": f"{redis.url}/0",
            "EMAIL_URL": f"file://{tmp_path / 'mail'}",
            "MOF_VAR_DIR": str(tmp_path / "var"),
            "MOF_METRICS_TOKEN": METRICS_TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        }
    )
    gunicorn = Process(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "mof.wsgi", "-w", "2", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "3"],
        env=env,
        log=tmp_path / "gunicorn.log",
    ).start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("gunicorn to answer /healthz", lambda: get(base, "/healthz")[0] == 200, timeout=60)
        yield base, migrated_copy, redis, gunicorn
    finally:
        gunicorn.stop()
        redis.stop()


def readyz(base) -> tuple[int, dict]:
    status, body = get(base, "/readyz")
    assert status in (200, 503), (status, body)
    return status, json.loads(body)


def test_readyz_follows_postgres_redis_and_beat_going_away_and_coming_back(portal):
    base, pg, redis, gunicorn = portal
    everything_ok = {
        "database": "ok",
        "migrations": "ok",
        "redis": "ok",
        "worker": "ok",
        "beat": "ok",
        "outbox": "ok",
        "mail": "ok",
    }
    assert readyz(base) == (200, {"status": "ready", "checks": everything_ok}), tail(gunicorn.log)

    # PostgreSQL stopped: not ready, the database checks failed; the process itself is alive.
    pg.stop()
    status, body = readyz(base)
    assert status == 503
    assert body["checks"]["database"] == "failed" and body["checks"]["redis"] == "ok"
    assert get(base, "/healthz") == (200, '{"status": "ok"}')
    pg.start()
    wait_for("ready again after PostgreSQL restarts", lambda: readyz(base)[0] == 200, timeout=20)

    # Redis stopped: not ready for that reason only; back when it is.
    redis.stop()
    assert readyz(base) == (503, {"status": "not ready", "checks": {**everything_ok, "redis": "failed"}})
    redis.start()
    wait_for("ready again after Redis restarts", lambda: readyz(base)[0] == 200, timeout=20)

    # Beat silent for ten minutes: not ready; a fresh run of the heartbeat: ready.
    pg.psql(
        "UPDATE django_celery_beat_periodictask SET last_run_at = now() - interval '10 minutes' WHERE task = 'mof.heartbeat'; "
        "DELETE FROM mof_heartbeat WHERE name = 'beat'"
    )
    assert readyz(base) == (503, {"status": "not ready", "checks": {**everything_ok, "beat": "failed"}})
    pg.psql("UPDATE django_celery_beat_periodictask SET last_run_at = now() WHERE task = 'mof.heartbeat'")
    assert readyz(base)[0] == 200

    # The answer names checks only: no host, port, error text or version.
    text = get(base, "/readyz")[1]
    for secret in (str(pg.port), str(redis.port), "127.0.0.1", "postgres", "refused", "gunicorn"):
        assert secret not in text

    # /metrics by token, over plain http, by address: both processes' requests add up.
    assert get(base, "/metrics")[0] == 403
    status, metrics = get(base, "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert status == 200, metrics
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    served = sum(
        s.value
        for s in families["mof_http_requests"].samples
        if s.name == "mof_http_requests_total" and s.labels["route"] == "readyz"
    )
    assert served >= 8  # every /readyz above, whichever process answered it
    assert [s.value for s in families["mof_celery_broker_up"].samples] == [1]
    assert {s.labels["check"]: s.value for s in families["mof_ready_check"].samples} == dict.fromkeys(everything_ok, 1)
