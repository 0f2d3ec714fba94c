from django.db import migrations

from mof.migrations_sql import (
    AUDIT_APPEND_ONLY,
    CI_REACH_FUNCTION,
    DROP_AUDIT_APPEND_ONLY,
    DROP_CI_REACH_FUNCTION,
)

BUILTIN_CLASSES = [
    ("Server", "server"),
    ("Network device", "network-device"),
    ("Firewall", "firewall"),
    ("Storage", "storage"),
    ("Database", "database"),
    ("Application", "application"),
    ("Directory service", "directory-service"),
    ("Mailbox server", "mailbox-server"),
    ("Virtual machine", "virtual-machine"),
]

THRESHOLDS = [("low", 1), ("medium", 5), ("high", 10), ("critical", 17)]


def add_builtins(apps, schema_editor):
    CIClass = apps.get_model("mof", "CIClass")
    RiskThreshold = apps.get_model("mof", "RiskThreshold")
    for name, slug in BUILTIN_CLASSES:
        CIClass.objects.update_or_create(slug=slug, defaults={"name": name, "builtin": True})
    for level, score in THRESHOLDS:
        RiskThreshold.objects.get_or_create(level=level, defaults={"min_score": score})


def postgres_only(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("mof", "0001_initial")]

    operations = [
        migrations.RunPython(add_builtins, migrations.RunPython.noop),
        migrations.RunPython(postgres_only(CI_REACH_FUNCTION), postgres_only(DROP_CI_REACH_FUNCTION)),
        migrations.RunPython(postgres_only(AUDIT_APPEND_ONLY), postgres_only(DROP_AUDIT_APPEND_ONLY)),
    ]
