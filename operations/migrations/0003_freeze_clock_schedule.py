"""Register operations.freeze_clock with the database-backed beat schedule (every 5 minutes)."""
from django.db import migrations

from mof.beat import Periodic, register


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0002_feed_tokens_and_clock"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [register(
        Periodic("Freeze windows: activate and end on time", "operations.freeze_clock", 5, "minutes", "Keeps the recorded status of change freezes in step with the clock."),
    )]
