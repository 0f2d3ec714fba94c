"""Reading the service desk's mailbox over IMAP (imapclient). Each message is processed in
its own transaction (incidents.mailbox.services.receive: recorded with its UIDVALIDITY, UID
and Message-ID); only after that commits is it flagged \\Seen (and moved to
MOF_MAILBOX_PROCESSED_FOLDER when set). A poller that dies at any point leaves every message
either recorded, and skipped when met again, or not, and taken on the next poll.

Which messages: the first poll of a folder (or after its UIDVALIDITY changed) takes the
unread ones; after that every message with a UID above the highest one taken
(MailboxCursor), read or not, at most MOF_MAILBOX_BATCH per poll, oldest first."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlparse

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError
from django.utils import timezone
from imapclient import IMAPClient
from imapclient.imapclient import SEEN

from incidents.mailbox.parsing import load, message_id_of
from incidents.mailbox.services import already_recorded, receive
from incidents.models_inbound import MailboxCursor

log = logging.getLogger("mof.mailbox")


@dataclass
class Mailbox:
    host: str
    port: int
    user: str
    password: str
    folder: str
    tls: str  # "ssl" | "starttls" | "none"

    @property
    def key(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"[:300]


def mailbox_from_url(url: str) -> Mailbox:
    """imaps://user:password@host:993/INBOX (TLS), imap://user:password@host:143/INBOX
    (upgraded with STARTTLS), imap://...?starttls=0 (plain: a server on the same host only)."""
    parts = urlparse(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
        raise ImproperlyConfigured(
            "MOF_MAILBOX_IMAP_URL is imaps://user:password@host:993/INBOX or imap://user:password@host:143/INBOX"
        )
    query = parse_qs(parts.query)
    plain = parts.scheme == "imap" and query.get("starttls", ["1"])[0].lower() in ("0", "no", "false", "off")
    return Mailbox(
        host=parts.hostname,
        port=parts.port or (993 if parts.scheme == "imaps" else 143),
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
        tls="ssl" if parts.scheme == "imaps" else "none" if plain else "starttls",
    )


@dataclass
class PollResult:
    seen: int = 0  # messages looked at
    processed: int = 0  # newly recorded
    repeats: int = 0  # recorded before (skipped)
    outcomes: dict = field(default_factory=dict)


def connect(box: Mailbox) -> IMAPClient:
    timeout = settings.MOF_MAILBOX_TIMEOUT_SECONDS
    context = ssl.create_default_context()
    client = IMAPClient(
        box.host,
        port=box.port,
        ssl=box.tls == "ssl",
        ssl_context=context if box.tls == "ssl" else None,
        timeout=timeout,
    )
    if box.tls == "starttls":
        client.starttls(context)
    client.login(box.user, box.password)
    return client


def _cursor(box: Mailbox, uidvalidity: int) -> tuple[MailboxCursor, bool]:
    """The folder's cursor; True when the folder is read from scratch (first poll, new UIDVALIDITY)."""
    try:
        cursor, created = MailboxCursor.objects.get_or_create(mailbox=box.key, defaults={"uidvalidity": uidvalidity})
    except IntegrityError:  # a second poller created it a moment ago
        cursor, created = MailboxCursor.objects.get(mailbox=box.key), False
    if not created and cursor.uidvalidity != uidvalidity:
        log.warning(
            "mailbox %s: UIDVALIDITY changed from %s to %s; reading its unread mail again",
            box.key,
            cursor.uidvalidity,
            uidvalidity,
        )
        MailboxCursor.objects.filter(pk=cursor.pk).update(uidvalidity=uidvalidity, last_uid=0)
        cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
        return cursor, True
    return cursor, created or cursor.last_uid == 0


def _advance(cursor: MailboxCursor, uid: int) -> None:
    MailboxCursor.objects.filter(pk=cursor.pk, uidvalidity=cursor.uidvalidity, last_uid__lt=uid).update(last_uid=uid)


def _after_commit(client: IMAPClient, box: Mailbox, uid: int) -> None:
    """The message is recorded: flag it read, and move it away if a folder is set."""
    client.add_flags([uid], [SEEN], silent=True)
    folder = settings.MOF_MAILBOX_PROCESSED_FOLDER
    if folder and folder != box.folder:
        client.move([uid], folder) if client.has_capability("MOVE") else _copy_delete(client, uid, folder)


def _copy_delete(client: IMAPClient, uid: int, folder: str) -> None:
    client.copy([uid], folder)
    client.delete_messages([uid], silent=True)
    client.uid_expunge([uid]) if client.has_capability("UIDPLUS") else client.expunge()


def poll(url: str, *, batch: int | None = None) -> PollResult:
    box = mailbox_from_url(url)
    batch = batch or settings.MOF_MAILBOX_BATCH
    result = PollResult()
    client = connect(box)
    try:
        folder = settings.MOF_MAILBOX_PROCESSED_FOLDER
        if folder and folder != box.folder and not client.folder_exists(folder):
            client.create_folder(folder)
        uidvalidity = int(client.select_folder(box.folder)[b"UIDVALIDITY"])
        cursor, fresh = _cursor(box, uidvalidity)
        uids = client.search(["UNSEEN"]) if fresh else client.search(["UID", f"{cursor.last_uid + 1}:*"])
        uids = sorted(uid for uid in uids if uid > cursor.last_uid)[:batch]
        for uid in uids:
            result.seen += 1
            outcome = _take(client, box, cursor, uidvalidity, uid)
            if outcome is None:
                result.repeats += 1
            else:
                result.processed += 1
                result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
            _after_commit(client, box, uid)
            _advance(cursor, uid)
        MailboxCursor.objects.filter(pk=cursor.pk).update(polled_at=timezone.now())
    finally:
        try:
            client.logout()
        except Exception:  # noqa: BLE001 - the connection is gone anyway
            pass
    if result.seen:
        log.info("mailbox %s: %d new, %d seen before", box.key, result.processed, result.repeats)
    return result


def _take(client: IMAPClient, box: Mailbox, cursor: MailboxCursor, uidvalidity: int, uid: int):
    """Process message `uid`; its outcome, or None when it was recorded before."""
    head = client.fetch([uid], ["RFC822.SIZE", "BODY.PEEK[HEADER]"]).get(uid)
    if head is None:  # expunged meanwhile
        return None
    header, size = head.get(b"BODY[HEADER]") or b"", int(head.get(b"RFC822.SIZE") or 0)
    message_id = message_id_of(load(header), header) if header else ""
    if already_recorded(message_id if "@mof.inbound" not in message_id else "", box.key, uidvalidity, uid) is not None:
        return None
    if size > settings.MOF_MAIL_IN_MAX_BYTES:
        raw = header  # kept for a person to see; the rules park it as too large
    else:
        raw = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    received = receive(raw, mailbox=box.key, uidvalidity=uidvalidity, uid=uid, size=size or len(raw))
    return received.message.outcome if received.new else None
