"""Recompute the conflict marks stored on every change (changes.conflicts.refresh_all_marks).

The portal keeps them on each write they depend on; this is for after a bulk load that
bypassed the services (a COPY, a restore) or to repair them. One transaction: the calendar
keeps reading the previous marks until it commits."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Recompute the stored conflict marks of every change (after a bulk load, or to repair them)."

    def handle(self, *args, **options):
        from changes.conflicts import refresh_all_marks

        began = time.perf_counter()

        def progress(done, total):
            self.stdout.write(f"  {done:,} of {total:,} scheduled changes ({time.perf_counter() - began:.1f}s)")

        looked_at, changed = refresh_all_marks(progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Conflict marks refreshed: {looked_at:,} scheduled changes looked at, {changed:,} changes corrected, in {time.perf_counter() - began:.1f}s."
            )
        )
