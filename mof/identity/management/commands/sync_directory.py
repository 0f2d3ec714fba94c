import sys

from django.core.management.base import BaseCommand, CommandError

from mof.identity import sync

BAR = 30


class Command(BaseCommand):
    help = "Import and update people and their groups from the directory (LDAP); deactivate the people it disabled or removed."

    def handle(self, *args, **options):
        interactive = sys.stdout.isatty() and options["verbosity"] >= 1

        def progress(done, total, username):
            if options["verbosity"] < 1:
                return
            filled = BAR * done // total if total else BAR
            line = f"[{'#' * filled}{'.' * (BAR - filled)}] {done}/{total} {username}"
            if interactive:
                self.stdout.write("\r" + line.ljust(80), ending="")
                self.stdout.flush()
            elif done == total or done % 100 == 0:
                self.stdout.write(line)

        try:
            report = sync.sync_directory(progress=progress)
        except sync.NotConfigured as exc:
            raise CommandError(str(exc)) from None
        if interactive:
            self.stdout.write("")
        r = report.as_dict()
        self.stdout.write(
            self.style.SUCCESS(
                f"{r['seen']} people in the directory: {r['imported']} imported, {r['updated']} updated, "
                f"{r['deactivated']} deactivated ({r['flagged_assignments']} open assignments flagged to their managers)."
            )
        )
        for error in report.errors:
            self.stderr.write(error)
