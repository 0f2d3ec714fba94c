import pytest
from django.conf import settings
from django.test import override_settings


@pytest.fixture(autouse=True)
def attachment_storage_in_memory():
    """Each test starts with an empty InMemoryStorage for attachments."""
    with override_settings(
        STORAGES={**settings.STORAGES, "attachments": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}
    ):
        yield


def stored_files(storage, folder=""):
    """Every file path in the storage (walking its folders)."""
    folders, files = storage.listdir(folder) if folder == "" or storage.exists(folder) else ([], [])
    found = [f"{folder}/{name}".lstrip("/") for name in files]
    for sub in folders:
        found += stored_files(storage, f"{folder}/{sub}".lstrip("/"))
    return found
