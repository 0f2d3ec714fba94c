"""`manage.py poll_mailbox [--url URL] [--batch N] [--loop SECONDS]`: read the service desk's
mailbox over IMAP now (what the beat task incidents.poll_mailbox does every minute), once or
every SECONDS until stopped. Each message is processed once, however often it runs."""

import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from incidents.mailbox.imap import poll


class Command(BaseCommand):
    help = "Read the service desk's mailbox (MOF_MAILBOX_IMAP_URL) and process its new mail."

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="", help="imaps://user:password@host:993/INBOX (default: MOF_MAILBOX_IMAP_URL)."
        )
        parser.add_argument("--batch", type=int, default=0, help="Most messages per poll (default: MOF_MAILBOX_BATCH).")
        parser.add_argument("--loop", type=float, default=0, help="Poll again every this many seconds until stopped.")

    def handle(self, *args, url, batch, loop, **options):
        url = url or settings.MOF_MAILBOX_IMAP_URL
        if not url:
            raise CommandError("No mailbox: set MOF_MAILBOX_IMAP_URL or pass --url.")
        if batch < 0 or loop < 0:
            raise CommandError("--batch and --loop are not negative.")
        while True:
            try:
                result = poll(url, batch=batch or None)
            except ImproperlyConfigured as exc:
                raise CommandError(str(exc)) from exc
            outcomes = ", ".join(f"{n} {outcome}" for outcome, n in sorted(result.outcomes.items())) or "nothing new"
            self.stdout.write(f"{result.seen} looked at: {outcomes}; {result.repeats} taken before.")
            if not loop:
                return
            time.sleep(loop)
