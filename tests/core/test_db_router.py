"""The read replica router: nothing goes to the replica unless a read path opted in
(lagging_reads / lagging_view), and even then not inside a transaction, not after a write,
not for who-is-signed-in models, not for a browser that wrote moments ago. The real
streaming replica is in tests/integration/test_read_replica.py."""

import pytest
from django.contrib.sessions.models import Session
from django.db import DEFAULT_DB_ALIAS, connection
from django.urls import reverse

from changes.models import RequestForChange
from mof import db_router
from mof.db_router import REPLICA, ReplicaRouter, lagging_reads, read_alias
from mof.dbconfig import databases
from mof.models import User
from slas.models import SLAClock
from tests.factories import ManagerFactory

router = ReplicaRouter()
PG = "postgres://portal:secret@db.example:5432/mof"


@pytest.fixture
def with_replica(monkeypatch):
    """A replica alias, as DATABASE_REPLICA_URL makes one (no query reaches it in these tests)."""
    monkeypatch.setattr(db_router, "replica_alias", lambda: REPLICA)
    monkeypatch.setattr(db_router, "_replica_usable", lambda alias: True)


def test_replica_url_makes_a_replica_alias_that_mirrors_default_under_test():
    dbs = databases(
        {"DATABASE_URL": PG, "DATABASE_REPLICA_URL": "postgres://reader@standby.example:5432/mof"},
        default_url="sqlite:///x",
    )
    assert dbs[REPLICA]["HOST"] == "standby.example"
    assert dbs[REPLICA]["TEST"] == {"MIRROR": "default"}
    assert dbs[REPLICA]["OPTIONS"]["application_name"] == "mof-portal-replica"
    assert dbs[REPLICA]["OPTIONS"]["connect_timeout"] == 3  # a standby that does not answer is given up soon
    assert REPLICA not in databases({"DATABASE_URL": PG}, default_url="sqlite:///x")


def test_without_a_replica_every_read_goes_to_the_primary():
    with lagging_reads():
        assert read_alias(SLAClock) == DEFAULT_DB_ALIAS
        assert router.db_for_read(SLAClock) is None


def test_reads_go_to_the_replica_only_inside_lagging_reads(with_replica):
    assert router.db_for_read(SLAClock) is None
    with lagging_reads():
        assert router.db_for_read(SLAClock) == REPLICA
        assert router.db_for_read(RequestForChange) == REPLICA
    assert router.db_for_read(SLAClock) is None


def test_who_is_signed_in_is_always_read_from_the_primary(with_replica):
    with lagging_reads():
        assert router.db_for_read(User) is None
        assert router.db_for_read(Session) is None


def test_after_a_write_the_context_reads_its_own_writes_from_the_primary(with_replica):
    with lagging_reads():
        assert router.db_for_write(SLAClock) == DEFAULT_DB_ALIAS
        assert router.db_for_read(SLAClock) is None
    with lagging_reads():  # a new context starts on the replica again
        assert router.db_for_read(SLAClock) == REPLICA


def test_a_write_never_goes_to_the_replica_even_for_a_row_read_from_it(with_replica):
    clock = SLAClock()
    clock._state.db = REPLICA
    with lagging_reads():
        assert router.db_for_write(SLAClock, instance=clock) == DEFAULT_DB_ALIAS


def test_inside_a_transaction_reads_stay_on_the_primary(with_replica, db):
    assert connection.in_atomic_block
    with lagging_reads():
        assert router.db_for_read(SLAClock) is None


def test_migrations_never_run_on_the_replica():
    assert router.allow_migrate(REPLICA, "slas") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "slas") is None


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_the_test_mirror_of_the_primary_is_not_a_replica(settings, monkeypatch):
    from types import SimpleNamespace

    from django.db import connections

    assert db_router.replica_alias() is None  # no DATABASE_REPLICA_URL in the suite
    primary = connections[DEFAULT_DB_ALIAS]
    settings.DATABASES = {**settings.DATABASES, REPLICA: {}}
    # The test runner's set_as_test_mirror gives the alias the primary's own settings dict.
    monkeypatch.setattr(
        db_router,
        "connections",
        {DEFAULT_DB_ALIAS: primary, REPLICA: SimpleNamespace(settings_dict=primary.settings_dict)},
    )
    assert db_router.replica_alias() is None
    # A replica of its own (another server) is one.
    monkeypatch.setattr(
        db_router,
        "connections",
        {DEFAULT_DB_ALIAS: primary, REPLICA: SimpleNamespace(settings_dict={**primary.settings_dict, "PORT": 5442})},
    )
    assert db_router.replica_alias() == REPLICA


@pytest.fixture
def recorded(monkeypatch, with_replica, db):
    """Whether each read the router was asked about was inside lagging_reads."""
    seen = []
    original = db_router.read_alias

    def spy(model=None):
        seen.append((model._meta.label if model else None, db_router._lagging.get() is not None))
        return original(model)

    monkeypatch.setattr(db_router, "read_alias", spy)
    return seen


@pytest.mark.parametrize(
    "name", ["sla_reports", "availability_summary", "capacity_dashboard", "capacity_warnings", "operations_calendar"]
)
def test_report_pages_read_in_a_lagging_context(client, recorded, name):
    client.force_login(ManagerFactory(username="reader"))
    assert client.get(reverse(name)).status_code in (200, 400)
    lagging = {label for label, inside in recorded if inside}
    assert lagging, recorded


def test_an_ordinary_page_never_reads_in_a_lagging_context(client, recorded):
    client.force_login(ManagerFactory(username="reader"))
    assert client.get(reverse("home")).status_code == 200
    assert not any(inside for _, inside in recorded)


def test_a_post_to_a_report_page_is_not_a_lagging_read(client, recorded):
    client.force_login(ManagerFactory(username="reader"))
    client.post(reverse("capacity_dashboard"), {})
    assert not any(inside for _, inside in recorded)


def test_an_export_names_the_replica_while_the_view_runs(client, with_replica, monkeypatch, db):
    """A streamed CSV reads its rows after the view returned: export_csv pins the queryset
    to where a lagging read goes at that moment (here the test's transaction: the primary)."""
    from mof import csv_io

    pinned = []
    original = csv_io.read_alias
    monkeypatch.setattr(
        csv_io, "read_alias", lambda model=None: pinned.append(db_router._lagging.get() is not None) or original(model)
    )
    client.force_login(ManagerFactory(username="reader"))
    response = client.get(reverse("change_list") + "?export=csv")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    assert pinned == [True]


def _through_middleware(view, cookies=None):
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.COOKIES.update(cookies or {})
    return db_router.ReadYourWritesMiddleware(view)(request)


def test_a_request_that_writes_marks_the_browser_to_read_from_the_primary(with_replica, db, settings):
    from django.http import HttpResponse

    from mof.models import Service

    settings.MOF_REPLICA_STICKY_SECONDS = 30
    read = _through_middleware(lambda request: HttpResponse(str(Service.objects.count())))
    assert db_router.STICKY_COOKIE not in read.cookies  # a read marks nothing
    wrote = _through_middleware(lambda request: HttpResponse(str(Service.objects.create(name="Payroll").pk)))
    cookie = wrote.cookies[db_router.STICKY_COOKIE]
    assert cookie["max-age"] == 30 and cookie["httponly"]


def test_a_marked_browser_reads_lagging_paths_from_the_primary(with_replica):
    import time

    from django.http import HttpResponse

    def view(request):
        with lagging_reads():
            return HttpResponse(read_alias(SLAClock))

    assert _through_middleware(view).content == REPLICA.encode()
    fresh = {db_router.STICKY_COOKIE: str(time.time() + 10)}
    assert _through_middleware(view, fresh).content == DEFAULT_DB_ALIAS.encode()
    stale = {db_router.STICKY_COOKIE: str(time.time() - 1)}
    assert _through_middleware(view, stale).content == REPLICA.encode()
    assert _through_middleware(view, {db_router.STICKY_COOKIE: "nonsense"}).content == REPLICA.encode()


class _DeadReplica:
    settings_dict = {}
    attempts = 0

    def close_if_health_check_failed(self):
        pass

    def ensure_connection(self):
        self.attempts += 1
        from django.db import OperationalError

        raise OperationalError("connection refused")


def test_an_unreachable_replica_sends_the_lagging_reads_to_the_primary_for_a_while(monkeypatch, caplog):
    from django.db import connections

    dead = _DeadReplica()
    monkeypatch.setattr(db_router, "replica_alias", lambda: REPLICA)
    monkeypatch.setattr(db_router, "connections", {DEFAULT_DB_ALIAS: connections[DEFAULT_DB_ALIAS], REPLICA: dead})
    monkeypatch.setattr(db_router, "_replica_down_until", 0.0)
    with lagging_reads():
        assert read_alias(SLAClock) == DEFAULT_DB_ALIAS
        assert read_alias(SLAClock) == DEFAULT_DB_ALIAS
    assert dead.attempts == 1  # not tried again on every read
    assert "read replica cannot be reached" in caplog.text
    monkeypatch.setattr(db_router, "_replica_down_until", 0.0)  # REPLICA_RETRY_SECONDS later
    monkeypatch.setattr(dead, "ensure_connection", lambda: None)
    with lagging_reads():
        assert read_alias(SLAClock) == REPLICA
