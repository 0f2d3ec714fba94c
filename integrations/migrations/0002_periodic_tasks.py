"""The outbox relay's periodic pass, stored in django-celery-beat's schedule (editable in the admin):
it sends what a dead worker or an unreachable broker left behind."""
from django.db import migrations

from mof.beat import Periodic, register


class Migration(migrations.Migration):
    dependencies = [("integrations", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [register(
        Periodic("Relay webhook events and deliveries left behind", "integrations.relay_pending", 1, "minutes"),
    )]
