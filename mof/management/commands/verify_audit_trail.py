"""Check the audit trail: its append-only triggers are in place, and, given a backup's
manifest, that every entry the backup holds is still there unchanged (mof.backup).

    manage.py verify_audit_trail                         # triggers, count, highest id
    manage.py verify_audit_trail --manifest X.dump       # ... and compare with that backup

Entries added after the backup are counted, and accepted unless --exact (a database just
restored from that backup must hold exactly its entries). Exits non-zero on any problem.

Gaps in the ids prove nothing: an entry is written in its business write's transaction, and
a rolled-back transaction has used its ids. Hence the comparison with a manifest.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction

from mof import backup


class Command(BaseCommand):
    help = "Check the audit trail's triggers and compare it with a backup's manifest."

    def add_arguments(self, parser):
        parser.add_argument("--manifest", help="a backup archive or its .manifest.json")
        parser.add_argument("--exact", action="store_true", help="entries added after the backup are a problem too")
        parser.add_argument("--database", default="default")

    def handle(self, *args, manifest, exact, database, **options):
        try:
            backup.require_postgres(database)
            expected = None
            if manifest:
                path = Path(manifest)
                if not path.name.endswith(".manifest.json"):
                    path = backup.manifest_path(path)
                expected = backup.load_manifest(path)["audit_trail"]
        except backup.BackupError as e:
            raise CommandError(str(e)) from e
        problems, summary = verify(database, expected, exact=exact)
        for line in summary:
            self.stdout.write(line)
        if problems:
            raise CommandError("the audit trail does not verify:\n  " + "\n  ".join(problems))
        self.stdout.write(self.style.SUCCESS("The audit trail verifies."))


def verify(database: str, expected: dict | None, *, exact: bool) -> tuple[list[str], list[str]]:
    """(problems, summary lines). One snapshot for the whole comparison."""
    with transaction.atomic(using=database), connections[database].cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        problems = backup.trigger_problems(cursor)
        cursor.execute(f"SELECT count(*), coalesce(max(id), 0) FROM {backup.AUDIT_TABLE}")
        count, max_id = cursor.fetchone()
        summary = [f"Audit trail: {count:,} entries, highest id {max_id}."]
        if expected is not None:
            found, added = backup.compare_trail(cursor, expected, exact=exact)
            problems += found
            summary.append(
                f"Backup: {expected['count']:,} entries up to id {expected['max_id']}; "
                f"{'all present and unchanged' if not found else 'differences found'}; {added:,} added since."
            )
    return problems, summary
