from django.db import migrations, models

INCIDENT = "incidents.incident"


def map_ticket_types(apps, schema_editor):
    """Versions saved before ticket_type had choices may hold anything ("incident", "bogus"): the
    engine only ever kept clocks for incidents, the one type an SLA can apply to, so every
    version names it (a version is frozen; a new one copies its predecessor's ticket_type)."""
    SLAVersion = apps.get_model("slas", "SLAVersion")
    SLAVersion.objects.exclude(ticket_type=INCIDENT).update(ticket_type=INCIDENT)


class Migration(migrations.Migration):

    dependencies = [
        ("slas", "0012_clock_notification_failed"),
    ]

    operations = [
        migrations.AlterField(
            model_name="slaversion",
            name="ticket_type",
            field=models.CharField(choices=[("incidents.incident", "Incidents")], default="incidents.incident", help_text="The tickets it applies to.", max_length=60),
        ),
        migrations.RunPython(map_ticket_types, migrations.RunPython.noop),
    ]
