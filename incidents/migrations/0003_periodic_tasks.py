"""The service desk's periodic work, stored in django-celery-beat's schedule (editable in the admin)."""
from django.db import migrations

from mof.beat import Periodic, register


class Migration(migrations.Migration):
    dependencies = [("incidents", "0002_default_priority_matrix"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [register(
        Periodic("Close resolved incidents after the reopen period", "incidents.close_resolved", 60, "minutes"),
        Periodic("Propose problems from clusters of incidents", "incidents.propose_problems", 24 * 60, "minutes"),
    )]
