"""The backup manifest's signature (mof.backup): a manifest changed after the backup, or
signed by another installation, is refused; one signed before a SECRET_KEY rotation is not."""

import json

import pytest
from django.test import override_settings

from mof import backup

TRAIL = {
    "table": "mof_auditentry",
    "count": 2,
    "max_id": 2,
    "digest": "d",
    "chunk_rows": 10000,
    "chunks": [{"last_id": 2, "count": 2, "digest": "c"}],
}


def _written(tmp_path):
    dump = tmp_path / "x.dump"
    dump.write_bytes(b"PGDMP archive")
    manifest = backup.build_manifest(
        database="mof", server_version="15", trail=TRAIL, migrations=["mof.0001_initial"], dump=dump
    )
    path = backup.manifest_path(dump)
    path.write_text(json.dumps(manifest))
    return path


def test_a_manifest_reads_back_as_written(tmp_path):
    body = backup.load_manifest(_written(tmp_path))
    assert body["audit_trail"] == TRAIL and body["dump_bytes"] == len(b"PGDMP archive")


def test_a_changed_manifest_is_refused(tmp_path):
    path = _written(tmp_path)
    manifest = json.loads(path.read_text())
    manifest["audit_trail"]["chunks"][0]["count"] = 1
    path.write_text(json.dumps(manifest))
    with pytest.raises(backup.BackupError, match="not signed with this portal's SECRET_KEY"):
        backup.load_manifest(path)


def test_a_manifest_signed_before_a_key_rotation_still_verifies_but_not_with_another_key(tmp_path, settings):
    path = _written(tmp_path)
    with override_settings(SECRET_KEY="the-new-key-" + "x" * 50, SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]):
        assert backup.load_manifest(path)["database"] == "mof"
    with (
        override_settings(SECRET_KEY="another-installation-" + "y" * 50, SECRET_KEY_FALLBACKS=[]),
        pytest.raises(backup.BackupError, match="not signed"),
    ):
        backup.load_manifest(path)


def test_a_file_that_is_no_manifest_is_refused(tmp_path):
    path = tmp_path / "x.dump.manifest.json"
    path.write_text("[1, 2]")
    with pytest.raises(backup.BackupError, match="cannot read|not a backup manifest"):
        backup.load_manifest(path)
