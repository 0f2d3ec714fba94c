"""The outbox relay's periodic pass, stored in django-celery-beat's schedule (editable in the admin):
it sends what a dead worker or an unreachable broker left behind."""
import json

from django.db import migrations

TASKS = [
    # name, task, every (minutes)
    ("Relay webhook events and deliveries left behind", "integrations.relay_pending", 1),
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
    dependencies = [("integrations", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(add_tasks, remove_tasks)]
