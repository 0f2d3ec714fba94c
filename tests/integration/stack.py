"""A production-like portal stack for integration tests that break its infrastructure:
gunicorn, a Celery worker and Celery beat (database scheduler) as subprocesses, on a
PostgreSQL database of their own and on a private redis-server (broker and cache), with
mail written to files. A test can stop and start that Redis, and terminate the stack's
database connections, without touching the shared services the rest of the suite uses.

Why a database of its own rather than pytest-django's test database: the three
processes need committed data, the beat schedule and the other rows the migrations add
(which a transactional test's flush removes from the test database), and a test that
terminates "the portal's connections" must not hit the connection pytest itself holds.
The price is one `manage.py migrate` per stack; the database is dropped WITH (FORCE)
afterwards.

    with PortalStack(tmp_path, name="outage") as stack:   # or .start() / .stop()
        info = stack.run_python(SEED_SCRIPT)              # JSON printed by the script
        stack.start_processes()
        status, body = stack.api("POST", "/api/v1/incidents/", token, {...})
        stack.redis.stop(); ...; stack.redis.start()
        stack.terminate_connections()
        stack.mails()                                     # every message written so far
"""

from __future__ import annotations

import atexit
import contextlib
import email
import email.policy
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
HARNESS_APP_NAME = "stack-harness"  # application_name of the harness's own connections
NOTABLE = re.compile(r"CRITICAL|ERROR|Unrecoverable|Traceback|exited|\w+(Error|Exception): ")


def postgres_url() -> str | None:
    """The PostgreSQL server the suite is configured for (DATABASE_URL), or None."""
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://", "pgsql://")) else None


def database_url(settings_dict) -> str:
    """A postgres:// URL for a Django connection's settings (e.g. the test database's)."""
    user, password = settings_dict["USER"] or "", settings_dict["PASSWORD"] or ""
    auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
    return f"postgres://{auth}{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"


# Static files the portal's own pages do not name: the admin's, DRF's and the API docs'
# (and htmx's extensions, unminified copies and source maps) take a minute to compress; the
# image collects them all.
STATIC_IGNORE = ("admin", "rest_framework", "drf_spectacular_sidecar", "ext", "htmax-*", "htmx-2.js", "*.map")
_collected_static: list[Path] = []


def collected_static() -> Path:
    """A STATIC_ROOT collected as the image's build does it, with DEBUG off (hashed names
    and .gz/.br copies, WhiteNoise), once per test run. A server with DEBUG off needs its
    manifest to render any page."""
    if not _collected_static:
        root = Path(tempfile.mkdtemp(prefix="mof-static-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "MOF_"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "mof.settings",
                "PYTHONPATH": str(ROOT),
                "DEBUG": "0",
                "STATIC_ROOT": str(root / "static"),
                "MOF_VAR_DIR": str(root / "var"),
            }
        )
        ignore = [arg for pattern in STATIC_IGNORE for arg in ("-i", pattern)]
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0", *ignore],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
        _collected_static.append(root / "static")
    return _collected_static[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float = 60, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class Process:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, cmd: list[str], *, env: dict, log: Path):
        self.name, self.cmd, self.env, self.log = name, cmd, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> Process:
        out = open(self.log, "a")
        try:
            self.proc = subprocess.Popen(
                self.cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            out.close()  # the child holds its own descriptor
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def first_error(self) -> str:
        for line in self.text().splitlines():
            if re.search(r"CRITICAL|Unrecoverable|ERROR", line):
                return line[:300]
        return "(none logged)"

    def wait_log(self, needle: str, timeout: float = 60) -> None:
        def seen():
            if needle in self.text():
                return True
            if not self.running:
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode if self.proc else '?'}):\n{tail(self.log)}"
                )
            return False

        wait_for(f"{self.name} to log {needle!r}", seen, timeout)

    def stop(self, grace: float = 10) -> None:
        """SIGTERM to the group, SIGKILL after `grace` seconds."""
        if not self.running:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Children the group leader left behind (prefork pool processes, gunicorn workers).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)


class RedisServer:
    """A private redis-server without persistence: stopping it loses what it held, as a
    crashed or replaced Redis does."""

    def __init__(self, tmp: Path, port: int | None = None):
        self.port = port or free_port()
        self.tmp = tmp
        self.process: Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.starts += 1
        cmd = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.tmp),
            "--daemonize",
            "no",
        ]
        self.process = Process("redis", cmd, env=dict(os.environ), log=self.tmp / "redis.log").start()
        wait_for(f"redis-server on port {self.port}", self.ping, timeout=20, every=0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        wait_for("redis-server to stop", lambda: not self.ping(), timeout=10, every=0.05)


@dataclass
class Mail:
    path: str
    message_id: str
    subject: str
    recipients: list[str]
    body: str


@dataclass
class PortalStack:
    tmp: Path
    name: str = "stack"
    env_extra: dict = field(default_factory=dict)
    workers: int = 2  # gunicorn processes
    threads: int = 2  # per gunicorn process
    concurrency: int = 2  # Celery prefork processes
    server: str | None = None  # a postgres:// URL of another server (default: DATABASE_URL's)

    def __post_init__(self):
        server = self.server or postgres_url()
        if server is None:
            raise RuntimeError("PortalStack needs DATABASE_URL=postgres://...")
        parts = urlsplit(server)
        base = parts.path.lstrip("/") or "mof"
        self.db_name = f"{base}_{self.name}_stack_{os.getpid()}"[:63]
        self.server_url = urlunsplit(parts._replace(path="/postgres", query=""))
        self.db_url = urlunsplit(parts._replace(path=f"/{self.db_name}", query=""))
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.mail_dir = self.tmp / "mail"
        self.mail_dir.mkdir(exist_ok=True)
        self.redis = RedisServer(self.tmp)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.processes: dict[str, Process] = {}
        self._db_created = False
        self._conn = None

    # --- environment ------------------------------------------------------------

    def env(self) -> dict:
        """Production settings (DEBUG off, a secret key, the hosts it serves) over plain HTTP,
        with rate limits high enough that the test's own load is not throttled."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_", "CELERY_", "MOF_"))}
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "mof.settings",
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                "DEBUG": "0",
                "SECRET_KEY": self._secret_key,
                "ALLOWED_HOSTS": "127.0.0.1",
                "SECURE_SSL_REDIRECT": "0",
                "SESSION_COOKIE_SECURE": "0",
                "CSRF_COOKIE_SECURE": "0",
                "DATABASE_URL": self.db_url,
                "CELERY_BROKER_URL": f"{self.redis.url}/0",
                "CACHE_URL": f"{self.redis.url}/1",
                "EMAIL_URL": f"file://{self.mail_dir}",
                "MOF_VAR_DIR": str(self.tmp / "var"),
                "STATIC_ROOT": str(collected_static()),  # as the image has them: pages need the manifest
                "MOF_BASE_URL": self.base_url,
                "MOF_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
                "MOF_RATE_TOKEN": "100000/minute",
                "MOF_RATE_USER": "100000/minute",
                "MOF_RATE_ANON": "100000/minute",
                "MOF_RATE_INGEST": "100000/minute",
                "MOF_LOG_LEVEL": "INFO",
            }
        )
        env.update(self.env_extra)
        return env

    @property
    def _secret_key(self) -> str:
        if not hasattr(self, "_key"):
            self._key = secrets.token_urlsafe(64)
        return self._key

    # --- database ---------------------------------------------------------------

    def _admin(self):
        import psycopg

        conn = psycopg.connect(self.server_url, application_name=HARNESS_APP_NAME)
        conn.autocommit = True
        return conn

    def create_database(self) -> None:
        with contextlib.closing(self._admin()) as conn, conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{self.db_name}"')
        self._db_created = True

    def drop_database(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        if self._db_created:
            with contextlib.closing(self._admin()) as conn, conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self._db_created = False

    def db(self):
        """The harness's own connection to the stack's database (autocommit), reopened if lost."""
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.db_url, application_name=HARNESS_APP_NAME)
            self._conn.autocommit = True
        return self._conn

    def query(self, sql: str, params=()) -> list[tuple]:
        import psycopg

        for attempt in (1, 2):
            try:
                with self.db().cursor() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall() if cur.description else []
            except psycopg.OperationalError:
                if attempt == 2:
                    raise
                self._conn = None
        return []

    def terminate_connections(self, *, idle_only: bool = True) -> int:
        """End the stack processes' connections to its database (never the harness's own).
        `idle_only`: the kept connections between requests and tasks, as a database restart,
        a failover or a firewall's idle timeout leaves them; a statement killed while it
        runs cannot be answered but with an error, and that is not what is tested."""
        state = "AND state = 'idle'" if idle_only else ""
        rows = self.query(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            f"AND application_name <> %s {state}",
            (self.db_name, HARNESS_APP_NAME),
        )
        return sum(1 for (done,) in rows if done)

    def migrate(self) -> None:
        self.run(["manage.py", "migrate", "--no-input", "-v", "0"], timeout=600)

    # --- running code in the stack's environment ----------------------------------

    def run(self, args: list[str], *, timeout: float = 300, input: str | None = None) -> str:
        result = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env(),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
            )
        return result.stdout

    def run_python(self, script: str, timeout: float = 300):
        """Run `script` with Django set up on the stack's settings and database; returns the
        JSON object the script's last printed line holds (or None)."""
        prelude = "import django\ndjango.setup()\n"
        out = self.run(["-c", prelude + script], timeout=timeout)
        lines = [line for line in out.splitlines() if line.strip()]
        return json.loads(lines[-1]) if lines else None

    # --- the processes ------------------------------------------------------------

    def start_processes(self) -> None:
        env = self.env()
        py = sys.executable
        specs = {
            "gunicorn": [
                py,
                "-m",
                "gunicorn",
                "mof.wsgi",
                "-w",
                str(self.workers),
                "--threads",
                str(self.threads),
                "-b",
                f"127.0.0.1:{self.port}",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "5",
            ],
            "worker": [
                py,
                "-m",
                "celery",
                "-A",
                "mof",
                "worker",
                "--pool=prefork",
                "-c",
                str(self.concurrency),
                "-n",
                f"{self.db_name}@%h",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            "beat": [
                py,
                "-m",
                "celery",
                "-A",
                "mof",
                "beat",
                "--loglevel=INFO",
                "--schedule",
                str(self.tmp / "beat-schedule"),
                "--pidfile=",
            ],
        }
        for name, cmd in specs.items():
            self.processes[name] = Process(name, cmd, env=env, log=self.tmp / f"{name}.log").start()
        self.processes["worker"].wait_log(" ready.", timeout=90)
        self.processes["beat"].wait_log("beat: Starting", timeout=60)
        wait_for("gunicorn to answer", self._answers, timeout=60)

    def _answers(self) -> bool:
        if not self.processes["gunicorn"].running:
            raise AssertionError(f"gunicorn exited:\n{tail(self.processes['gunicorn'].log)}")
        status, _ = self.api("GET", "/api/v1/", None, timeout=5)
        return status not in (0, 502, 503)

    def ensure_running(self) -> list[str]:
        """Start again any process that exited (a test after one that crashed it starts whole);
        returns their names."""
        restarted = [name for name, p in self.processes.items() if not p.running]
        for name in restarted:
            with open(self.processes[name].log, "a") as log:
                log.write(
                    f"\n--- {name} exited ({self.processes[name].proc.returncode}); started again by the harness ---\n"
                )
            self.processes[name].start()
        if "worker" in restarted:
            self.processes["worker"].wait_log(" ready.", timeout=90)
        if "gunicorn" in restarted:
            wait_for("gunicorn to answer", self._answers, timeout=60)
        return restarted

    def stop_processes(self) -> None:
        # Beat first (no new tasks), then the web server, then the worker.
        for name in ("beat", "gunicorn", "worker"):
            process = self.processes.get(name)
            if process is not None:
                process.stop()

    # --- lifecycle ----------------------------------------------------------------

    def start(self) -> PortalStack:
        self.redis.start()
        self.create_database()
        self.migrate()
        return self

    def stop(self) -> None:
        try:
            self.stop_processes()
        finally:
            try:
                self.redis.stop()
            finally:
                self.drop_database()

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()

    # --- looking at it ------------------------------------------------------------

    def api(self, method: str, path: str, token: str | None, body=None, *, timeout: float = 30) -> tuple[int, object]:
        """(status, parsed JSON or text); status 0 when no HTTP answer came (refused, reset, timeout)."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Token {token}"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (OSError, urllib.error.URLError) as exc:
            return 0, f"{type(exc).__name__}: {exc}"
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")[:500]

    def mails(self) -> list[Mail]:
        """Every message the file e-mail backend wrote (several per file, each followed by a line of 79 dashes)."""
        found = []
        for path in sorted(self.mail_dir.glob("*.log")):
            for chunk in path.read_text(errors="replace").split("\n" + "-" * 79 + "\n"):
                if not chunk.strip():
                    continue
                message = email.message_from_string(chunk.strip("\n") + "\n", policy=email.policy.default)
                recipients = []
                for header in ("To", "Cc"):
                    for address in message.get_all(header) or ():
                        recipients += [a.strip().lower() for a in str(address).split(",") if a.strip()]
                try:
                    body = (
                        message.get_body(("plain",)).get_content() if message.is_multipart() else message.get_content()
                    )
                except (KeyError, LookupError, AttributeError):
                    body = ""
                found.append(
                    Mail(
                        path.name,
                        str(message["Message-ID"] or "").strip(),
                        " ".join(str(message["Subject"] or "").split()),
                        recipients,
                        body,
                    )
                )
        return found

    def logs(self, lines: int = 30) -> str:
        """Each process's errors (first lines of each, deduplicated) and the tail of its log."""
        parts = []
        for name, p in self.processes.items():
            notable = list(
                dict.fromkeys(
                    re.sub(r"^\[[^]]*\] ?", "", line)[:300] for line in p.text().splitlines() if NOTABLE.search(line)
                )
            )
            parts.append(
                f"--- {name}: {p.log} ---\n"
                + "\n".join(notable[:15])
                + f"\n... last {lines} lines:\n{tail(p.log, lines)}"
            )
        parts.append(f"--- redis ---\n{tail(self.tmp / 'redis.log', 10)}")
        return "\n".join(parts)

    @contextlib.contextmanager
    def logs_on_failure(self, lines: int = 30):
        """Print the tails of the processes' logs if the block fails (pytest shows them with the failure)."""
        try:
            yield
        except BaseException:
            print(self.logs(lines))
            raise
