"""Receiving the service desk's mail over SMTP or LMTP (aiosmtpd), for shops that route mail
to the portal instead of letting it read a mailbox: `manage.py receive_mail`. Each message
goes through the same rules as the IMAP poller (incidents.mailbox.services.receive) and is
acknowledged with 250 only once it is recorded; a database fault answers 451, so the sending
server tries again later (and a repeat is recognised by its Message-ID)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connections

from incidents.mailbox.services import receive

log = logging.getLogger("mof.mailbox")

MAILBOX = "smtp"
# The database is used from one thread of its own (one connection), one message at a time.
_worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mof-mail-in")


def _receive(raw: bytes) -> str:
    close_old_connections()
    try:
        result = receive(raw, mailbox=MAILBOX)
    finally:
        close_old_connections()
    return result.message.outcome


def close_connections() -> None:
    """Close the receiving thread's database connection (when the receiver stops)."""
    _worker.submit(connections.close_all).result()


class Handler:
    """aiosmtpd handler: takes mail for `recipients` (any address when empty)."""

    def __init__(self, recipients=()):
        self.recipients = {r.strip().lower() for r in recipients if r.strip()}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.recipients and address.strip().lower() not in self.recipients:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(_worker, _receive, raw)
        except DatabaseError:
            log.exception("mail from %s could not be recorded: the sender is told to try again", envelope.mail_from)
            return "451 4.3.0 Temporary failure, try again later"
        except Exception:  # noqa: BLE001 - never a crash of the receiver; the sender retries
            log.exception("mail from %s could not be processed", envelope.mail_from)
            return "451 4.3.0 Temporary failure, try again later"
        return f"250 2.0.0 Accepted ({outcome})"


class LMTPController(Controller):
    def factory(self):
        return LMTP(self.handler, **self.SMTP_kwargs)


def controller(*, host: str, port: int, lmtp: bool = False, recipients=()) -> Controller:
    kind = LMTPController if lmtp else Controller
    return kind(Handler(recipients), hostname=host, port=port, data_size_limit=settings.MOF_MAIL_IN_MAX_BYTES)
