"""Where the portal keeps the files it writes (STORAGES["default"], used through Django's
storage API: `django.core.files.storage.storages` / `default_storage`), from the environment,
so that no web or worker process keeps on its local disk what another node would need.

MOF_STORAGE empty or `file`: folders under MOF_STORAGE_ROOT (default <var>), readable by the
portal's user only and without public URLs: right for one machine, or a volume every node
mounts. `s3`: an S3-compatible bucket (AWS, MinIO, Ceph, ...) with django-storages
(`pip install 'django-storages[s3]'`, in the image): AWS_STORAGE_BUCKET_NAME (required),
AWS_S3_ENDPOINT_URL (for anything but AWS), AWS_S3_REGION_NAME, AWS_LOCATION (a prefix inside
the bucket); credentials as boto3 finds them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or
the instance's role). Objects are private (no ACL; the portal never hands out their URLs).

What goes there: attachments (STORAGES["attachments"], folder `attachments`) and backups written with `backup_database --to-storage` (and read back by
`restore_database --from-storage`). The CSV exports are streamed to the browser as they are
read (nothing is written), uploads (the CSV imports) are read within their request, and
sessions live in the database (SESSION_ENGINE's default), caches in Redis (CACHE_URL):
tests/core/test_storage.py holds all of that.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


def storage_settings(environ, var_dir, folder: str) -> dict:
    """One store for every kind of file, each kind in its own `folder` ("files" for backups,
    "attachments"): under MOF_STORAGE_ROOT, or as a prefix in the bucket (after AWS_LOCATION)."""
    kind = (environ.get("MOF_STORAGE") or "file").strip().lower()
    if kind == "file":
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {
                "location": f"{environ.get('MOF_STORAGE_ROOT') or var_dir}/{folder}",
                "base_url": None,
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            },
        }
    if kind == "s3":
        bucket = (environ.get("AWS_STORAGE_BUCKET_NAME") or "").strip()
        if not bucket:
            raise ImproperlyConfigured("MOF_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME.")
        options = {
            "bucket_name": bucket,
            "location": "/".join(p for p in ((environ.get("AWS_LOCATION") or "").strip("/"), folder) if p),
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
        }
        for variable, option in (("AWS_S3_ENDPOINT_URL", "endpoint_url"), ("AWS_S3_REGION_NAME", "region_name")):
            if (environ.get(variable) or "").strip():
                options[option] = environ[variable].strip()
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    raise ImproperlyConfigured(f"MOF_STORAGE must be 'file' or 's3', not {kind!r}.")
