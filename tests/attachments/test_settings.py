"""STORAGES["attachments"] from the environment (mof.config.attachment_storage)."""
import pytest
from django.core.exceptions import ImproperlyConfigured

from mof.config import attachment_storage


def test_files_go_to_a_private_folder_under_var_by_default():
    storage = attachment_storage({}, "/srv/mof/var")
    assert storage["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    options = storage["OPTIONS"]
    assert options["location"] == "/srv/mof/var/attachments" and options["base_url"] is None
    assert options["file_permissions_mode"] == 0o600 and options["directory_permissions_mode"] == 0o700
    assert attachment_storage({"MOF_ATTACHMENT_ROOT": "/data/files"}, "/srv/mof/var")["OPTIONS"]["location"] == "/data/files"


def test_s3_names_a_private_bucket_with_its_endpoint():
    storage = attachment_storage({
        "MOF_ATTACHMENT_STORAGE": "s3", "MOF_ATTACHMENT_S3_BUCKET": "mof-files",
        "MOF_ATTACHMENT_S3_ENDPOINT_URL": "https://minio.example.org:9000", "MOF_ATTACHMENT_S3_REGION": "eu-west-1",
    }, "/var")
    assert storage == {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": "mof-files", "location": "attachments", "default_acl": None, "file_overwrite": False, "querystring_auth": True,
        "endpoint_url": "https://minio.example.org:9000", "region_name": "eu-west-1",
    }}


@pytest.mark.parametrize("environ,message", [
    ({"MOF_ATTACHMENT_STORAGE": "s3"}, "needs MOF_ATTACHMENT_S3_BUCKET"),
    ({"MOF_ATTACHMENT_STORAGE": "ftp"}, "must be 'file' or 's3'"),
])
def test_a_wrong_storage_setting_stops_the_start(environ, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        attachment_storage(environ, "/var")
