"""Impact analysis and CI search on PostgreSQL.

* ci_rel_target_idx (target, source) becomes (target, source, type): the downstream walk
  reads every edge it needs from the index alone (index-only scans).
* mof_ci_reach re-created (CREATE OR REPLACE): deterministic via edge (relationship type in
  the ORDER BY), visited set kept per session, frontier in an array. See migrations_sql.
* pg_trgm GIN indexes for the CI name/description search (icontains).
"""
from django.db import migrations, models

from mof.migrations_sql import (
    CI_REACH_FUNCTION,
    CI_REACH_FUNCTION_V2,
    CI_SEARCH_TRGM,
    DROP_CI_SEARCH_TRGM,
)


def postgres_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("mof", "0004_user_is_system")]

    operations = [
        migrations.RemoveIndex(model_name="cirelationship", name="ci_rel_target_idx"),
        migrations.AddIndex(
            model_name="cirelationship",
            index=models.Index(fields=["target", "source", "type"], name="ci_rel_target_type_idx"),
        ),
        migrations.RunPython(postgres_only(CI_REACH_FUNCTION_V2), postgres_only(CI_REACH_FUNCTION)),
        migrations.RunPython(postgres_only(CI_SEARCH_TRGM), postgres_only(DROP_CI_SEARCH_TRGM)),
    ]
