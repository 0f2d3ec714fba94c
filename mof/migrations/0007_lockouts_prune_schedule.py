"""Register mof.lockouts_prune with the database-backed beat schedule (daily): sign-in lockout
records with no failure for MOF_LOGIN_LOCKOUT_RETENTION_DAYS and no lock in force are deleted."""
from django.db import migrations

from mof.beat import Periodic, register


class Migration(migrations.Migration):
    dependencies = [
        ("mof", "0006_service_accounts_tokens_lockouts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [register(
        Periodic("Sign-in lockouts: prune records past their retention", "mof.lockouts_prune", 1, "days", "Deletes lockout records idle for MOF_LOGIN_LOCKOUT_RETENTION_DAYS."),
    )]
