"""Shared fixtures. Integration and browser tests skip on a bare machine but never in CI:
with CI=1 (set by .ci/run) a skip of theirs is turned into a failure."""

import os

import pytest
from rest_framework.test import APIClient

from mof.choices import RoleCluster
from tests.factories import AdminFactory, ManagerFactory, UserFactory
from tests.identity.fixtures import oidc_provider, slapd, slapd_server, sso  # noqa: F401 - directory and SSO servers

IN_CI = os.environ.get("CI", "") not in ("", "0", "false")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and (item.get_closest_marker("integration") or item.get_closest_marker("browser")):
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: integration/browser tests may not be skipped in CI ({report.longrepr})"


def requires_postgres():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def postgres(db):
    requires_postgres()


@pytest.fixture
def builtin_data(transactional_db):
    """The built-in CI classes and risk thresholds the data migration adds. A transactional
    test runs in a flushed database; serialized rollback restores it, but not when
    Playwright's event loop has replaced the connection object that holds the serialized
    copy, so make sure of the rows here (idempotent)."""
    import importlib

    from django.apps import apps

    importlib.import_module("mof.migrations.0002_builtin_data_and_postgres").add_builtins(apps, None)


@pytest.fixture
def admin_user(db):
    return AdminFactory(username="admin")


@pytest.fixture
def manager(db):
    return ManagerFactory(username="manager")


@pytest.fixture
def infra_user(db):
    return UserFactory(username="infra", roles=[RoleCluster.INFRASTRUCTURE])


@pytest.fixture
def support_user(db):
    return UserFactory(username="support", roles=[RoleCluster.SUPPORT])


@pytest.fixture
def partner_user(db):
    return UserFactory(username="partner", roles=[RoleCluster.PARTNER])


@pytest.fixture
def employee(db):
    """A person with no role cluster: may file incidents later, sees no CMDB."""
    return UserFactory(username="employee")


@pytest.fixture
def api():
    """An API client; call api.force_authenticate(user) or use token headers."""
    return APIClient()


def api_as(user):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
