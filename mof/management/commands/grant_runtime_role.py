"""Grant the portal's runtime database role what it needs and no more (PostgreSQL).

Run as the role that owns the schema (the one `manage.py migrate` uses). `migrate` does
the same by itself when MOF_DB_RUNTIME_ROLE is set; this is for doing it by hand, e.g.
after creating the role. Idempotent. See mof.dbroles for what is granted.
"""

from django.core.management.base import BaseCommand, CommandError

from mof.dbroles import RoleError, grant_runtime_role


class Command(BaseCommand):
    help = "Grant a runtime database role the portal's privileges (read and add only on the audit trail and SLA event log)."

    def add_arguments(self, parser):
        parser.add_argument("role", help="the role the web server, worker and beat connect as")
        parser.add_argument("--database", default="default")

    def handle(self, *args, role, database, **options):
        try:
            counts = grant_runtime_role(role, using=database)
        except RoleError as e:
            raise CommandError(str(e)) from e
        self.stdout.write(
            self.style.SUCCESS(
                f"Granted {role}: {counts['tables']} tables, {counts['logs']} append-only logs (read and add only), "
                f"{counts['sequences']} sequences, {counts['functions']} functions."
            )
        )
