"""PostgreSQL roles: a migration role owns the schema, the portal runs as a role that owns nothing.

An owner can TRUNCATE its tables, disable their triggers and drop them, so a portal connected
as the owner could rewrite the audit trail and the SLA event log however append-only their
triggers are. In production the web server, the worker and beat connect as a runtime role
that owns nothing and is no superuser: it holds only the grants below, and so can neither
disable a trigger nor switch to session_replication_role = replica (superuser only).

The grants are given after every `manage.py migrate` (post_migrate, as the owner, when
MOF_DB_RUNTIME_ROLE names the runtime role) and by `manage.py grant_runtime_role <role>`:

* the database: CONNECT and TEMPORARY (the impact walk keeps its visited set in a temp table);
* the schema: USAGE only (the runtime role creates nothing);
* every table: SELECT, INSERT, UPDATE, DELETE; an append-only log (a model with
  `append_only = True`: the audit trail, the SLA ticket event log) SELECT and INSERT only;
  django_migrations SELECT only; TRUNCATE, REFERENCES and TRIGGER nowhere;
* every sequence: USAGE, SELECT, UPDATE (setval, for the numbering sequences), except the id
  sequences of the logs: USAGE, SELECT;
* the project's own functions: EXECUTE.

Re-granting after every migrate is what covers the tables later migrations create (default
privileges would cover only tables created by the role that set them, and not the logs' rules);
it is idempotent and converges: what a table should not have is revoked again.
"""

from __future__ import annotations

from django.apps import apps
from django.db import connections, transaction

TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
LOG_PRIVILEGES = "SELECT, INSERT"
READ_ONLY = {"django_migrations"}


class RoleError(Exception):
    """The runtime role cannot be granted safely (missing, superuser, owns objects...)."""


def append_only_tables() -> list[str]:
    return sorted(m._meta.db_table for m in apps.get_models() if getattr(m, "append_only", False))


def _owned_objects(cursor, owner_sql: str, params) -> list[tuple[str, str]]:
    """(relkind, name) of the relations in the current schema owned by a role, leaving out
    those that belong to an extension."""
    cursor.execute(
        "SELECT c.relkind, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
        f"AND {owner_sql} "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') "
        "ORDER BY c.relname",
        params,
    )
    return cursor.fetchall()


def grant_runtime_role(role: str, *, using: str = "default") -> dict[str, int]:
    """Give `role` what the running portal needs and no more. Run as the schema's owner."""
    from mof.numbering import sync_sequences

    connection = connections[using]
    if connection.vendor != "postgresql":
        raise RoleError("database roles exist on PostgreSQL only")
    qn = connection.ops.quote_name
    logs = set(append_only_tables())
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper, pg_has_role(oid, current_user, 'MEMBER') FROM pg_roles WHERE rolname = %s", [role]
        )
        found = cursor.fetchone()
        if found is None:
            raise RoleError(f"role {role!r} does not exist (create it first: CREATE ROLE {role} LOGIN PASSWORD '...')")
        superuser, member_of_owner = found
        if superuser:
            raise RoleError(f"role {role!r} is a superuser: it bypasses every grant and trigger")
        if member_of_owner:
            raise RoleError(
                f"role {role!r} is the owner (or a member of the owner role): it would hold the owner's rights"
            )
        owned = _owned_objects(cursor, "c.relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)", [role])
        if owned:
            names = ", ".join(name for _, name in owned[:5])
            raise RoleError(
                f"role {role!r} owns {len(owned)} relation(s) ({names}): give them to the migration role first "
                f"(REASSIGN OWNED BY {role} TO <owner>, as a superuser)"
            )
        sync_sequences()  # the runtime role may not create the numbering sequences on first use
        cursor.execute(
            "SELECT current_database(), current_schema(), "
            "(SELECT pg_has_role(datdba, 'USAGE') FROM pg_database WHERE datname = current_database()), "
            "(SELECT pg_has_role(nspowner, 'USAGE') FROM pg_namespace WHERE nspname = current_schema())"
        )
        database, schema, owns_database, owns_schema = cursor.fetchone()
        grantee = qn(role)
        statements = []
        # Only their owner can grant these; where someone else owns them (a managed service's
        # administrator), PUBLIC's defaults (CONNECT, TEMPORARY, USAGE on public) apply.
        if owns_database:
            statements.append(f"GRANT CONNECT, TEMPORARY ON DATABASE {qn(database)} TO {grantee}")
        if owns_schema:
            statements.append(f"GRANT USAGE ON SCHEMA {qn(schema)} TO {grantee}")
        counts = {"tables": 0, "logs": 0, "sequences": 0, "functions": 0}
        log_sequences = _log_sequences(cursor, logs)
        for kind, name in _owned_objects(cursor, "pg_has_role(c.relowner, 'USAGE')", []):
            target = qn(name)
            if kind == "S":
                counts["sequences"] += 1
                if name in log_sequences:
                    statements += [
                        f"GRANT USAGE, SELECT ON SEQUENCE {target} TO {grantee}",
                        f"REVOKE UPDATE ON SEQUENCE {target} FROM {grantee}",
                    ]
                else:
                    statements.append(f"GRANT USAGE, SELECT, UPDATE ON SEQUENCE {target} TO {grantee}")
                continue
            if name in logs:
                counts["logs"] += 1
                granted, withheld = LOG_PRIVILEGES, "UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
            elif name in READ_ONLY or kind == "m":
                counts["tables"] += 1
                granted, withheld = "SELECT", "INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"
            else:
                counts["tables"] += 1
                granted, withheld = TABLE_PRIVILEGES, "TRUNCATE, REFERENCES, TRIGGER"
            statements += [
                f"GRANT {granted} ON TABLE {target} TO {grantee}",
                f"REVOKE {withheld} ON TABLE {target} FROM {grantee}",
            ]
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND pg_has_role(p.proowner, 'USAGE') AND p.prokind IN ('f', 'p') "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"
        )
        for (signature,) in cursor.fetchall():
            counts["functions"] += 1
            statements.append(f"GRANT EXECUTE ON ROUTINE {signature} TO {grantee}")
        for sql in statements:
            cursor.execute(sql)
    return counts


def _log_sequences(cursor, logs) -> set[str]:
    """The sequences behind the logs' id columns (identity or serial)."""
    if not logs:
        return set()
    cursor.execute(
        "SELECT s.relname FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' "
        "JOIN pg_class t ON t.oid = d.refobjid WHERE d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
        "AND t.relname = ANY(%s) AND t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
        [sorted(logs)],
    )
    return {name for (name,) in cursor.fetchall()}


def runtime_role_problems(*, using: str = "default") -> list[str]:
    """What is wrong with the role the portal is connected as (empty: nothing): it must be no
    superuser, own nothing, and be able to add to the logs but not to change or empty them."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return ["not PostgreSQL: there are no database roles to check"]
    problems = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        role, superuser = cursor.fetchone()
        if superuser:
            problems.append(f"{role} is a superuser")
        owned = _owned_objects(cursor, "pg_has_role(c.relowner, 'USAGE')", [])
        if owned:
            problems.append(f"{role} owns {len(owned)} relations (or is a member of their owner), e.g. {owned[0][1]}")
        for table in append_only_tables():
            for privilege in ("SELECT", "INSERT"):
                cursor.execute("SELECT has_table_privilege(%s, %s)", [table, privilege])
                if not cursor.fetchone()[0]:
                    problems.append(f"{role} lacks {privilege} on {table}")
            for privilege in ("UPDATE", "DELETE", "TRUNCATE", "TRIGGER"):
                cursor.execute("SELECT has_table_privilege(%s, %s)", [table, privilege])
                if cursor.fetchone()[0]:
                    problems.append(f"{role} holds {privilege} on {table}")
    return problems


def grant_after_migrate(sender, using="default", **kwargs):
    """post_migrate: re-grant the runtime role (MOF_DB_RUNTIME_ROLE) once per migrate run."""
    from django.conf import settings

    role = getattr(settings, "MOF_DB_RUNTIME_ROLE", "")
    if not role or sender.name != "mof" or connections[using].vendor != "postgresql":
        return
    counts = grant_runtime_role(role, using=using)
    if kwargs.get("verbosity", 1) >= 1:
        print(
            f"Granted runtime role {role}: {counts['tables']} tables, {counts['logs']} append-only logs (read and add only), "
            f"{counts['sequences']} sequences, {counts['functions']} functions."
        )
