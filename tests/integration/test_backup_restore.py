"""Backups: a dump taken while the portal runs restores into an empty database owned by the
schema's owner, the portal works on it as the runtime role, its audit trail matches the
backup's manifest, and a trail rewritten behind the triggers' back is caught.

The commands run as the production roles would (throwaway owner and runtime roles, created
and dropped here, with a database of their own): the portal's default connection is pointed
at the restored database as one role or the other; the trail is tampered with through psql
as the superuser."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from incidents import services as desk
from incidents.models import Incident
from mof import backup
from mof.models import AuditEntry, Team, User
from mof.transitions import perform_transition
from tests.factories import ManagerFactory, TeamFactory, UserFactory
from tests.integration.test_db_roles import portal_connected_as

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="needs PostgreSQL (set DATABASE_URL=postgres://...)",
    ),
]


@contextmanager
def portal_on(database, user, password):
    """The portal's own code (pages, services, commands) on `database` as `user`."""
    db = connections["default"]
    db.close()
    saved = dict(db.settings_dict)
    db.settings_dict.update(NAME=database, USER=user, PASSWORD=password)
    try:
        yield
    finally:
        db.close()
        db.settings_dict.clear()
        db.settings_dict.update(saved)


def _command(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out, **options)
    return out.getvalue()


def _psql(roles, sql):
    """As the superuser the suite runs as."""
    db = roles["superuser"]
    subprocess.run(
        [
            "psql",
            "-h",
            db.get("HOST") or "127.0.0.1",
            "-p",
            str(db.get("PORT") or 5432),
            "-U",
            db["USER"] or "postgres",
            "-d",
            roles["target"],
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""},
    )


@pytest.fixture
def production_roles(transactional_db):
    """An owner and a runtime role as deploy/postgres/roles.sql makes them, the runtime role
    granted on the test database, and a new empty database owned by the owner; all dropped after."""
    suffix = secrets.token_hex(4)
    owner, runtime, password = f"mof_test_owner_{suffix}", f"mof_test_app_{suffix}", secrets.token_hex(12)
    target = f"{connection.settings_dict['NAME']}_restored_{suffix}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {owner} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'")
        cursor.execute(f"CREATE ROLE {runtime} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'")
        cursor.execute(f"CREATE DATABASE {target} OWNER {owner}")
    call_command("grant_runtime_role", runtime)
    try:
        superuser = {k: connection.settings_dict.get(k) for k in ("HOST", "PORT", "USER", "PASSWORD")}
        yield {"owner": owner, "runtime": runtime, "password": password, "target": target, "superuser": superuser}
    finally:
        connections.close_all()
        with connection.cursor() as cursor:
            # Only the subprocesses of this test were connected to it, and they have ended.
            cursor.execute(f"DROP DATABASE IF EXISTS {target} WITH (FORCE)")
            cursor.execute(f"DROP OWNED BY {runtime}")
            cursor.execute(f"DROP ROLE {runtime}")
            cursor.execute(f"DROP ROLE {owner}")


def _desk_with_history():
    agent = UserFactory(username="bk-agent", roles=["support"])
    group = TeamFactory(
        name="BK desk", role_cluster="support", manager=ManagerFactory(username="bk-lead"), members=[agent]
    )
    for title in ("Mail queue stuck", "VPN drops", "Printer offline"):
        incident = desk.incident_create(actor=agent, caller=agent, title=title, impact=2, urgency=2)
        desk.incident_assign(actor=agent, incident=incident, assignment_group=group, assignee=agent)
        perform_transition(model=Incident, pk=incident.pk, name="start_work", actor=agent)
    perform_transition(
        model=Incident,
        pk=Incident.objects.get(title="VPN drops").pk,
        name="resolve",
        actor=agent,
        data={"resolution_code": "fixed", "resolution_notes": "new certificate"},
    )
    return agent


def test_a_backup_restores_into_an_empty_database_with_the_portal_working_and_its_trail_verifiable(
    production_roles, tmp_path
):
    roles = production_roles
    _desk_with_history()
    transitions = AuditEntry.objects.filter(action="transition").count()
    entries = AuditEntry.objects.count()
    assert transitions >= 4

    # Backed up as the runtime role: it reads everything, which is all a dump needs.
    dump = tmp_path / "mof.dump"
    with portal_connected_as(roles["runtime"], roles["password"]):
        _command("backup_database", str(dump))
    manifest = json.loads(backup.manifest_path(dump).read_text())
    assert manifest["audit_trail"]["count"] == entries
    assert manifest["audit_trail"]["max_id"] == AuditEntry.objects.latest("id").pk
    assert "mof.0001_initial" in manifest["migrations"]

    with portal_on(roles["target"], roles["owner"], roles["password"]):
        restored = _command("restore_database", str(dump), runtime_role=roles["runtime"])
    assert "the audit trail matches the backup" in restored
    assert f"Granted runtime role {roles['runtime']}" in restored
    assert "Migrations: the backup's match this code's." in restored

    with portal_on(roles["target"], roles["runtime"], roles["password"]):
        # The portal on the restored database, as the runtime role: a page, a filing, a transition.
        agent = User.objects.get(username="bk-agent")
        old = Incident.objects.get(title="Mail queue stuck")
        client = Client()
        client.force_login(agent)
        page = client.get(reverse("incident_detail", args=[old.pk]))
        assert page.status_code == 200 and old.title in page.content.decode()
        new = desk.incident_create(actor=agent, caller=agent, title="Filed after the restore", impact=2, urgency=2)
        desk.incident_assign(
            actor=agent, incident=new, assignment_group=Team.objects.get(name="BK desk"), assignee=agent
        )
        assert perform_transition(model=Incident, pk=new.pk, name="start_work", actor=agent).status == "in_progress"
        assert AuditEntry.objects.filter(model_label="incidents.incident", object_id=str(new.pk)).count() >= 3

        checked = _command("verify_audit_trail", manifest=str(dump))
        assert f"Backup: {entries:,} entries up to id" in checked and "all present and unchanged" in checked
        assert "The audit trail verifies." in checked
        # Since the backup the trail has grown: accepted, but not with --exact.
        with pytest.raises(CommandError, match="are not in the backup"):
            _command("verify_audit_trail", manifest=str(dump), exact=True)

        # A superuser rewrites one transition behind the triggers' back: caught, with its id range.
        tampered = AuditEntry.objects.filter(action="transition").order_by("id").first()
        _psql(
            roles,
            "ALTER TABLE mof_auditentry DISABLE TRIGGER USER; "
            f"UPDATE mof_auditentry SET actor_name = 'someone-else' WHERE id = {tampered.pk}; "
            "ALTER TABLE mof_auditentry ENABLE TRIGGER USER;",
        )
        with pytest.raises(CommandError, match=r"differ from the backup \(same count, content differs\)"):
            _command("verify_audit_trail", manifest=str(dump))

        # ... and so is a trail whose append-only trigger was left switched off.
        _psql(roles, "ALTER TABLE mof_auditentry DISABLE TRIGGER mof_auditentry_append_only;")
        with pytest.raises(CommandError, match="trigger mof_auditentry_append_only on mof_auditentry is disabled"):
            _command("verify_audit_trail")

    # A second restore into the now used database is refused.
    with (
        portal_on(roles["target"], roles["owner"], roles["password"]),
        pytest.raises(CommandError, match="is not empty"),
    ):
        _command("restore_database", str(dump), runtime_role=roles["runtime"])


def test_a_restore_refuses_an_archive_that_is_not_the_one_its_manifest_describes(transactional_db, tmp_path):
    _desk_with_history()
    dump = tmp_path / "mof.dump"
    _command("backup_database", str(dump))
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    # Checked before anything is done to the database (this one is not even empty).
    with pytest.raises(CommandError, match="not the archive its manifest describes"):
        call_command("restore_database", str(dump))

    manifest_file = backup.manifest_path(dump)
    manifest = json.loads(manifest_file.read_text())
    manifest["audit_trail"]["count"] += 1  # a forged manifest: its signature no longer matches
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(CommandError, match="not signed with this portal's SECRET_KEY"):
        call_command("verify_audit_trail", "--manifest", str(dump))
