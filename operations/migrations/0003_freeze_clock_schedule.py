"""Register operations.freeze_clock with the database-backed beat schedule (every 5 minutes)."""
from django.db import migrations

TASK = "operations.freeze_clock"


def register(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=5, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Freeze windows: activate and end on time",
        defaults={"task": TASK, "interval": every, "description": "Keeps the recorded status of change freezes in step with the clock."},
    )


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0002_feed_tokens_and_clock"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
