"""Register operations.events_purge with the database-backed beat schedule (hourly): raw
monitoring events are kept MOF_EVENTS_RETENTION_DAYS; alerts and their counts stay."""
from django.db import migrations

from mof.beat import Periodic, register


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0005_job_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [register(
        Periodic("Monitoring events: purge raw events past their retention", "operations.events_purge", 1, "hours", "Deletes monitoring events older than MOF_EVENTS_RETENTION_DAYS."),
    )]
