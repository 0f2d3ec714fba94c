"""Heartbeats: when a process last proved it works (mof.health). Imported by mof.models, so
Django sees them as models of the core app."""

from __future__ import annotations

from django.db import models


class Heartbeat(models.Model):
    """One row per beating thing: "worker" is written by the mof.heartbeat task that beat
    queues every minute, so a fresh row means a worker took a task off the broker lately;
    "beat" by beat itself once it has queued that task (mof.celery)."""

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField()

    def __str__(self):
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
