"""Back up the PostgreSQL database: a pg_dump archive (custom format) and its manifest.

    manage.py backup_database /backups/mof-2026-12-07.dump
    manage.py backup_database --to-storage backups/mof-2026-12-07.dump   # into STORAGES["default"]

With --to-storage FILE names a file in the portal's storage (STORAGES["default"], mof.storage:
a folder, or an S3-compatible bucket with MOF_STORAGE=s3), so that the archive outlives the
machine that wrote it: the archive is written to a temporary folder, then both files are
saved through Django's storage API and the temporary copies removed.

pg_dump reads one snapshot, so the archive is consistent while the portal keeps working.
The snapshot is exported from this command's own transaction and handed to pg_dump, and the
audit trail's manifest (FILE.manifest.json: its count, highest id and digests, the applied
migrations, the archive's SHA-256, signed with SECRET_KEY) is read in that same snapshot:
the manifest describes exactly the trail in the archive. The runtime role can run it (it
reads every table); so can the owner. Connect to PostgreSQL itself, not through a pooler
in statement mode (the exported snapshot lives in this command's transaction).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from django.core.files import File
from django.core.files.storage import storages
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction

from mof import backup


class Command(BaseCommand):
    help = "Write a consistent pg_dump archive of the database and its audit-trail manifest (FILE.manifest.json)."

    def add_arguments(self, parser):
        parser.add_argument(
            "file", help="the archive to write (pg_dump custom format); FILE.manifest.json is written beside it"
        )
        parser.add_argument("--force", action="store_true", help="overwrite an existing archive")
        parser.add_argument(
            "--to-storage",
            action="store_true",
            help='FILE is a name in the portal\'s storage (STORAGES["default"]: a folder or an S3-compatible bucket)',
        )
        parser.add_argument("--database", default="default")

    def handle(self, *args, file, force, database, to_storage=False, **options):
        if to_storage:
            return self._to_storage(file, force=force, database=database)
        self._backup(Path(file).resolve(), force=force, database=database)

    def _to_storage(self, name: str, *, force: bool, database: str) -> None:
        storage = storages["default"]
        name = name.strip("/")
        manifest_name = backup.manifest_path(Path(name)).as_posix()
        if not name or name.endswith("/"):
            raise CommandError("name the archive's file in the storage, e.g. backups/mof-2026-12-07.dump")
        existing = [n for n in (name, manifest_name) if storage.exists(n)]
        if existing and not force:
            raise CommandError(f"{', '.join(existing)} exists already in the storage (--force overwrites)")
        folder = Path(tempfile.mkdtemp(prefix="mof-backup-"))
        try:
            dump = folder / Path(name).name
            self._backup(dump, force=False, database=database)
            for local, target in ((dump, name), (backup.manifest_path(dump), manifest_name)):
                if storage.exists(target):
                    storage.delete(target)
                with open(local, "rb") as f:
                    saved = storage.save(target, File(f, name=target))
                if saved != target:
                    raise CommandError(f"the storage saved {target} as {saved}")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.stdout.write(
            self.style.SUCCESS(f"Stored {name} and {manifest_name} in the storage ({type(storage).__name__}).")
        )

    def _backup(self, dump: Path, *, force: bool, database: str) -> None:
        manifest_file = backup.manifest_path(dump)
        if (dump.exists() or manifest_file.exists()) and not force:
            raise CommandError(f"{dump} or its manifest exists already (--force overwrites)")
        if not dump.parent.is_dir():
            raise CommandError(f"no such folder: {dump.parent}")
        try:
            backup.require_postgres(database)
            pg_dump = backup.client_program("pg_dump", database)
        except backup.BackupError as e:
            raise CommandError(str(e)) from e
        partial = dump.with_name(dump.name + ".partial")
        connection = connections[database]
        try:
            with transaction.atomic(using=database), connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute(
                    "SELECT pg_export_snapshot(), current_database(), current_setting('server_version'), "
                    "(SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    " WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p'))"
                )
                snapshot, name, version, tables = cursor.fetchone()
                process = subprocess.Popen(
                    [pg_dump, "--format=custom", "--verbose", f"--snapshot={snapshot}", f"--file={partial}"],
                    env=backup.libpq_environment(database),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                errors: list[str] = []
                reader = threading.Thread(target=self._progress, args=(process.stderr, tables, errors), daemon=True)
                reader.start()
                # Read in the exported snapshot while pg_dump dumps it.
                trail = backup.trail_summary(cursor)
                migrations = backup.applied_migrations(cursor)
                returncode = process.wait()
                reader.join()
                if returncode:
                    raise CommandError("pg_dump failed:\n" + "\n".join(errors[-20:]))
            partial.replace(dump)
            manifest = backup.build_manifest(
                database=name, server_version=version, trail=trail, migrations=migrations, dump=dump
            )
            manifest_file.write_text(json.dumps(manifest, indent=1) + "\n")
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up {name} ({tables} tables, {manifest['dump_bytes']:,} bytes) to {dump}; "
                f"audit trail: {trail['count']:,} entries up to id {trail['max_id']}, manifest {manifest_file.name}"
            )
        )

    def _progress(self, stream, tables, errors):
        """pg_dump --verbose names each table as it dumps its rows: one line that counts them."""
        done, tty = 0, sys.stdout.isatty()
        for line in stream:
            line = line.rstrip()
            if "dumping contents of table" in line:
                done += 1
                if tty:
                    sys.stdout.write(f"\rdumping table {done}/{tables}: {line.rsplit(' ', 1)[-1][:60]:<60}")
                    sys.stdout.flush()
            elif "error" in line.lower() or "warning" in line.lower():
                errors.append(line)
        if tty and done:
            sys.stdout.write("\n")
