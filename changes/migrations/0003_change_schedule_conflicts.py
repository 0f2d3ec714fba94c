"""Stored conflict marks of the forward schedule, backfilled for the changes already scheduled."""
from django.db import migrations, models

SCHEDULED_STATES = ["approved", "scheduled", "in_development", "in_test", "tested", "ready_for_deployment", "implementing"]


def backfill(apps, schema_editor):
    Change = apps.get_model("changes", "RequestForChange")
    # A new database has nothing to mark; otherwise the one computation the portal keeps them with
    # (changes.conflicts), reading only the columns it names, so later fields do not matter here.
    if not Change.objects.filter(status__in=SCHEDULED_STATES, planned_start__isnull=False).exists():
        return
    from changes.conflicts import refresh_all_marks

    refresh_all_marks()


class Migration(migrations.Migration):

    dependencies = [
        ('changes', '0002_change_search_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='requestforchange',
            name='schedule_conflicts',
            field=models.JSONField(blank=True, default=list, editable=False, help_text='Kinds of collision with other scheduled changes (same_ci, impact, shared_impact, implementer); empty outside the scheduled states.'),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
