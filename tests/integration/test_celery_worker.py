"""The real components: a Celery worker consuming from Redis, PostgreSQL's append-only
audit trigger and its impact-walk function. Skipped on a bare machine, never in CI
(.ci/run sets DATABASE_URL, CELERY_BROKER_URL and CI=1)."""

import time
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction

from mof.models import AuditEntry, ConfigurationItem
from mof.transitions import perform_transition
from tests.factories import CIFactory, ManagerFactory, RelationshipFactory, UserFactory

pytestmark = pytest.mark.integration

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
ON_REDIS = settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://"))

needs_postgres = pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
needs_redis = pytest.mark.skipif(not ON_REDIS, reason="needs Redis (set CELERY_BROKER_URL=redis://...)")


@contextmanager
def not_eager(app):
    """Tasks this process queues go to the broker. Celery looks the Django setting
    CELERY_TASK_ALWAYS_EAGER (True in the test settings) up before its own name
    task_always_eager, so setting app.conf.task_always_eager alone changes nothing."""
    app.conf.CELERY_TASK_ALWAYS_EAGER = False
    try:
        yield
    finally:
        app.conf.changes.pop("CELERY_TASK_ALWAYS_EAGER", None)


@pytest.fixture
def celery_worker():
    """A real worker in a thread of this process, consuming the configured Redis broker (every
    queue: a worker without -Q takes all of CELERY_TASK_QUEUES)."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun

    from mof.celery import app

    assert app.conf.broker_url.startswith(("redis://", "rediss://")), app.conf.broker_url

    def close_worker_connections(**kwargs):
        # The worker thread has its own database connections: close them, or the test
        # database cannot be flushed and dropped afterwards.
        connections.close_all()

    task_postrun.connect(close_worker_connections, weak=False)
    app.control.purge()  # no task left in the queue by earlier tests or runs
    try:
        with (
            not_eager(app),
            start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, shutdown_timeout=20) as worker,
        ):
            assert set(worker.app.amqp.queues.consume_from) == set(settings.MOF_TASK_QUEUES)
            yield worker
    finally:
        task_postrun.disconnect(close_worker_connections)


@needs_postgres
@needs_redis
@pytest.mark.django_db(transaction=True)
def test_worker_mails_the_owner_after_a_transition(builtin_data, celery_worker, mailoutbox):
    from django.core import mail

    manager = ManagerFactory(username="integration-manager")
    owner = UserFactory(username="integration-owner", email="owner@example.test")
    ci = CIFactory(name="EX-MBX-INT-01", owner=owner)

    perform_transition(model=ConfigurationItem, pk=ci.pk, name="commission", actor=manager)
    assert ConfigurationItem.objects.get(pk=ci.pk).status == "in_service"

    def sent():
        return [m for m in mail.outbox if "EX-MBX-INT-01" in m.subject]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not sent():
        time.sleep(0.1)
    messages = sent()
    assert messages, "the worker did not send the notification within 20 s"
    time.sleep(0.5)  # and sends it once
    assert len(sent()) == 1
    [message] = messages
    assert message.to == ["owner@example.test"]
    assert "Planned → In service" in message.subject and "in_service" not in message.subject


@needs_postgres
@pytest.mark.django_db
def test_postgres_refuses_update_and_delete_of_audit_rows():
    CIFactory(name="audited-ci")  # AuditedModel.save writes a create entry
    entry = AuditEntry.objects.filter(model_label="mof.configurationitem").latest("id")
    table = AuditEntry._meta.db_table

    for sql in (
        f"UPDATE {table} SET actor_name = 'mallory' WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [entry.pk])

    entry.refresh_from_db()
    assert entry.actor_name != "mallory"


@needs_postgres
@pytest.mark.django_db
def test_postgres_reach_function_walks_a_cycle_once():
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regprocedure('mof_ci_reach(bigint[], boolean, integer)') IS NOT NULL")
        assert cursor.fetchone()[0] is True

    router, firewall, hub, mailbox = (CIFactory(name=n) for n in ("rtr", "fw", "hub", "mbx"))
    RelationshipFactory(source=firewall, target=router, type="connects_to")
    RelationshipFactory(source=hub, target=firewall)
    RelationshipFactory(source=mailbox, target=hub)
    RelationshipFactory(source=hub, target=mailbox, type="connects_to")  # hub <-> mailbox: a cycle
    RelationshipFactory(source=router, target=mailbox)  # and one back to the start

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT ci_id, via_id, rel_type, depth FROM mof_ci_reach(%s::bigint[], true, 100)", [[router.pk]]
        )
        rows = cursor.fetchall()

    ids = [row[0] for row in rows]
    assert len(ids) == len(set(ids)), "each CI is reached once"
    by_id = {row[0]: row[1:] for row in rows}
    assert set(by_id) == {router.pk, firewall.pk, hub.pk, mailbox.pk}
    assert by_id[router.pk] == (None, None, 0)
    assert by_id[firewall.pk] == (router.pk, "connects_to", 1)
    assert by_id[hub.pk] == (firewall.pk, "depends_on", 2)
    assert by_id[mailbox.pk] == (hub.pk, "depends_on", 3)

    with connection.cursor() as cursor:  # upstream from the mailbox: round the cycle, back to it
        cursor.execute("SELECT ci_id, depth FROM mof_ci_reach(%s::bigint[], false, 100)", [[mailbox.pk]])
        upstream = dict(cursor.fetchall())
    assert upstream == {mailbox.pk: 0, hub.pk: 1, firewall.pk: 2, router.pk: 3}
