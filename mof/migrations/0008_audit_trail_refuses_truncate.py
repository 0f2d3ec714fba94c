"""PostgreSQL: the audit trail refuses TRUNCATE as it refuses UPDATE and DELETE (0002), except
to a superuser (see mof.migrations_sql.AUDIT_REFUSES_TRUNCATE). Nothing on SQLite."""
from django.db import migrations

from mof.migrations_sql import AUDIT_REFUSES_TRUNCATE, DROP_AUDIT_REFUSES_TRUNCATE


def postgres_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("mof", "0007_lockouts_prune_schedule")]

    operations = [
        migrations.RunPython(postgres_only(AUDIT_REFUSES_TRUNCATE), postgres_only(DROP_AUDIT_REFUSES_TRUNCATE)),
    ]
