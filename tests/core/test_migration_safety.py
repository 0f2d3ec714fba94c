"""The migration policy (README, "Upgrades without downtime"), checked on every migration of
the project's apps without a database:

* every operation can be reversed (RunPython has reverse_code, RunSQL reverse_sql);
* none takes a long lock on a big table: no index built without CONCURRENTLY, no constraint
  validated or column rewritten under ACCESS EXCLUSIVE, no column added with a volatile
  database default (a table rewrite), no rename (the code still running breaks).

A table created in the same migration is empty: anything goes on it. Migrations written
before the policy are allowed by name below, each with the reason it was acceptable then.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.postgres.operations import (
    AddIndexConcurrently,
    RemoveIndexConcurrently,
)
from django.db import migrations
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.models import NOT_PROVIDED
from django.db.models.expressions import Value
from django.db.models.functions import Now

# Tables that grow with use (a row per ticket, event, attempt or audit entry): on them, an
# ACCESS EXCLUSIVE lock held for a scan or a rewrite stops the portal for minutes.
BIG_TABLES = {
    "changes_requestforchange",
    "django_session",
    "incidents_incident",
    "incidents_incidentnote",
    "integrations_deliveryattempt",
    "integrations_outboxevent",
    "integrations_webhookdelivery",
    "mof_auditentry",
    "mof_cirelationship",
    "mof_configurationitem",
    "mof_configurationitem_services",
    "mof_outgoingmail",
    "operations_jobrun",
    "operations_monitoringalert",
    "operations_monitoringevent",
    "slas_clocknotification",
    "slas_measurement",
    "slas_slaclock",
    "slas_ticketevent",
}

# Migrations written before this policy (all before the portal's first production release,
# while these tables were small): a new migration may not join them. Each with its reason.
ALLOWED = {
    "changes.0002_change_search_indexes": "trigram search indexes built on a young change table, before the policy",
    "incidents.0006_incident_search_indexes": "full-text index built on a young incident table, before the policy",
    "incidents.0007_incident_open_queue_indexes": "partial queue indexes built on a young incident table, before the policy",
    "incidents.0008_incident_stored_search_vector": "stored search column (a rewrite) and its index, before the policy",
    "mof.0005_impact_walk_and_ci_search_indexes": "CMDB index swap and trigram indexes, before the policy (timed in bench/README.md)",
    "slas.0006_clock_report_statistics": "report index on SLA clocks, before the policy",
    "slas.0007_notification_claims_and_indexes": "clock and notification indexes, before the policy",
    "slas.0009_recompute_chunks": "dropped a clock index inside a transaction, before the policy",
    "slas.0010_clock_running_due_index": "sweep index on SLA clocks, before the policy",
}

_INDEX_SQL = re.compile(
    r'\bCREATE\s+(?:UNIQUE\s+)?INDEX\s+(?!CONCURRENTLY)(?:IF\s+NOT\s+EXISTS\s+)?([^\s(]*)\s*ON\s+(?:ONLY\s+)?"?(\w+)"?',
    re.IGNORECASE,
)
# An ALTER TABLE statement (up to its end or 400 characters of source) ...
_ALTER_SQL = re.compile(r'\bALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?"?(\w+)"?([^;]{0,400})', re.IGNORECASE)
# ... that rewrites the table or scans it under ACCESS EXCLUSIVE.
_LOCKING_ALTERS = {
    "a column type change rewrites it": re.compile(r"\bTYPE\s+\w", re.IGNORECASE),
    "a stored generated column rewrites it": re.compile(
        r"\bGENERATED\s+ALWAYS\s+AS\b.*?\bSTORED\b", re.IGNORECASE | re.DOTALL
    ),
    "SET NOT NULL scans it under its lock": re.compile(r"\bSET\s+NOT\s+NULL\b", re.IGNORECASE),
    "a constraint added without NOT VALID is checked under its lock": re.compile(
        r"\bADD\s+CONSTRAINT\b(?!.*\bNOT\s+VALID\b)", re.IGNORECASE | re.DOTALL
    ),
}


def _project_apps() -> set[str]:
    from django.apps import apps

    root = Path(settings.BASE_DIR).resolve()
    return {c.label for c in apps.get_app_configs() if root in Path(c.path).resolve().parents and ".venv" not in c.path}


def _plan(loader):
    """Every migration in an order that applies dependencies first."""
    seen, plan = set(), []
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                plan.append(key)
    return plan


def _table(state, app_label, model_name):
    model = state.models[(app_label, model_name.lower())]
    return model.options.get("db_table") or f"{app_label}_{model.name_lower}"


def _sql_of(operation, migration) -> str:
    """The SQL a RunSQL runs; for a RunPython, the source of its migration's module and the
    strings its functions hold (this project's RunPython operations run SQL on PostgreSQL
    only, built in the module or imported from mof.migrations_sql)."""
    if isinstance(operation, migrations.RunSQL):
        sqls = operation.sql if isinstance(operation.sql, (list, tuple)) else [operation.sql]
        return "\n".join(s if isinstance(s, str) else s[0] for s in sqls)
    if isinstance(operation, migrations.RunPython):
        texts = [inspect.getsource(sys.modules[type(migration).__module__])]
        for function in (operation.code, operation.reverse_code):
            cells = [cell.cell_contents for cell in (getattr(function, "__closure__", None) or ())]
            for value in cells:
                texts += (
                    [value]
                    if isinstance(value, str)
                    else [v for v in value if isinstance(v, str)]
                    if isinstance(value, (list, tuple))
                    else []
                )
        return "\n".join(texts)
    return ""


def _sql_problems(sql: str, created: set[str]) -> list[str]:
    problems = []
    for match in _INDEX_SQL.finditer(sql):
        if match.group(2) in BIG_TABLES and match.group(2) not in created:
            problems.append(f"SQL builds index {match.group(1)} on {match.group(2)} without CONCURRENTLY")
    for match in _ALTER_SQL.finditer(sql):
        if match.group(1) in BIG_TABLES and match.group(1) not in created:
            problems += [
                f"SQL alters {match.group(1)}: {why}"
                for why, rule in _LOCKING_ALTERS.items()
                if rule.search(match.group(2))
            ]
    return problems


def _volatile(db_default) -> bool:
    return (
        db_default is not NOT_PROVIDED
        and not isinstance(db_default, (Value, Now))
        and not isinstance(db_default, (str, int, float, bool))
    )


def _problems(operation, state, app_label, created: set[str], migration=None) -> list[str]:
    """What locks a big table in `operation`, given the state before it."""
    if isinstance(operation, (migrations.RenameField, migrations.RenameModel, migrations.AlterModelTable)):
        return [
            f"{type(operation).__name__}: the code still running during the upgrade uses the old name (add, copy, switch, remove later)"
        ]
    model_name = getattr(operation, "model_name", None) or getattr(operation, "name", None)
    big = None
    if model_name and (app_label, str(model_name).lower()) in state.models:
        table = _table(state, app_label, model_name)
        big = table if table in BIG_TABLES and table not in created else None
    problems = []
    if big and isinstance(operation, migrations.AddField):
        field = operation.field
        if _volatile(getattr(field, "db_default", NOT_PROVIDED)):
            problems.append(f"AddField {operation.name} on {big}: a volatile database default rewrites the table")
        if field.unique or field.db_index or (field.is_relation and field.db_constraint):
            problems.append(
                f"AddField {operation.name} on {big}: its index or foreign key is built and checked under the table's lock"
            )
    if big and isinstance(operation, migrations.AlterField):
        old = state.models[(app_label, model_name.lower())].fields[operation.name]
        new = operation.field
        _, old_path, _, old_kwargs = old.deconstruct()
        _, new_path, _, new_kwargs = new.deconstruct()
        shorter = (new_kwargs.get("max_length") or 10**9) < (old_kwargs.get("max_length") or 10**9)
        if (
            old_path != new_path
            or shorter
            or any(old_kwargs.get(k) != new_kwargs.get(k) for k in ("max_digits", "decimal_places"))
        ):
            problems.append(f"AlterField {operation.name} on {big}: a type change rewrites the table")
        if old.null and not new.null:
            problems.append(
                f"AlterField {operation.name} on {big}: NOT NULL scans the table under its lock (add a CHECK NOT VALID, validate, then set)"
            )
        if (new.unique and not old.unique) or (new.db_index and not old.db_index):
            problems.append(f"AlterField {operation.name} on {big}: the index is built without CONCURRENTLY")
    if big and isinstance(operation, migrations.AddIndex) and not isinstance(operation, AddIndexConcurrently):
        problems.append(
            f"AddIndex {operation.index.name} on {big}: use AddIndexConcurrently in a migration with atomic = False"
        )
    if big and isinstance(operation, migrations.RemoveIndex) and not isinstance(operation, RemoveIndexConcurrently):
        problems.append(
            f"RemoveIndex {operation.name} on {big}: use RemoveIndexConcurrently in a migration with atomic = False"
        )
    if big and isinstance(operation, migrations.AddConstraint):
        problems.append(
            f"AddConstraint {operation.constraint.name} on {big}: validated under the table's lock (add it NOT VALID with RunSQL, VALIDATE in a later migration)"
        )
    problems += _sql_problems(_sql_of(operation, migration), created)
    return problems


def _walk():
    """(migration key, migration, operation, problems) for every operation of the project's apps."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    ours = _project_apps()
    state = ProjectState()
    for key in _plan(loader):
        migration = loader.graph.nodes[key]
        created = set()
        for operation in migration.operations:
            if isinstance(operation, migrations.CreateModel):
                created.add(operation.options.get("db_table") or f"{migration.app_label}_{operation.name.lower()}")
            problems = (
                _problems(operation, state, migration.app_label, created, migration)
                if migration.app_label in ours
                else []
            )
            if isinstance(operation, migrations.CreateModel):
                # Its many-to-many tables are new too.
                created |= {
                    f"{migration.app_label}_{operation.name.lower()}_{name}"
                    for name, f in operation.fields
                    if f.many_to_many
                }
            yield key, migration, operation, problems
            operation.state_forwards(migration.app_label, state)


def test_every_migration_of_the_project_can_be_reversed():
    irreversible = [
        f"{app}.{name}: {operation.describe()}"
        for (app, name), _migration, operation, _ in _walk()
        if app in _project_apps() and not operation.reversible
    ]
    assert not irreversible, (
        "give these a reverse (reverse_code / reverse_sql; RunPython.noop when there is nothing to undo):\n"
        + "\n".join(irreversible)
    )


def test_no_migration_locks_a_big_table():
    found = {}
    concurrent_in_atomic = []
    for (app, name), migration, operation, problems in _walk():
        for problem in problems:
            if problem not in found.setdefault(f"{app}.{name}", []):
                found[f"{app}.{name}"].append(problem)
        if isinstance(operation, (AddIndexConcurrently, RemoveIndexConcurrently)) and migration.atomic:
            concurrent_in_atomic.append(f"{app}.{name}")
    unexpected = {key: problems for key, problems in found.items() if key not in ALLOWED}
    assert not concurrent_in_atomic, f"CONCURRENTLY needs `atomic = False` on the migration: {concurrent_in_atomic}"
    assert not unexpected, "these migrations lock a big table (see README, Upgrades without downtime):\n" + "\n".join(
        f"{key}: {problem}" for key, problems in unexpected.items() for problem in problems
    )
    # The allow-list only shrinks: an entry that no longer finds anything is removed.
    stale = sorted(set(ALLOWED) - set(found))
    assert not stale, f"allowed but no longer found, remove from ALLOWED: {stale}"


def test_the_check_catches_what_the_policy_forbids():
    """The rules themselves, on migrations written to break them."""
    from django.db import models

    state = ProjectState()
    migrations.CreateModel(
        "Incident",
        [
            ("id", models.BigAutoField(primary_key=True)),
            ("title", models.CharField(max_length=200)),
            ("note", models.TextField(null=True)),
        ],
    ).state_forwards("incidents", state)
    bad = [
        migrations.AddIndex("incident", models.Index(fields=["title"], name="incident_title_idx")),
        migrations.AddField("incident", "seen", models.BooleanField(default=False, db_index=True)),
        migrations.AddField("incident", "token", models.UUIDField(db_default=models.Func(function="gen_random_uuid"))),
        migrations.AlterField("incident", "title", models.TextField()),
        migrations.AlterField("incident", "note", models.TextField(default="")),
        migrations.RunSQL("CREATE INDEX incident_x ON incidents_incident (title)", "DROP INDEX incident_x"),
        migrations.RunSQL("ALTER TABLE incidents_incident ALTER COLUMN title TYPE text", migrations.RunSQL.noop),
        migrations.RunSQL(
            "ALTER TABLE incidents_incident ADD COLUMN v tsvector GENERATED ALWAYS AS (to_tsvector(title)) STORED",
            migrations.RunSQL.noop,
        ),
        migrations.RunSQL("ALTER TABLE incidents_incident ADD CONSTRAINT c CHECK (id > 0)", migrations.RunSQL.noop),
        migrations.RenameField("incident", "title", "subject"),
    ]
    for operation in bad:
        assert _problems(operation, state, "incidents", set()), operation.describe()
    good = [
        AddIndexConcurrently("incident", models.Index(fields=["title"], name="incident_title_idx")),
        migrations.AddField("incident", "seen", models.BooleanField(default=False)),
        migrations.AddField("incident", "at", models.DateTimeField(db_default=Now(), null=True)),
        migrations.AlterField("incident", "title", models.CharField(max_length=300)),
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY incident_x ON incidents_incident (title)", "DROP INDEX CONCURRENTLY incident_x"
        ),
        migrations.RunSQL(
            "ALTER TABLE incidents_incident ADD CONSTRAINT c CHECK (id > 0) NOT VALID", migrations.RunSQL.noop
        ),
        migrations.RunSQL("ALTER TABLE incidents_incident VALIDATE CONSTRAINT c", migrations.RunSQL.noop),
    ]
    for operation in good:
        assert not _problems(operation, state, "incidents", set()), operation.describe()
    # On a table the same migration creates, anything goes.
    assert not _problems(bad[0], state, "incidents", {"incidents_incident"})
    assert not migrations.RunPython(lambda apps, schema_editor: None).reversible
