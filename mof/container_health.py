"""Container health checks, one per process (`bin/portal healthcheck web|worker|beat`, used by
docker-compose.yml): exit status 0 when healthy, 1 with a reason on stderr when not.

  web     GET /healthz (MOF_HEALTHCHECK_PATH) on this container's gunicorn (PORT) answers < 400,
          asked as the portal's own host name (MOF_BASE_URL) so that ALLOWED_HOSTS accepts it
  worker  this container's Celery worker (celery@$HOSTNAME) answers a ping through the broker
  beat    beat's heartbeat file (mof.beat_scheduler, touched every few seconds) is younger than
          MOF_BEAT_HEARTBEAT_MAX_AGE seconds (default 60)
"""

import os
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mof.settings")


def heartbeat_path() -> Path:
    from django.conf import settings

    return Path(os.environ.get("MOF_BEAT_HEARTBEAT_FILE") or Path(settings.VAR_DIR) / "beat-heartbeat")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect (to https) is an answer: the process serves requests


def check_web() -> str | None:
    from django.conf import settings

    port = os.environ.get("PORT") or "8000"
    path = os.environ.get("MOF_HEALTHCHECK_PATH") or "/healthz"
    host = urlsplit(settings.MOF_BASE_URL).netloc or "localhost"
    # X-Forwarded-Proto: behind a TLS proxy (USE_X_FORWARDED_PROTO) no redirect to https.
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Host": host, "X-Forwarded-Proto": "https"}
    )
    try:
        with urllib.request.build_opener(_NoRedirect).open(request, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        return f"GET {path}: {exc}"
    return None if status < 400 else f"GET {path}: HTTP {status}"


def check_worker() -> str | None:
    from mof.celery import app

    name = f"celery@{os.environ.get('HOSTNAME') or socket.gethostname()}"
    replies = app.control.ping(destination=[name], timeout=5)
    return None if any(name in reply for reply in replies) else f"{name} did not answer a ping"


def check_beat() -> str | None:
    limit = float(os.environ.get("MOF_BEAT_HEARTBEAT_MAX_AGE") or 60)
    path = heartbeat_path()
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return f"no heartbeat file {path}"
    return None if age <= limit else f"last heartbeat {age:.0f} s ago ({path})"


CHECKS = {"web": check_web, "worker": check_worker, "beat": check_beat}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in CHECKS:
        print(f"usage: bin/portal healthcheck {'|'.join(CHECKS)}", file=sys.stderr)
        return 2
    try:
        problem = CHECKS[argv[0]]()
    except Exception as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
