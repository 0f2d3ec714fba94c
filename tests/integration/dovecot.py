"""A real IMAP server for the tests: Debian's dovecot (installed when missing), run in the
foreground as the current user on 127.0.0.1 (MOF_TEST_IMAP_PORT, default 18143), with its
configuration and maildirs in a temporary folder, one password for every user (plain), no
TLS. Mail is delivered with IMAP APPEND.

    with Dovecot() as server:
        server.deliver("servicedesk", raw_bytes)     # any user name: its own maildir
        url = server.url("servicedesk")               # imap://...?starttls=0
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from imapclient import IMAPClient

PORT = int(os.environ.get("MOF_TEST_IMAP_PORT", "18143"))


def ensure_installed() -> str:
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if binary and Path("/usr/lib/dovecot/imap").exists():
        return binary
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
    done = subprocess.run(
        ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", "dovecot-imapd"],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"could not install dovecot-imapd: {done.stderr[-2000:]}")
    return shutil.which("dovecot") or "/usr/sbin/dovecot"


CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
first_valid_uid = 0
first_valid_gid = 0
default_internal_user = {user}
default_login_user = {login_user}
default_internal_group = {group}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    user = {user}
  }}
  unix_listener stats-writer {{
    user = {user}
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
}}
"""


class Dovecot:
    def __init__(self, port: int = PORT, password: str = "desk-secret"):
        self.password = (
            password  # every user's (a static passdb: any user name signs in, its maildir made on first use)
        )
        # Its own folder, readable by dovecot's unprivileged processes (pytest's are 0700).
        self.root = Path(tempfile.mkdtemp(prefix="mof-dovecot-"))
        self.root.chmod(0o755)
        self.port = port
        self.process = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        binary = ensure_installed()
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
        login_user = user
        if os.getuid() == 0:  # dovecot's login processes refuse to run as root: the package's own users
            login_user, user = "dovenull", "dovecot"
            group = grp.getgrgid(pwd.getpwnam("dovecot").pw_gid).gr_name
        uid, gid = os.getuid(), os.getgid()
        if uid == 0:  # nor may mail be accessed as root: the maildirs belong to nobody
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            for sub in ("mail", "home"):
                os.chown(self.root / sub, uid, gid)
        (self.root / "dovecot.conf").write_text(
            CONFIG.format(
                password=self.password,
                root=self.root,
                port=self.port,
                user=user,
                login_user=login_user,
                group=group,
                uid=uid,
                gid=gid,
            )
        )
        self._free_port()
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(self.root / "dovecot.conf")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"dovecot exited: {self.process.stdout.read().decode(errors='replace')}\n{self.log()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dovecot did not answer on 127.0.0.1:{self.port}\n{self.log()}")

    def _free_port(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                raise RuntimeError(f"port {self.port} is taken: set MOF_TEST_IMAP_PORT")
        except OSError:
            return

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def url(self, user: str, folder: str = "INBOX") -> str:
        return f"imap://{user}:{self.password}@127.0.0.1:{self.port}/{folder}?starttls=0"

    def client(self, user: str) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(user, self.password)
        return client

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX", flags=()):
        client = self.client(user)
        try:
            client.append(folder, raw, flags=flags)
        finally:
            client.logout()

    def messages(self, user: str, folder: str = "INBOX") -> dict:
        """{uid: flags} of a folder."""
        client = self.client(user)
        try:
            if not client.folder_exists(folder):
                return {}
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            return {uid: set(data[b"FLAGS"]) for uid, data in client.fetch(uids, ["FLAGS"]).items()} if uids else {}
        finally:
            client.logout()
