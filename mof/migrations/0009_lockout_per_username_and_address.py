"""Sign-in lockout per (username, client address) with growing delays, and per address for
password spraying: rows get the address of a pair and the time of its last sign-in. Counts
kept per username alone (which let anyone lock anyone out) are dropped: they were only
counters, and no longer mean anything."""
from django.db import migrations, models


def drop_username_counts(apps, schema_editor):
    apps.get_model("mof", "LoginLockout")._base_manager.filter(kind="username").delete()


class Migration(migrations.Migration):

    dependencies = [
        ('mof', '0008_audit_trail_refuses_truncate'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='loginlockout',
            name='unique_login_lockout_key',
        ),
        migrations.RunPython(drop_username_counts, migrations.RunPython.noop),
        migrations.AddField(
            model_name='loginlockout',
            name='address',
            field=models.CharField(blank=True, default='', help_text='The IP address the username was tried from (pairs only).', max_length=64),
        ),
        migrations.AddField(
            model_name='loginlockout',
            name='last_success_at',
            field=models.DateTimeField(blank=True, help_text="The last right password for this username from this address: its address's spraying delay does not apply.", null=True),
        ),
        migrations.AlterField(
            model_name='loginlockout',
            name='failures',
            field=models.PositiveIntegerField(default=0, help_text='Failures in the current count.'),
        ),
        migrations.AlterField(
            model_name='loginlockout',
            name='key',
            field=models.CharField(help_text='The username (lower case), or the IP address of a spraying count.', max_length=150),
        ),
        migrations.AlterField(
            model_name='loginlockout',
            name='kind',
            field=models.CharField(choices=[('pair', 'Username from an address'), ('address', 'IP address (many usernames)')], max_length=10),
        ),
        migrations.AddConstraint(
            model_name='loginlockout',
            constraint=models.UniqueConstraint(fields=('kind', 'key', 'address'), name='unique_login_lockout_pair'),
        ),
    ]
