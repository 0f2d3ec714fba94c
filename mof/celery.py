import os

from celery import Celery, signals

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
