"""Celery beat's scheduler in production: django-celery-beat's DatabaseScheduler that also
touches a heartbeat file at each tick (at least every 5 seconds), so that a health check can
tell a beat that still runs its loop from one that hangs (`bin/portal healthcheck beat`, mof.container_health)."""
from django_celery_beat.schedulers import DatabaseScheduler

from mof.container_health import heartbeat_path


class HeartbeatScheduler(DatabaseScheduler):
    def tick(self, *args, **kwargs):
        try:
            heartbeat_path().touch()
        except OSError:  # a read-only or full disk must not stop the schedule
            pass
        return super().tick(*args, **kwargs)
