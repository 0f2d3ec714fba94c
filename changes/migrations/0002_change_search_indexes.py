"""PostgreSQL: trigram indexes for the change search (`title__icontains` is UPPER(title) LIKE ...)."""
from django.db import migrations

INDEXES = {
    "change_title_trgm_idx": "UPPER(title::text)",
    "change_description_trgm_idx": "UPPER(description::text)",
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm", params=None)
    for name, expression in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON changes_requestforchange USING gin ({expression} gin_trgm_ops)", params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    dependencies = [("changes", "0001_initial"), ("mof", "0005_impact_walk_and_ci_search_indexes")]
    operations = [migrations.RunPython(forwards, backwards)]
