"""Check the role the portal connects as (DATABASE_URL) on PostgreSQL: no superuser, owns
nothing, may add to the audit trail and the SLA event log but not change or empty them.
Exits 1 naming each problem. Run with the runtime role's DATABASE_URL (CI does, after migrating)."""

from django.core.management.base import BaseCommand, CommandError

from mof.dbroles import runtime_role_problems


class Command(BaseCommand):
    help = "Check that the database role in DATABASE_URL cannot rewrite the audit trail or the SLA event log."

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")

    def handle(self, *args, database, **options):
        problems = runtime_role_problems(using=database)
        if problems:
            raise CommandError("the runtime database role is not safe: " + "; ".join(problems))
        self.stdout.write(self.style.SUCCESS("Runtime database role: owns nothing, the logs are read-and-add only."))
