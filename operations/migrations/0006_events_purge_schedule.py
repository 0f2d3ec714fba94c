"""Register operations.events_purge with the database-backed beat schedule (hourly): raw
monitoring events are kept MOF_EVENTS_RETENTION_DAYS; alerts and their counts stay."""
from django.db import migrations

TASK = "operations.events_purge"


def register(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name="Monitoring events: purge raw events past their retention",
        defaults={"task": TASK, "interval": every, "description": "Deletes monitoring events older than MOF_EVENTS_RETENTION_DAYS."},
    )


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0005_job_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
