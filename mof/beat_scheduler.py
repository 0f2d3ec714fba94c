"""Celery beat's scheduler in production: django-celery-beat's DatabaseScheduler that

* touches a heartbeat file at each tick (at least every 5 seconds), so that a health check can
  tell a beat that still runs its loop from one that hangs (`bin/portal healthcheck beat`,
  mof.container_health), the standby's as well as the scheduling one's;
* schedules only while it holds the beat lease (mof.beat_lease): run two beats and exactly
  one queues each periodic task; the other takes over within MOF_BEAT_LEASE_SECONDS when the
  first dies (at once when it stops);
* writes each entry's last run to the database as soon as the task is sent (beat_sync_every
  = 1, instead of every 3 minutes), so that a beat taking over goes on with the same rhythm
  rather than from its own stale copy of the schedule.
"""

import datetime

from django_celery_beat.schedulers import DatabaseScheduler

from mof.beat_lease import Lease
from mof.container_health import heartbeat_path

STANDBY_INTERVAL = 5.0  # seconds between a standby beat's questions


class HeartbeatScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("sync_every_tasks", 1)
        self.lease = Lease()
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        try:
            heartbeat_path().touch()
        except OSError:  # a read-only or full disk must not stop the schedule
            pass
        was_leading = self.lease.held is not False
        if not self.lease.hold():
            return min(self.max_interval, STANDBY_INTERVAL)
        if not was_leading:
            # Taking over: read the schedule again, with the last runs the other beat wrote.
            self._last_full_sync = datetime.datetime.min
        return super().tick(*args, **kwargs)

    def close(self):
        try:
            super().close()
        finally:
            self.lease.release()
