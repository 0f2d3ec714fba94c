"""The compliance sweep runs every minute, from django-celery-beat's schedule (editable in the admin)."""
from django.db import migrations

from mof.beat import Periodic, register


class Migration(migrations.Migration):
    dependencies = [("slas", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [register(
        Periodic("SLA compliance sweep", "slas.sweep", 1, "minutes"),
    )]
