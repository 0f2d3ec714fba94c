"""The heartbeat table and the periodic heartbeat task (mof.health: readiness and metrics)."""
from django.db import migrations, models

from mof.beat import Periodic, register


class Migration(migrations.Migration):

    dependencies = [
        ('mof', '0010_notification_outbox'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.CreateModel(
            name='Heartbeat',
            fields=[
                ('name', models.CharField(max_length=40, primary_key=True, serialize=False)),
                ('at', models.DateTimeField()),
            ],
        ),
        register(
            Periodic("Heartbeat", "mof.heartbeat", 1, "minutes",
                     "Records that a worker ran a task: /readyz and /metrics read it (and beat's last run of it)."),
        ),
    ]
