"""`manage.py receive_mail [--host 127.0.0.1] [--port 2525] [--lmtp] [--recipient ADDR ...]`:
an SMTP (or LMTP) server taking the service desk's mail, each message through the same rules
as the IMAP poller. Runs until stopped (SIGTERM, Ctrl-C)."""

import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from incidents.mailbox.smtp import close_connections, controller


class Command(BaseCommand):
    help = "Receive the service desk's mail over SMTP or LMTP (aiosmtpd) until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)."
        )
        parser.add_argument("--port", type=int, default=2525, help="Port to listen on (default 2525).")
        parser.add_argument(
            "--lmtp", action="store_true", help="Speak LMTP instead of SMTP (a mail server delivering to the portal)."
        )
        parser.add_argument(
            "--recipient",
            action="append",
            default=[],
            help="Take mail only for this address (repeatable; default: any).",
        )

    def handle(self, *args, host, port, lmtp, recipient, **options):
        if not 0 < port < 65536:
            raise CommandError("--port is 1 to 65535.")
        server = controller(host=host, port=port, lmtp=lmtp, recipients=recipient)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        try:
            server.start()
        except Exception as exc:  # noqa: BLE001 - the port is taken, the address unknown...
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        self.stdout.write(f"Receiving mail over {'LMTP' if lmtp else 'SMTP'} on {host}:{port}.")
        self.stdout.flush()
        try:
            stop.wait()
        finally:
            server.stop()
            close_connections()
        self.stdout.write("Stopped.")
