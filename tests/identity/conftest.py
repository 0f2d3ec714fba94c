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
