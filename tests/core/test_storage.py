"""Nothing on a node's local disk that another node would need: the files the portal writes go
through Django's storage API (STORAGES["default"], mof.storage: a private folder, or an
S3-compatible bucket with MOF_STORAGE=s3 and django-storages), and in production settings
sessions live in the database and caches in Redis, never in a local file or a process's memory."""

import io
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import InMemoryStorage, StorageHandler
from django.core.management import call_command
from django.test import override_settings

from mof.storage import storage_settings
from tests.conftest import requires_postgres
from tests.core.test_settings_config import production_env, run_python

S3_ENV = {
    "MOF_STORAGE": "s3",
    "AWS_STORAGE_BUCKET_NAME": "mof-files",
    "AWS_S3_ENDPOINT_URL": "https://minio.example.com:9000",
    "AWS_S3_REGION_NAME": "eu-west-1",
    "AWS_LOCATION": "/portal/",
}


def test_by_default_files_go_to_a_private_folder_without_public_urls():
    conf = storage_settings({}, "/srv/mof/var", "files")
    assert conf["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert conf["OPTIONS"]["location"] == "/srv/mof/var/files"
    assert conf["OPTIONS"]["base_url"] is None and conf["OPTIONS"]["file_permissions_mode"] == 0o600
    assert conf["OPTIONS"]["directory_permissions_mode"] == 0o700
    assert (
        storage_settings({"MOF_STORAGE": "file", "MOF_STORAGE_ROOT": "/mnt/shared"}, "/v", "attachments")["OPTIONS"][
            "location"
        ]
        == "/mnt/shared/attachments"
    )


def test_mof_storage_s3_builds_a_private_django_storages_bucket_from_the_environment():
    from storages.backends.s3 import S3Storage

    conf = storage_settings(S3_ENV, "/v", "attachments")
    assert conf["BACKEND"] == "storages.backends.s3.S3Storage"
    storage = StorageHandler({"default": conf})["default"]  # built as Django builds it; no network yet
    assert isinstance(storage, S3Storage)
    assert storage.bucket_name == "mof-files"
    assert storage.endpoint_url == "https://minio.example.com:9000"
    assert storage.region_name == "eu-west-1"
    assert storage.location == "portal/attachments"  # each kind of file under its own prefix
    assert storage.default_acl is None and storage.file_overwrite is False and storage.querystring_auth is True


@pytest.mark.parametrize(
    "env, message",
    [
        ({"MOF_STORAGE": "s3"}, "needs AWS_STORAGE_BUCKET_NAME"),
        ({"MOF_STORAGE": "nfs"}, "must be 'file' or 's3'"),
    ],
)
def test_an_incomplete_or_unknown_storage_is_refused_at_start(env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        storage_settings(env, "/v", "files")


PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.storage import storages
default_storage = storages["default"]
print(json.dumps({
    "session_engine": settings.SESSION_ENGINE,
    "caches": [c["BACKEND"] for c in settings.CACHES.values()],
    "storage": type(default_storage).__module__ + "." + type(default_storage).__name__,
    "bucket": getattr(default_storage, "bucket_name", None),
}))
"""


def test_production_settings_keep_sessions_in_the_database_caches_in_redis_and_files_in_the_bucket():
    result = run_python(
        PROBE,
        **production_env(
            DATABASE_URL="postgres://mof@db.example.com/mof",
            CACHE_URL="redis://redis.example.com:6379/1",
            CELERY_BROKER_URL="redis://redis.example.com:6379/0",
            **S3_ENV,
        ),
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    # Sessions in the database (or the shared cache), never in files or a process's memory.
    assert found["session_engine"] in (
        "django.contrib.sessions.backends.db",
        "django.contrib.sessions.backends.cache",
        "django.contrib.sessions.backends.cached_db",
    )
    assert found["caches"] and all(
        backend
        not in ("django.core.cache.backends.filebased.FileBasedCache", "django.core.cache.backends.locmem.LocMemCache")
        for backend in found["caches"]
    ), found["caches"]
    assert found["storage"] == "storages.backends.s3.S3Storage" and found["bucket"] == "mof-files"


@pytest.mark.django_db(transaction=True)
def test_a_backup_to_storage_is_written_through_the_default_storage_and_leaves_no_local_file(tmp_path, monkeypatch):
    requires_postgres()
    import tempfile

    from mof import backup

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the command's temporary folder, to see it emptied
    with override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ):
        from django.core.files.storage import default_storage, storages

        storage = storages["default"]
        assert isinstance(storage, InMemoryStorage)
        call_command("backup_database", "--to-storage", "backups/mof.dump", stdout=io.StringIO())
        assert storage.exists("backups/mof.dump") and storage.exists("backups/mof.dump.manifest.json")
        with storage.open("backups/mof.dump.manifest.json") as f:
            manifest = json.loads(f.read())
        with storage.open("backups/mof.dump") as f:
            archive = f.read()
        assert archive.startswith(b"PGDMP") and len(archive) == manifest["dump_bytes"]
        local = tmp_path / "archive.dump"
        local.write_bytes(archive)
        assert backup.file_sha256(local) == manifest["dump_sha256"]
        assert default_storage.exists("backups/mof.dump")
        assert [p.name for p in tmp_path.iterdir()] == ["archive.dump"]  # the temporary copies are gone

        # A second backup under the same name is refused unless --force.
        from django.core.management import CommandError

        with pytest.raises(CommandError, match="exists already in the storage"):
            call_command("backup_database", "--to-storage", "backups/mof.dump", stdout=io.StringIO())


def test_a_restore_from_storage_reads_the_archive_and_its_manifest_back_through_the_default_storage(monkeypatch):
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages

    from mof.management.commands import restore_database

    seen = {}

    def restore(self, file, runtime_role, without_manifest, database):
        from pathlib import Path

        path = Path(file)
        seen.update(
            archive=path.read_bytes(),
            manifest=(path.parent / (path.name + ".manifest.json")).read_text(),
            folder=path.parent,
        )

    monkeypatch.setattr(restore_database.Command, "_restore", restore)
    with override_settings(
        STORAGES={
            "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
    ):
        storage = storages["default"]
        storage.save("backups/mof.dump", ContentFile(b"PGDMP archive"))
        storage.save("backups/mof.dump.manifest.json", ContentFile(b'{"dump_bytes": 13}'))
        call_command("restore_database", "--from-storage", "backups/mof.dump", stdout=io.StringIO())
        assert seen["archive"] == b"PGDMP archive" and seen["manifest"] == '{"dump_bytes": 13}'
        assert not seen["folder"].exists()  # the local copies are removed afterwards
        from django.core.management import CommandError

        with pytest.raises(CommandError, match="no backups/other.dump in the storage"):
            call_command("restore_database", "--from-storage", "backups/other.dump", stdout=io.StringIO())
