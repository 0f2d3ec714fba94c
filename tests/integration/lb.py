"""Debian's haproxy in front of the portal's web processes, with the reference configuration
deploy/haproxy/haproxy.cfg (addresses from the environment), for the scale-out test and the
1-vs-2 web bench (bench/scale_out.py). Installed with apt-get when missing, run in the
foreground (-db) as a child process in its own process group, logging each request to its
log file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.integration.stack import ROOT, Process, free_port, wait_for

CONFIG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
# Read before the reference file: the global log target (the reference logs nowhere until
# one is added), so that a failed test shows haproxy's view of each request.
LOGGING = "global\n    log stdout format raw local0\n"


def ensure_haproxy() -> str:
    """The haproxy binary, apt-get installed first if missing (as root, waiting for the dpkg lock)."""
    found = shutil.which("haproxy") or (os.path.exists("/usr/sbin/haproxy") and "/usr/sbin/haproxy")
    if found:
        return found
    if shutil.which("apt-get") is None:
        raise RuntimeError("haproxy is not installed and there is no apt-get to install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", "haproxy"]
    if os.geteuid() != 0:
        install = ["sudo", "-n", *install]
    result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:  # stale package lists: update and try again
        subprocess.run(
            [*install[: install.index("apt-get") + 1], "update", "-q"],
            env=env,
            capture_output=True,
            timeout=600,
            check=False,
        )
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    found = shutil.which("haproxy") or (os.path.exists("/usr/sbin/haproxy") and "/usr/sbin/haproxy")
    if not found:
        raise RuntimeError(f"could not install haproxy: {result.stdout[-1500:]}\n{result.stderr[-1500:]}")
    return found


class HAProxy:
    """haproxy on 127.0.0.1:<port> balancing over `servers` ("host:port", two of them: the
    reference configuration names web1 and web2; give one address twice for a single
    instance behind the same proxy)."""

    def __init__(self, tmp: Path, servers: list[str], *, port: int | None = None, log_requests: bool = True):
        if len(servers) != 2:
            raise ValueError("deploy/haproxy/haproxy.cfg names two servers (repeat one address for one)")
        self.binary = ensure_haproxy()
        self.tmp, self.servers, self.log_requests = tmp, servers, log_requests
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: Process | None = None

    def env(self) -> dict:
        return {
            **os.environ,
            "MOF_LB_BIND": f"127.0.0.1:{self.port}",
            "MOF_WEB1": self.servers[0],
            "MOF_WEB2": self.servers[1],
        }

    def start(self) -> HAProxy:
        files = []
        if self.log_requests:
            extra = self.tmp / "haproxy-logging.cfg"
            extra.write_text(LOGGING)
            files += ["-f", str(extra)]
        cmd = [self.binary, "-db", *files, "-f", str(CONFIG)]
        check = subprocess.run([*cmd, "-c"], env=self.env(), capture_output=True, text=True, timeout=30, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refuses {CONFIG}: {check.stdout}{check.stderr}")
        log = self.tmp / "haproxy.log" if self.log_requests else Path(os.devnull)
        self.process = Process("haproxy", cmd, env=self.env(), log=log).start()
        wait_for(f"haproxy on port {self.port}", self._listens, timeout=20, every=0.05)
        return self

    def _listens(self) -> bool:
        if not self.process.running:
            raise AssertionError(f"haproxy exited:\n{self.process.text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=5)
