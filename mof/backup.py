"""Backups of the PostgreSQL database and the audit trail's manifest (PostgreSQL only).

`manage.py backup_database FILE` writes a pg_dump archive (custom format) and FILE.manifest.json
beside it; `manage.py restore_database FILE` loads the archive into an empty database as the
schema's owner, grants the runtime role and checks the restored trail against the manifest;
`manage.py verify_audit_trail [--manifest FILE]` checks a live database.

Why a manifest and not a hash chain in the trail: a chain needs each entry to know its
predecessor, so every transaction writing an audit entry (every filing, transition, edit)
would have to take one global lock and hold it until it commits: the portal's writes would
queue behind one another, exactly the shared hot spot that scaling out forbids. The manifest
costs nothing at write time: the backup reads the trail in the very snapshot pg_dump dumps
(an exported snapshot) and records its count, its highest id and SHA-256 digests of its rows
in chunks of ids, signed with SECRET_KEY; a restored (or the live) trail is compared with it:
an entry removed, changed or slipped in among the backed-up ids is found, with its id range.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

AUDIT_TABLE = "mof_auditentry"
CHUNK_ROWS = 10_000
MANIFEST_FORMAT = 1
SIGNATURE_SALT = "mof.backup.manifest"

# One entry's content as text, independent of the session's time zone and date style (the
# time is rendered explicitly; jsonb's text form is canonical). The columns are named, so a
# column added to the table later does not change the digest of the entries backed up before.
_ROW_DIGEST = (
    "encode(sha256(convert_to(ROW(id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), actor_id, "
    "actor_name, via, action, model_label, object_id, object_repr, changes, transition, reason, detail)::text, 'UTF8')), 'hex')"
)


class BackupError(Exception):
    """A backup, a restore or a verification that cannot go on, with the reason."""


def manifest_path(dump: Path) -> Path:
    return dump.with_name(dump.name + ".manifest.json")


# --- the PostgreSQL client programs -------------------------------------------------------------


def server_major(using: str = "default") -> int:
    with connections[using].cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0]) // 10000


def client_program(name: str, using: str = "default") -> str:
    """pg_dump / pg_restore of the server's major version: MOF_PG_BIN_DIR, else Debian's
    /usr/lib/postgresql/<major>/bin, else the one on PATH (which must not be older)."""
    candidates = []
    if getattr(settings, "MOF_PG_BIN_DIR", ""):
        candidates.append(Path(settings.MOF_PG_BIN_DIR) / name)
    candidates.append(Path(f"/usr/lib/postgresql/{server_major(using)}/bin") / name)
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} not found: install the PostgreSQL client programs or set MOF_PG_BIN_DIR")
    return found


# libpq reads these from the environment: the connection settings never appear on a command line.
_LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "options": "PGOPTIONS",
    "service": "PGSERVICE",
    "passfile": "PGPASSFILE",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


def libpq_environment(using: str = "default") -> dict[str, str]:
    db = connections[using].settings_dict
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, var in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
        ("NAME", "PGDATABASE"),
    ):
        if db.get(key):
            env[var] = str(db[key])
    for key, var in _LIBPQ_OPTIONS.items():
        if db.get("OPTIONS", {}).get(key):
            env[var] = str(db["OPTIONS"][key])
    env["PGAPPNAME"] = "mof-backup"
    return env


def require_postgres(using: str = "default") -> None:
    if connections[using].vendor != "postgresql":
        raise BackupError(
            "backups are for PostgreSQL (DATABASE_URL=postgres://...); a SQLite demo is one file under var/"
        )


# --- the audit trail's digest ---------------------------------------------------------------


def _chunk_digest(rows) -> str:
    digest = hashlib.sha256()
    for row_id, row_hash in rows:
        digest.update(f"{row_id}:{row_hash}\n".encode())
    return digest.hexdigest()


def trail_summary(cursor) -> dict:
    """Count, id range and digests of the whole trail as `cursor`'s snapshot sees it."""
    chunks, count, last = [], 0, 0
    while True:
        cursor.execute(
            f"SELECT id, {_ROW_DIGEST} FROM {AUDIT_TABLE} WHERE id > %s ORDER BY id LIMIT %s", [last, CHUNK_ROWS]
        )
        rows = cursor.fetchall()
        if not rows:
            break
        # A chunk covers the ids after the previous chunk's last up to its own last.
        chunks.append({"last_id": rows[-1][0], "count": len(rows), "digest": _chunk_digest(rows)})
        count += len(rows)
        last = rows[-1][0]
    whole = hashlib.sha256("".join(c["digest"] for c in chunks).encode()).hexdigest()
    return {
        "table": AUDIT_TABLE,
        "count": count,
        "max_id": last,
        "digest": whole,
        "chunk_rows": CHUNK_ROWS,
        "chunks": chunks,
    }


def compare_trail(cursor, expected: dict, *, exact: bool) -> tuple[list[str], int]:
    """Problems found comparing the trail with a manifest's summary, and how many entries
    were added after it (ids above its highest). `exact`: added entries are a problem too."""
    problems, previous = [], 0
    for chunk in expected["chunks"]:
        cursor.execute(
            f"SELECT id, {_ROW_DIGEST} FROM {AUDIT_TABLE} WHERE id > %s AND id <= %s ORDER BY id",
            [previous, chunk["last_id"]],
        )
        rows = cursor.fetchall()
        if len(rows) != chunk["count"] or _chunk_digest(rows) != chunk["digest"]:
            how = (
                f"{len(rows)} entries, the backup has {chunk['count']}"
                if len(rows) != chunk["count"]
                else "same count, content differs"
            )
            problems.append(f"entries with ids {previous + 1}-{chunk['last_id']} differ from the backup ({how})")
        previous = chunk["last_id"]
    cursor.execute(f"SELECT count(*) FROM {AUDIT_TABLE} WHERE id > %s", [expected["max_id"]])
    added = cursor.fetchone()[0]
    if exact and added:
        problems.append(f"{added} entries after id {expected['max_id']} are not in the backup")
    return problems, added


def trigger_problems(cursor) -> list[str]:
    """The trail's append-only triggers must exist and be enabled."""
    cursor.execute(
        "SELECT t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relname = %s AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) "
        "AND NOT t.tgisinternal",
        [AUDIT_TABLE],
    )
    found = dict(cursor.fetchall())
    problems = []
    for name in ("mof_auditentry_append_only", "mof_auditentry_refuse_truncate"):
        if name not in found:
            problems.append(f"trigger {name} is missing on {AUDIT_TABLE}")
        elif found[name] == "D":
            problems.append(f"trigger {name} on {AUDIT_TABLE} is disabled")
    return problems


# --- manifests ------------------------------------------------------------------------------


def _canonical(body: dict) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def sign(body: dict) -> str:
    return salted_hmac(SIGNATURE_SALT, _canonical(body), algorithm="sha256").hexdigest()


def signature_valid(body: dict, signature: str) -> bool:
    # SECRET_KEY_FALLBACKS: a manifest signed before a key rotation still verifies.
    for key in [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]:
        expected = salted_hmac(SIGNATURE_SALT, _canonical(body), secret=key, algorithm="sha256").hexdigest()
        if constant_time_compare(expected, signature or ""):
            return True
    return False


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def applied_migrations(cursor) -> list[str]:
    cursor.execute("SELECT app || '.' || name FROM django_migrations ORDER BY app, name")
    return [name for (name,) in cursor.fetchall()]


def build_manifest(*, database: str, server_version: str, trail: dict, migrations: list[str], dump: Path) -> dict:
    body = {
        "format": MANIFEST_FORMAT,
        "created_at": timezone.now().isoformat(),
        "database": database,
        "server_version": server_version,
        "dump_file": dump.name,
        "dump_bytes": dump.stat().st_size,
        "dump_sha256": file_sha256(dump),
        "migrations": migrations,
        "audit_trail": trail,
    }
    return {**body, "signature": sign(body)}


def load_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text())
        body = {k: v for k, v in manifest.items() if k != "signature"}
    except (OSError, ValueError, AttributeError) as e:
        raise BackupError(f"cannot read the manifest {path}: {e}") from e
    if body.get("format") != MANIFEST_FORMAT or "audit_trail" not in body:
        raise BackupError(f"{path} is not a backup manifest of this portal (format {body.get('format')!r})")
    if not signature_valid(body, manifest.get("signature", "")):
        raise BackupError(
            f"the manifest {path} is not signed with this portal's SECRET_KEY (nor a SECRET_KEY_FALLBACKS key): "
            "it was changed, or written by another installation"
        )
    return body
