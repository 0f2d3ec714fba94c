from django.db import migrations

# ITIL's usual matrix: impact x urgency (1 = high) -> P1..P5.
MATRIX = {(1, 1): 1, (1, 2): 2, (1, 3): 3, (2, 1): 2, (2, 2): 3, (2, 3): 4, (3, 1): 3, (3, 2): 4, (3, 3): 5}


def add_matrix(apps, schema_editor):
    PriorityRule = apps.get_model("incidents", "PriorityRule")
    for (impact, urgency), priority in MATRIX.items():
        PriorityRule.objects.get_or_create(impact=impact, urgency=urgency, defaults={"priority": priority})


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]
    operations = [migrations.RunPython(add_matrix, migrations.RunPython.noop)]
