"""PostgreSQL: the ticket event log (what SLA clocks are recomputed from) becomes append-only in
the database, like the audit trail: UPDATE and DELETE are refused to everyone, TRUNCATE to all
but a superuser (who can switch triggers off anyway, and empties the test database between
tests). The portal's runtime role has no UPDATE, DELETE or TRUNCATE privilege on it either
(mof.dbroles). Tools that must rewrite it (the benchmarks) run as a superuser with
session_replication_role = replica. Nothing on SQLite."""
from django.db import migrations

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION slas_ticketevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'TRUNCATE' AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    RETURN NULL;
  END IF;
  RAISE EXCEPTION 'the SLA event log is append-only: % refused on %', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$fn$;
CREATE TRIGGER slas_ticketevent_append_only
  BEFORE UPDATE OR DELETE ON slas_ticketevent
  FOR EACH ROW EXECUTE FUNCTION slas_ticketevent_append_only();
CREATE TRIGGER slas_ticketevent_refuse_truncate
  BEFORE TRUNCATE ON slas_ticketevent
  FOR EACH STATEMENT EXECUTE FUNCTION slas_ticketevent_append_only();
"""

DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS slas_ticketevent_append_only ON slas_ticketevent;
DROP TRIGGER IF EXISTS slas_ticketevent_refuse_truncate ON slas_ticketevent;
DROP FUNCTION IF EXISTS slas_ticketevent_append_only();
"""


def postgres_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("slas", "0010_clock_running_due_index")]

    operations = [
        migrations.RunPython(postgres_only(APPEND_ONLY), postgres_only(DROP_APPEND_ONLY)),
    ]
