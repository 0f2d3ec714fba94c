"""The service desk's periodic work, stored in django-celery-beat's schedule (editable in the admin)."""
import json

from django.db import migrations

TASKS = [
    # name, task, every (minutes)
    ("Close resolved incidents after the reopen period", "incidents.close_resolved", 60),
    ("Propose problems from clusters of incidents", "incidents.propose_problems", 24 * 60),
]


def add_tasks(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, minutes in TASKS:
        every, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.get_or_create(name=name, defaults={"task": task, "interval": every, "args": json.dumps([]), "enabled": True})


def remove_tasks(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[t[0] for t in TASKS]).delete()


class Migration(migrations.Migration):
    dependencies = [("incidents", "0002_default_priority_matrix"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(add_tasks, remove_tasks)]
