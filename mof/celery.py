import logging
import os

from celery import Celery, signals
from celery.utils.log import mlevel

from mof import request_log

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mof.settings")

app = Celery("mof")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def _refuse_without_secret_key(**kwargs):
    from django.core.exceptions import ImproperlyConfigured

    from mof.config import require_base_url, require_secret_key

    try:
        require_secret_key()
        require_base_url()
    except ImproperlyConfigured as exc:  # signal receivers' exceptions are only logged: stop outright
        raise SystemExit(f"Refusing to start: {exc}") from exc


# Readiness (mof.health): beat's own record of queueing the heartbeat, written in the beat
# process once the message is out (its database schedule records runs only every ~3 minutes).
_in_beat = False


@signals.beat_init.connect
def _mark_beat(**kwargs):
    global _in_beat
    _in_beat = True


@signals.after_task_publish.connect
def _beat_heartbeat(sender=None, headers=None, **kwargs):
    if not _in_beat or sender != "mof.heartbeat":
        return
    from mof import health

    try:
        health.record_heartbeat(health.BEAT)
    except Exception as exc:  # never in beat's way: the schedule's last_run_at still counts
        health.log.warning("could not record beat's heartbeat: %s: %s", type(exc).__name__, exc)


@signals.setup_logging.connect
def _log_as_the_portal(loglevel=None, **kwargs):
    """The worker and beat log like the web processes (mof.settings.LOGGING: the same format,
    JSON lines or plain, with the request and task on each line) instead of Celery's own
    handler. Their --loglevel lowers the root logger's level (INFO shows each task's
    outcome), never raises it."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if loglevel:
        root = logging.getLogger()
        root.setLevel(min(root.level, mlevel(loglevel)))


# The request id travels with the tasks a request queues (mof.request_log).
@signals.before_task_publish.connect
def _carry_request_id(headers=None, **kwargs):
    if headers is not None:
        request_log.add_request_id(headers)


@signals.task_prerun.connect
def _task_log_context(task_id=None, task=None, **kwargs):
    request_log.task_started(task, task_id)


@signals.task_postrun.connect
def _task_log_context_end(task_id=None, **kwargs):
    request_log.task_finished(task_id)
