"""PostgreSQL roles: the portal's runtime role owns nothing and may only read and add to the
audit trail and the SLA event log; the triggers refuse rewrites even to the schema's owner.

The suite itself runs as a superuser (pytest-django creates and empties the test database),
so each test makes a throwaway runtime role, grants it with `manage.py grant_runtime_role`
and connects as it. Skipped on a bare machine, never in CI."""

from __future__ import annotations

import datetime as dt
import secrets
from contextlib import contextmanager

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django.db import DatabaseError, connection, connections, transaction
from django.test import override_settings
from django.utils import timezone

from mof.models import AuditEntry
from slas.models import SLAClock, TicketEvent
from tests.factories import ManagerFactory, TeamFactory, UserFactory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL (set DATABASE_URL=postgres://...)",
    ),
]

LOGS = ("mof_auditentry", "slas_ticketevent")
T = dt.time


def _new_role(cursor) -> tuple[str, str]:
    role, password = f"mof_test_runtime_{secrets.token_hex(4)}", secrets.token_hex(12)
    cursor.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    return role, password


@pytest.fixture
def runtime_role(transactional_db):
    """A runtime role granted like production's (committed: other connections use it); dropped after."""
    with connection.cursor() as cursor:
        role, password = _new_role(cursor)
    try:
        call_command("grant_runtime_role", role)
        call_command("grant_runtime_role", role)  # idempotent
        yield role, password
    finally:
        connections.close_all()
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")  # its grants, here and on the database
            cursor.execute(f"DROP ROLE {role}")


@contextmanager
def portal_connected_as(role, password):
    """The portal's own code (services, ORM) on a connection made as `role`."""
    db = connections["default"]
    db.close()
    saved = dict(db.settings_dict)
    db.settings_dict.update(USER=role, PASSWORD=password)
    try:
        yield
    finally:
        db.close()
        db.settings_dict.clear()
        db.settings_dict.update(saved)


def _raw_connection(role, password):
    db = connection.settings_dict
    raw = psycopg.connect(
        dbname=db["NAME"], host=db.get("HOST") or "127.0.0.1", port=db.get("PORT") or 5432, user=role, password=password
    )
    raw.autocommit = True
    return raw


def _refused(cursor, sql, params=None):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        cursor.execute(sql, params)


def _sla_world():
    from slas import services

    manager = ManagerFactory(username="roles-boss")
    agent = UserFactory(username="roles-agent", roles=["support"])
    TeamFactory(name="Roles desk", manager=manager, members=[agent])
    always = services.calendar_save(
        actor=manager, name="24x7 roles", time_zone="UTC", intervals=[(d, T(0), T(0)) for d in range(7)]
    )
    sla = services.sla_create(actor=manager, name="P1 roles", priorities=[1], resolution_seconds=3600, calendar=always)
    type(sla).objects.filter(pk=sla.pk).update(status="active")
    return agent


def test_runtime_role_does_the_portals_work_but_cannot_rewrite_either_log(runtime_role):
    from incidents import services as desk
    from incidents.models import Incident
    from mof import numbering
    from slas import services

    role, password = runtime_role
    agent = _sla_world()

    # Ordinary work through the portal's own code: filing (a numbering sequence, the audit
    # trail, the event log, clocks), an edit, the SLA sweep updating clocks.
    with portal_connected_as(role, password):
        incident = desk.incident_create(actor=agent, title="Mail down", impact=1, urgency=1)
        desk.incident_update(actor=agent, incident=incident, description="queues growing")
        assert services.sweep(now=timezone.now() + dt.timedelta(hours=2))["clocks"] >= 1
        numbering._sync_sequence(Incident)  # the path after a number clash: setval, no CREATE
        call_command("check_runtime_role")
    assert AuditEntry.objects.filter(model_label="incidents.incident", object_id=str(incident.pk)).count() >= 2
    assert TicketEvent.objects.filter(ticket_id=incident.pk).count() == 1
    assert SLAClock.objects.filter(ticket_id=incident.pk, state="breached").exists()

    raw = _raw_connection(role, password)
    try:
        with raw.cursor() as cursor:
            cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cursor.fetchone() == (role, False)
            cursor.execute(
                "INSERT INTO mof_auditentry (at, actor_name, via, action, model_label, object_id, object_repr, changes, transition, reason, detail) "
                "VALUES (now(), 'raw', 'test', 'update', 'x', '1', '', '{}', '', '', '{}')"
            )
            cursor.execute(
                "INSERT INTO slas_ticketevent (ticket_type, ticket_id, at, kind, state, hold_reason) "
                "VALUES ('incidents.incident', %s, now(), 'change', 'in_progress', '')",
                [incident.pk],
            )
            cursor.execute("UPDATE incidents_incident SET description = 'edited raw' WHERE id = %s", [incident.pk])
            cursor.execute("UPDATE slas_slaclock SET updated_at = now() WHERE ticket_id = %s", [incident.pk])
            assert cursor.rowcount >= 1
            for table in LOGS:
                _refused(cursor, f"UPDATE {table} SET at = at - interval '1 day'")
                _refused(cursor, f"DELETE FROM {table}")
                _refused(cursor, f"TRUNCATE {table}")
                _refused(cursor, f"ALTER TABLE {table} DISABLE TRIGGER ALL")
                _refused(cursor, f"ALTER TABLE {table} DISABLE TRIGGER USER")
                _refused(cursor, f"DROP TABLE {table}")
            _refused(cursor, "DROP TRIGGER slas_ticketevent_append_only ON slas_ticketevent")
            _refused(cursor, "SET session_replication_role = replica")
            _refused(cursor, "CREATE TABLE mof_forged (id int)")
            _refused(cursor, "DELETE FROM django_migrations")
    finally:
        raw.close()
    assert TicketEvent.objects.filter(ticket_id=incident.pk).count() == 2
    assert Incident.objects.get(pk=incident.pk).description == "edited raw"


@pytest.mark.django_db
def test_migrate_grants_the_runtime_role_every_table_and_the_logs_read_and_add_only():
    with connection.cursor() as cursor:
        role, _ = _new_role(cursor)  # rolled back with the test's transaction
        cursor.execute("CREATE TABLE mof_later_table (id int)")  # as a later migration would
        with override_settings(MOF_DB_RUNTIME_ROLE=role):
            emit_post_migrate_signal(verbosity=0, interactive=False, db="default")

        def privileges(table):
            held = set()
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER", "REFERENCES"):
                cursor.execute("SELECT has_table_privilege(%s, %s, %s)", [role, table, privilege])
                if cursor.fetchone()[0]:
                    held.add(privilege)
            return held

        assert privileges("mof_later_table") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
        assert privileges("incidents_incident") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
        assert privileges("slas_slaclock") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
        for table in LOGS:
            assert privileges(table) == {"SELECT", "INSERT"}
        assert privileges("django_migrations") == {"SELECT"}
        cursor.execute("SELECT has_schema_privilege(%s, current_schema(), 'CREATE')", [role])
        assert cursor.fetchone()[0] is False


@pytest.mark.django_db
def test_grant_refuses_a_superuser_or_a_role_that_owns_tables():
    from mof.dbroles import RoleError, grant_runtime_role

    with connection.cursor() as cursor:
        role, _ = _new_role(cursor)
        cursor.execute(f"CREATE TABLE mof_owned_by_runtime (id int); ALTER TABLE mof_owned_by_runtime OWNER TO {role}")
    with pytest.raises(RoleError, match="owns 1 relation"):
        grant_runtime_role(role)
    with pytest.raises(RoleError, match="superuser"):
        grant_runtime_role(connection.settings_dict["USER"] or "postgres")


@pytest.mark.django_db
def test_the_event_log_refuses_update_delete_and_truncate_even_to_its_owner():
    from incidents import services as desk

    agent = _sla_world()
    incident = desk.incident_create(actor=agent, title="x", impact=1, urgency=1)
    event = TicketEvent.objects.filter(ticket_id=incident.pk).latest("id")
    with connection.cursor() as cursor:
        for sql in (
            "UPDATE slas_ticketevent SET state = 'resolved' WHERE id = %s",
            "DELETE FROM slas_ticketevent WHERE id = %s",
        ):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute(sql, [event.pk])
        # The owner of the schema is no superuser in production: give a role the owner's
        # TRUNCATE privilege and act as it. (A superuser may: it empties the test database.)
        owner, _ = _new_role(cursor)
        for table in LOGS:
            cursor.execute(f"GRANT TRUNCATE ON {table} TO {owner}")
            with pytest.raises(DatabaseError, match="append-only: TRUNCATE refused"), transaction.atomic():
                cursor.execute(f"SET LOCAL ROLE {owner}")
                cursor.execute(f"TRUNCATE {table}")
    assert TicketEvent.objects.filter(pk=event.pk, state=event.state).exists()
    assert AuditEntry.objects.filter(model_label="incidents.incident", object_id=str(incident.pk)).exists()
