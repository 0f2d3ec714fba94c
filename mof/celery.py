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
