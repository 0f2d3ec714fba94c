"""Periodic tasks in django-celery-beat's database schedule (editable in the admin), as the
apps' migrations register them: one way, so every task is added and removed alike."""

from __future__ import annotations

import json
from typing import NamedTuple

from django.db import migrations


class Periodic(NamedTuple):
    name: str  # unique in the schedule; what the admin shows
    task: str
    every: int
    period: str  # minutes | hours | days
    description: str = ""


def register(*tasks: Periodic) -> migrations.RunPython:
    """A migration operation adding `tasks` to the schedule (kept if already there, e.g. edited
    in the admin) and removing them when the migration is reversed."""

    def add(apps, schema_editor):
        IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        for t in tasks:
            interval, _ = IntervalSchedule.objects.get_or_create(every=t.every, period=t.period)
            PeriodicTask.objects.get_or_create(
                name=t.name,
                defaults={
                    "task": t.task,
                    "interval": interval,
                    "args": json.dumps([]),
                    "enabled": True,
                    "description": t.description,
                },
            )

    def remove(apps, schema_editor):
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[t.name for t in tasks]).delete()

    return migrations.RunPython(add, remove)
