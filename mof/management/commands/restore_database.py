"""Restore a backup (manage.py backup_database) into an empty database.

    manage.py restore_database /backups/mof-2026-12-07.dump
    manage.py restore_database --from-storage backups/mof-2026-12-07.dump   # from STORAGES["default"]

Run it with DATABASE_URL naming the role that owns the schema (the one `migrate` uses),
connected to a new, empty database that role owns (deploy/postgres/roles.sql creates one).
The archive's objects become the connected role's (pg_restore --no-owner) and its grants are
left out (--no-privileges): MOF_DB_RUNTIME_ROLE (or --runtime-role) is granted afterwards as
after a migrate, so the archive may come from an installation whose roles had other names.
All in one transaction: a failed restore leaves the database empty.

It refuses a database that holds any table: restoring over live data is never what is wanted
in a hurry; drop and create the database instead. Before loading, the archive is checked
against its manifest (size, SHA-256, signature); after loading, the restored audit trail
must hold exactly the manifest's entries, and the migrations are compared with this code's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.migrations.loader import MigrationLoader

from mof import backup
from mof.dbroles import RoleError, grant_runtime_role
from mof.management.commands.verify_audit_trail import verify


class Command(BaseCommand):
    help = (
        "Restore a backup_database archive into an empty database, grant the runtime role and verify the audit trail."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the archive written by backup_database")
        parser.add_argument(
            "--runtime-role", default=None, help="role to grant afterwards (default: MOF_DB_RUNTIME_ROLE)"
        )
        parser.add_argument(
            "--without-manifest",
            action="store_true",
            help="restore an archive whose manifest is lost (nothing to verify the audit trail against)",
        )
        parser.add_argument(
            "--from-storage",
            action="store_true",
            help="FILE is a name in the portal's storage (backup_database --to-storage)",
        )
        parser.add_argument("--database", default="default")

    def handle(self, *args, file, runtime_role, without_manifest, database, from_storage=False, **options):
        if not from_storage:
            return self._restore(file, runtime_role, without_manifest, database)
        storage, name = storages["default"], file.strip("/")
        folder = Path(tempfile.mkdtemp(prefix="mof-restore-"))
        try:
            for source in (name, backup.manifest_path(Path(name)).as_posix()):
                if not storage.exists(source):
                    if source != name and without_manifest:
                        continue
                    raise CommandError(f"no {source} in the storage ({type(storage).__name__})")
                with storage.open(source, "rb") as f, open(folder / Path(source).name, "wb") as out:
                    shutil.copyfileobj(f, out, 1024 * 1024)
            self._restore(str(folder / Path(name).name), runtime_role, without_manifest, database)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _restore(self, file, runtime_role, without_manifest, database):
        dump = Path(file).resolve()
        role = settings.MOF_DB_RUNTIME_ROLE if runtime_role is None else runtime_role
        try:
            backup.require_postgres(database)
            if not dump.is_file():
                raise backup.BackupError(f"no such archive: {dump}")
            manifest = None if without_manifest else self._checked_manifest(dump)
            self._check_target(database, role)
            pg_restore = backup.client_program("pg_restore", database)
        except backup.BackupError as e:
            raise CommandError(str(e)) from e

        connection = connections[database]
        name = connection.settings_dict["NAME"]
        connection.close()  # pg_restore works on its own connection; ours sees the new schema afterwards
        process = subprocess.Popen(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                "--verbose",
                f"--dbname={name}",
                str(dump),
            ],
            env=backup.libpq_environment(database),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = self._progress(process.stderr)
        if process.wait():
            raise CommandError("pg_restore failed, nothing was restored:\n" + "\n".join(lines[-15:]))

        if role:
            try:
                counts = grant_runtime_role(role, using=database)
            except RoleError as e:
                raise CommandError(f"restored, but the runtime role was not granted: {e}") from e
            self.stdout.write(
                f"Granted runtime role {role}: {counts['tables']} tables, {counts['logs']} append-only logs."
            )
        self._report_migrations(database, manifest)

        problems, summary = verify(database, manifest["audit_trail"] if manifest else None, exact=True)
        for line in summary:
            self.stdout.write(line)
        if problems:
            raise CommandError("restored, but the audit trail does not match the backup:\n  " + "\n  ".join(problems))
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {dump.name} into {name}"
                + ("; the audit trail matches the backup." if manifest else " (no manifest: the trail is unverified).")
            )
        )

    def _checked_manifest(self, dump: Path) -> dict:
        path = backup.manifest_path(dump)
        if not path.is_file():
            raise backup.BackupError(
                f"no manifest beside the archive ({path.name}); --without-manifest restores without verifying the trail"
            )
        manifest = backup.load_manifest(path)
        if dump.stat().st_size != manifest["dump_bytes"] or backup.file_sha256(dump) != manifest["dump_sha256"]:
            raise backup.BackupError(
                f"{dump.name} is not the archive its manifest describes (size or SHA-256 differ): truncated or altered"
            )
        return manifest

    def _check_target(self, database: str, role: str) -> None:
        with connections[database].cursor() as cursor:
            cursor.execute(
                "SELECT current_user, current_database(), rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            user, name, superuser = cursor.fetchone()
            if role and user == role:
                raise backup.BackupError(
                    f"connected as the runtime role {role}: restore as the role that owns the schema (the one migrate uses)"
                )
            cursor.execute(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') "
                "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')"
            )
            (relations,) = cursor.fetchone()
        if relations:
            raise backup.BackupError(
                f"database {name} is not empty ({relations} tables, views or sequences): restore into a new, empty database "
                f"owned by the schema's owner (dropdb {name}; createdb -O <owner> {name}, or deploy/postgres/roles.sql), "
                "with nothing run against it first (no migrate)"
            )
        if superuser:
            self.stderr.write(
                self.style.WARNING(
                    f"connected as the superuser {user}: the restored objects will be owned by it; in production restore as the owner role"
                )
            )

    def _progress(self, stream) -> list[str]:
        lines, done, tty = [], 0, sys.stdout.isatty()
        for line in stream:
            line = line.rstrip()
            lines.append(line)
            if "processing data for table" in line:
                done += 1
                if tty:
                    sys.stdout.write(f"\rrestoring table {done}: {line.rsplit(' ', 1)[-1][:60]:<60}")
                    sys.stdout.flush()
        if tty and done:
            sys.stdout.write("\n")
        return lines

    def _report_migrations(self, database: str, manifest: dict | None) -> None:
        loader = MigrationLoader(connections[database], ignore_no_migrations=True)
        applied = {f"{app}.{name}" for app, name in loader.applied_migrations}
        known = {f"{app}.{name}" for app, name in loader.disk_migrations}
        unknown = sorted(applied - known)
        pending = sorted(known - applied)
        if unknown:
            self.stderr.write(
                self.style.WARNING(
                    f"the backup has {len(unknown)} migration(s) this code does not know (e.g. {unknown[0]}): "
                    "it was taken by a newer version; run that version (or newer) against it"
                )
            )
        if pending:
            self.stdout.write(
                f"{len(pending)} migration(s) of this code are not applied yet: run manage.py migrate (as the owner)."
            )
        else:
            self.stdout.write("Migrations: the backup's match this code's.")
