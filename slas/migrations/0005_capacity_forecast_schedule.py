"""The capacity forecast runs every hour, from django-celery-beat's schedule (editable in the admin)."""
from django.db import migrations

from mof.beat import Periodic, register


class Migration(migrations.Migration):
    dependencies = [("slas", "0004_availability_capacity"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [register(
        Periodic("Capacity forecast and warnings", "slas.capacity_forecast", 1, "hours"),
    )]
