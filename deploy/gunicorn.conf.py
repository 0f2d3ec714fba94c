"""gunicorn's settings for the portal's web process (`bin/portal web`), from the environment.
Passed with -c: gunicorn would also load a gunicorn.conf.py in the working directory on its
own, which would change the test harnesses' and the benchmarks' servers."""

import os
from pathlib import Path


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{_int('PORT', 8000)}"
# Processes x threads: with 2 threads per process gunicorn uses its gthread worker. The
# default, cores + 1 processes, was the best on the load bench (bench/load.py).
workers = _int("GUNICORN_WORKERS", (os.cpu_count() or 1) + 1)
threads = _int("GUNICORN_THREADS", 2)
# Seconds a request may take before its worker is killed and replaced, and that a stopping
# worker is given to finish what it serves (docker stop waits 10 s before SIGKILL by default:
# give the container stop_grace_period above this).
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
# A worker is replaced after this many requests (plus up to 10% jitter): bounds any slow leak.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
# Everything to the console: the container runtime collects it.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# Workers' heartbeat files in memory, not on a container's overlay disk (a slow disk makes
# gunicorn kill healthy workers).
if Path("/dev/shm").is_dir():
    worker_tmp_dir = "/dev/shm"
# The client's address comes from X-Forwarded-For through Django (MOF_NUM_PROXIES), not here.
