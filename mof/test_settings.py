"""Settings for the test suite: the real settings in DEBUG mode, with fast hashing."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("EMAIL_URL", "locmem://")

from mof.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = []

# Unit tests run tasks in-process at once (after commit); the integration tests switch this
# off and start a real worker on Redis. Nothing is left in a broker queue by a test run.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True

# No rate limit unless a test sets one (tests/api/test_rate_limits*.py use override_settings):
# the rest of the suite (event storms, schemathesis) must never meet a 429. One process: memory cache.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {scope: None for scope in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]},
}  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "mof-tests"}}

# Attachments are kept in memory: no test writes under var/ (tests may override it again).
STORAGES = {**STORAGES, "attachments": {"BACKEND": "django.core.files.storage.InMemoryStorage"}}  # noqa: F405
