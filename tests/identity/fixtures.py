"""The directory (slapd) and the OpenID provider as fixtures, shared through tests/conftest.py
(tests/identity and the browser tests use the same running servers)."""

import os

import pytest
from django.test import override_settings

from mof.identity.config import ldap_settings


@pytest.fixture(scope="session")
def slapd_server():
    from tests.identity.slapd import Slapd

    server = Slapd().start()
    yield server
    server.stop()


@pytest.fixture
def slapd(slapd_server):
    """The slapd with its tree as loaded, and the portal configured for it (as from the
    environment) with the directory backend in front of local passwords."""
    slapd_server.reset()
    values = ldap_settings(slapd_server.env())
    backends = ["mof.identity.ldap_backend.DirectoryBackend", "mof.auth_backends.PortalBackend"]
    with override_settings(AUTHENTICATION_BACKENDS=backends, **values):
        yield slapd_server


OIDC_PORT = 18280
OIDC_CLIENT_ID = "mof-portal"
OIDC_CLIENT_SECRET = "mof-portal-client-secret-for-tests"
SSO_USER = {"username": "sam", "password": "Sam-provider-pw1", "groups": "Portal Support"}


@pytest.fixture(scope="session")
def oidc_provider(live_server):
    """The test provider (tests/oidc_provider) as a separate process on 127.0.0.1:18280,
    its client's redirect address the live server's callback."""
    import shutil
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    data = Path(tempfile.mkdtemp(prefix="mof-oidc-provider-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env["PYTHONPATH"] = str(root)
    log = open(data / "provider.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.oidc_provider.serve",
            "--dir",
            str(data / "state"),
            "--port",
            str(OIDC_PORT),
            "--client-id",
            OIDC_CLIENT_ID,
            "--client-secret",
            OIDC_CLIENT_SECRET,
            "--redirect-uri",
            f"{live_server.url}/oidc/callback/",
            "--post-logout-uri",
            f"{live_server.url}/login/",
            "--user",
            f"{SSO_USER['username']}:{SSO_USER['password']}:Sam:Sso:sam@corp.example:{SSO_USER['groups']}",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    issuer = f"http://127.0.0.1:{OIDC_PORT}/o"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"the OpenID provider did not start: {(data / 'provider.log').read_text()}"
                ) from None
            time.sleep(0.2)
    yield {"issuer": issuer, **SSO_USER}
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def sso(oidc_provider, settings):
    """The portal configured for the test provider as a deployment would be, from the environment."""
    from mof.identity import oidc
    from mof.identity.config import oidc_settings

    oidc._discovery.clear()
    values = oidc_settings(
        {
            "OIDC_RP_CLIENT_ID": OIDC_CLIENT_ID,
            "OIDC_RP_CLIENT_SECRET": OIDC_CLIENT_SECRET,
            "OIDC_OP_DISCOVERY": oidc_provider["issuer"],
            "OIDC_PROVIDER_NAME": "Corp ID",
        },
        csp=settings.MOF_CONTENT_SECURITY_POLICY,
    )
    backends = ["mof.auth_backends.PortalBackend", "mof.identity.oidc.PortalOIDCBackend"]
    with override_settings(AUTHENTICATION_BACKENDS=backends, **values):
        yield oidc_provider
