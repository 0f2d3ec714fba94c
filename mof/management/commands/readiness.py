"""`manage.py readiness [check ...]`: the checks of /readyz from the command line, e.g. as the
health check of a container that serves no HTTP (worker: `readiness database redis`). Prints
the same JSON as /readyz; exits 1 when a check fails."""

import json

from django.core.management.base import BaseCommand, CommandError

from mof import health


class Command(BaseCommand):
    help = "Run the readiness checks (all, or those named) and exit 1 if one fails."

    def add_arguments(self, parser):
        parser.add_argument("checks", nargs="*", help=f"Among: {', '.join(health.CHECKS)} (default: all).")

    def handle(self, *args, checks, **options):
        unknown = sorted(set(checks) - set(health.CHECKS))
        if unknown:
            raise CommandError(f"Unknown checks: {', '.join(unknown)}. Known: {', '.join(health.CHECKS)}.")
        results = health.readiness(checks or health.CHECKS)
        ready = all(results.values())
        self.stdout.write(
            json.dumps(
                {
                    "status": "ready" if ready else "not ready",
                    "checks": {n: "ok" if ok else "failed" for n, ok in results.items()},
                }
            )
        )
        if not ready:
            raise SystemExit(1)
