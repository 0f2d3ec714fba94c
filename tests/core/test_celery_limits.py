"""Tasks of a SIGKILLed worker come back in minutes, not an hour: every task has a time limit,
and the Redis broker's visibility timeout (after which a taken, unacknowledged message is
handed out again) is just above the longest one, and above the longest countdown a task is
queued with (a webhook retry), so nothing still running or still waiting runs twice."""

import json

from tests.core.test_settings_config import run_python

PROBE = """
import json, django
django.setup()
from django.conf import settings
from mof.celery import app
from integrations.services import backoff_seconds
app.loader.import_default_modules()
print(json.dumps({
    "visibility": settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout"),
    "limits": {name: [t.soft_time_limit, t.time_limit] for name, t in app.tasks.items() if not name.startswith("celery.")},
    "longest_countdown": backoff_seconds(settings.MOF_WEBHOOK_MAX_ATTEMPTS - 1),
    "cache_options": settings.CACHES["default"].get("OPTIONS", {}),
}))
"""


def probe(**env) -> dict:
    result = run_python(PROBE, DJANGO_SETTINGS_MODULE="mof.settings", DEBUG="1", SECRET_KEY="x" * 50, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_visibility_timeout_covers_every_task_limit_and_countdown_and_is_well_below_an_hour():
    found = probe(CELERY_BROKER_URL="redis://redis:6379/0", CACHE_URL="redis://redis:6379/1")
    limits = found["limits"]
    assert {"slas.recompute_chunk", "slas.sweep", "incidents.notify", "integrations.deliver"} <= set(limits)
    for name, (soft, hard) in limits.items():
        assert hard and soft and soft < hard, f"{name} has no time limit: a hung task would hold its worker for ever"
    longest = max(hard for _, hard in limits.values())
    assert longest == limits["slas.recompute_chunk"][1]  # the batch tasks have the long limit
    assert longest <= found["visibility"] <= 15 * 60  # kombu's default would be 3600
    assert found["longest_countdown"] < found["visibility"]
    # The cache fails fast too: a dead Redis must not hold a request for the default 5 s per call.
    assert found["cache_options"] == {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}
