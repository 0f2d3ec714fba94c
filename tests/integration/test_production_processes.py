"""The image's start commands without Docker (CI here has no engine to build the image):
`bin/portal web|worker|beat` with production settings (DEBUG off) over files collected as the
image's build collects them. The web process (gunicorn, deploy/gunicorn.conf.py) serves the
static files itself through WhiteNoise: the hashed names the login page links to, with a
year's immutable caching, brotli or gzip when the client takes it; the worker and beat come
up on a Redis broker and answer their container health checks (`bin/portal healthcheck`)."""

import os
import re
import secrets
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from tests.integration.stack import (
    ROOT,
    Process,
    RedisServer,
    collected_static,
    database_url,
    free_port,
    wait_for,
)

pytestmark = pytest.mark.integration

PORTAL = str(ROOT / "bin" / "portal")


@pytest.fixture
def production(builtin_data, tmp_path):
    """The environment of the three processes, on the test database and a private redis-server."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")
    redis = RedisServer(tmp_path)
    redis.start()
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "CELERY_", "MOF_", "GUNICORN_"))
    }
    env.update(
        {
            "PYTHON": sys.executable,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "mof.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(64),
            "ALLOWED_HOSTS": "127.0.0.1",
            "MOF_BASE_URL": f"http://127.0.0.1:{port}",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_BROKER_URL": f"{redis.url}/0",
            "CACHE_URL": f"{redis.url}/1",
            "STATIC_ROOT": str(collected_static()),
            "MOF_VAR_DIR": str(tmp_path / "var"),
            "PORT": str(port),
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "2",
            "CELERY_CONCURRENCY": "1",
            # The worker's node name, as a container's host name gives it (unique per test run).
            "HOSTNAME": f"image-test-{os.getpid()}",
        }
    )
    processes = []

    def start(what: str) -> Process:
        process = Process(what, [PORTAL, what], env=env, log=tmp_path / f"{what}.log").start()
        processes.append(process)
        return process

    try:
        yield env, start
    finally:
        for process in reversed(processes):
            process.stop()
        redis.stop()


def get(url: str, **headers) -> tuple[int, dict, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
        return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()


def healthcheck(env: dict, what: str, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PORTAL, "healthcheck", what],
        check=False,
        cwd=ROOT,
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_web_worker_and_beat_start_from_the_image_commands_and_the_web_serves_hashed_compressed_static_files(
    production,
):
    env, start = production
    web, worker, beat = start("web"), start("worker"), start("beat")
    base = env["MOF_BASE_URL"]

    def login_page():
        if not web.running:
            raise AssertionError(f"gunicorn exited:\n{web.text()[-3000:]}")
        try:
            return get(f"{base}/login/")
        except OSError:
            return None

    status, _, html = wait_for("gunicorn to answer", login_page, timeout=60)
    assert status == 200
    assert "deploy/gunicorn.conf.py" in " ".join(web.cmd) or "Booting worker" in web.text()
    links = re.findall(r'(?:href|src)="(/static/[^"]+)"', html.decode())
    css = [link for link in links if link.startswith("/static/mof/portal.") and link.endswith(".css")]
    js = [link for link in links if link.startswith("/static/mof/portal.") and link.endswith(".js")]
    assert css and js, links
    for link, source in ((css[0], "static/mof/portal.css"), (js[0], "static/mof/portal.js")):
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", link), f"{link} is not a hashed name"
        status, headers, body = get(base + link)
        assert status == 200 and body == (ROOT / source).read_bytes()
        assert "immutable" in headers["cache-control"]
        assert int(re.search(r"max-age=(\d+)", headers["cache-control"]).group(1)) >= 365 * 24 * 3600
        for encoding in ("br", "gzip"):
            status, headers, compressed = get(base + link, **{"Accept-Encoding": encoding})
            assert status == 200 and headers.get("content-encoding") == encoding, (link, encoding, headers)
            assert len(compressed) < len(body)
            assert "accept-encoding" in headers.get("vary", "").lower()

    # The container health check of the web process (its path: /healthz; here a page that
    # answers without it), asked as MOF_BASE_URL's host.
    result = healthcheck(env, "web", MOF_HEALTHCHECK_PATH="/login/")
    assert result.returncode == 0, result.stderr
    result = healthcheck(env, "web", MOF_HEALTHCHECK_PATH="/no-such-page/")
    assert result.returncode == 1 and "HTTP 404" in result.stderr

    worker.wait_log(" ready.", timeout=90)
    assert f"celery@{env['HOSTNAME']}" in worker.text()
    beat.wait_log("beat: Starting", timeout=60)
    assert "HeartbeatScheduler" in beat.text()
    heartbeat = Path(env["MOF_VAR_DIR"]) / "beat-heartbeat"
    wait_for("beat's heartbeat file", heartbeat.exists, timeout=30)

    result = healthcheck(env, "worker")
    assert result.returncode == 0, result.stderr
    result = healthcheck(env, "beat")
    assert result.returncode == 0, result.stderr
    # A beat silent for longer than the limit is unhealthy.
    beat.stop()
    os.utime(heartbeat, (heartbeat.stat().st_atime - 600, heartbeat.stat().st_mtime - 600))
    result = healthcheck(env, "beat", MOF_BEAT_HEARTBEAT_MAX_AGE="60")
    assert result.returncode == 1 and "last heartbeat" in result.stderr
    # A worker of another name does not answer for this one.
    result = healthcheck(env, "worker", HOSTNAME="no-such-worker")
    assert result.returncode == 1 and "did not answer" in result.stderr
