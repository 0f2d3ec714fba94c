"""Full-text search over incidents on PostgreSQL (indexes only; nothing on SQLite).

incidents.selectors.search() matches with SearchVector("title", "description",
config="english"), which Django compiles to the expression below; a GIN index on exactly
that expression lets PostgreSQL find the matching rows (`@@`) without computing
to_tsvector() for every incident (1,000,000 in bench/bench_incidents.py: a sequential scan
of several seconds without it).
"""
from django.db import migrations

INCIDENT_FTS = """
CREATE INDEX IF NOT EXISTS incident_fts_idx ON incidents_incident
USING gin (to_tsvector('english'::regconfig, COALESCE(title, '') || ' ' || COALESCE(description, '')))
"""
DROP_INCIDENT_FTS = "DROP INDEX IF EXISTS incident_fts_idx"


def postgres_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("incidents", "0005_incident_sla_breached")]

    operations = [
        migrations.RunPython(postgres_only(INCIDENT_FTS), postgres_only(DROP_INCIDENT_FTS)),
    ]
