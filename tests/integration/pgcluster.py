"""PostgreSQL clusters of their own for a test or a benchmark: a fresh primary and a
streaming replica of it (pg_basebackup -R), with the installed server's binaries
(/usr/lib/postgresql/<major>/bin), in a temporary folder, on their own ports, run as the
`postgres` OS user when this process is root (PostgreSQL refuses to run as root). Stopped
and deleted afterwards.

    with streaming_pair() as (primary, replica):     # ports 5441 and 5442
        primary.execute("CREATE DATABASE mof")
        primary.url("mof"), replica.url("mof")       # postgres://postgres@127.0.0.1:5441/mof ...
        replica.wait_for_replay(primary)
        replica.execute("SELECT pg_wal_replay_pause()")
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PRIMARY_PORT, REPLICA_PORT = 5441, 5442


class ClusterUnavailable(RuntimeError):
    """The machine cannot run a cluster of its own (no server binaries, port taken, ...)."""


def server_bin_dir() -> Path:
    """The newest installed server's binaries (Debian's layout), or MOF_PG_BIN_DIR."""
    if os.environ.get("MOF_PG_BIN_DIR"):
        return Path(os.environ["MOF_PG_BIN_DIR"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise ClusterUnavailable("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return found[-1].parent


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Cluster:
    def __init__(self, root: Path, name: str, port: int, bin_dir: Path):
        self.root, self.name, self.port, self.bin = root, name, port, bin_dir
        self.data = root / name
        self.log = root / f"{name}.log"
        self.running = False

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str, timeout: float = 120) -> str:
        cmd = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise ClusterUnavailable(
                f"{program} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n{self.log_tail()}"
            )
        return result.stdout

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def configure(self, **settings) -> None:
        with open(self.data / "postgresql.conf", "a") as conf:  # the last setting of a name wins
            conf.write(f"\n# {self.name} (tests/integration/pgcluster.py)\n")
            for key, value in settings.items():
                conf.write(f"{key} = {value!r}\n" if isinstance(value, str) else f"{key} = {value}\n")

    def init_primary(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        )
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")  # the replica's pg_basebackup and WAL stream
        self.configure(
            port=self.port,
            listen_addresses="127.0.0.1",
            unix_socket_directories=str(self.root),
            wal_level="replica",
            max_wal_senders=5,
            max_connections=60,
            shared_buffers="64MB",
            fsync="off",
            full_page_writes="off",
            hot_standby="on",
            wal_keep_size="256MB",
            log_min_messages="warning",
        )

    def init_replica_of(self, primary: Cluster) -> None:
        # -R writes standby.signal and primary_conninfo; -X stream copies the WAL of the backup.
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            "postgres",
            "-D",
            str(self.data),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        )
        self.configure(port=self.port, hot_standby_feedback="on")

    def start(self) -> None:
        if not _port_free(self.port):
            raise ClusterUnavailable(f"port {self.port} is taken: is another cluster of this test still running?")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        self.running = True

    def stop(self) -> None:
        if self.running:
            with contextlib.suppress(Exception):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
            self.running = False

    def log_statements(self) -> None:
        """Log every statement with the application name of its connection (statements())."""
        self.configure(log_statement="all", log_line_prefix="[%a] ")
        self._run("pg_ctl", "-D", str(self.data), "reload")
        time.sleep(0.5)

    def log_mark(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def statements(self, since: int = 0, application_name: str | None = None) -> list[str]:
        """The statements logged since `since` (a log_mark()), of one application name."""
        with open(self.log, errors="replace") as log:
            log.seek(since)
            lines = log.read().splitlines()
        prefix = f"[{application_name}] " if application_name is not None else "["
        return [line for line in lines if line.startswith(prefix) and ("statement: " in line or " execute " in line)]

    def connect(self, database: str = "postgres"):
        import psycopg

        return psycopg.connect(
            self.url(database), autocommit=True, application_name="pgcluster-harness", connect_timeout=5
        )

    def execute(self, sql: str, params=(), database: str = "postgres") -> list[tuple]:
        with contextlib.closing(self.connect(database)) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def in_recovery(self) -> bool:
        return self.execute("SELECT pg_is_in_recovery()")[0][0]

    def wait_for_replay(self, primary: Cluster, timeout: float = 30) -> None:
        """Until this replica has replayed everything the primary had written when called."""
        target = primary.execute("SELECT pg_current_wal_lsn()")[0][0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target])[0][0]:
                return
            time.sleep(0.05)
        raise AssertionError(f"the replica did not replay up to {target} in {timeout:.0f} s:\n{self.log_tail()}")


@contextlib.contextmanager
def streaming_pair(primary_port: int = PRIMARY_PORT, replica_port: int = REPLICA_PORT):
    """A fresh primary and a hot standby streaming from it; both stopped and deleted after.
    Raises ClusterUnavailable when they cannot be started."""
    bin_dir = server_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="mof-pg-pair-"))
    if os.geteuid() == 0:
        try:
            postgres = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise ClusterUnavailable(
                "running as root, and there is no postgres OS user to run the clusters as"
            ) from None
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
    primary = Cluster(root, "primary", primary_port, bin_dir)
    replica = Cluster(root, "replica", replica_port, bin_dir)
    try:
        primary.init_primary()
        primary.start()
        replica.init_replica_of(primary)
        replica.start()
        deadline = time.monotonic() + 30
        while not replica.in_recovery():
            if time.monotonic() > deadline:
                raise ClusterUnavailable(f"the replica is not in recovery:\n{replica.log_tail()}")
            time.sleep(0.1)
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()
        shutil.rmtree(root, ignore_errors=True)
