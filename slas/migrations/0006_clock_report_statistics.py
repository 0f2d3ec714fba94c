"""PostgreSQL: extended statistics on the month/week truncations the compliance trend groups
by, so the planner expects few groups (a year of a million clocks: under a second), and an
index for the report's period scan."""
from django.conf import settings
from django.db import migrations


def statements(tz):
    return [
        f"CREATE STATISTICS IF NOT EXISTS slas_clock_month_stats ON (date_trunc('month', started_at AT TIME ZONE '{tz}')) FROM slas_slaclock",
        f"CREATE STATISTICS IF NOT EXISTS slas_clock_week_stats ON (date_trunc('week', started_at AT TIME ZONE '{tz}')) FROM slas_slaclock",
        "CREATE INDEX IF NOT EXISTS slas_clock_report_idx ON slas_slaclock (started_at) INCLUDE (version_id, metric, state)",
        "ANALYZE slas_slaclock",
    ]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    tz = settings.TIME_ZONE.replace("'", "")
    for sql in statements(tz):
        schema_editor.execute(sql, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for sql in ("DROP STATISTICS IF EXISTS slas_clock_month_stats", "DROP STATISTICS IF EXISTS slas_clock_week_stats", "DROP INDEX IF EXISTS slas_clock_report_idx"):
        schema_editor.execute(sql, params=None)


class Migration(migrations.Migration):
    atomic = False  # ANALYZE
    dependencies = [("slas", "0005_capacity_forecast_schedule")]
    operations = [migrations.RunPython(forwards, backwards)]
