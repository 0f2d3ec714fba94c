"""Register mof.lockouts_prune with the database-backed beat schedule (daily): sign-in lockout
records with no failure for MOF_LOGIN_LOCKOUT_RETENTION_DAYS and no lock in force are deleted."""
from django.db import migrations

TASK = "mof.lockouts_prune"


def register(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period="days")
    PeriodicTask.objects.get_or_create(
        name="Sign-in lockouts: prune records past their retention",
        defaults={"task": TASK, "interval": every, "description": "Deletes lockout records idle for MOF_LOGIN_LOCKOUT_RETENTION_DAYS."},
    )


def unregister(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("mof", "0006_service_accounts_tokens_lockouts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(register, unregister)]
