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
