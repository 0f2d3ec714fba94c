"""The notification outbox: every mail the portal sends is first stored, one row per
recipient, in the same transaction as the change it reports (write()), so a mail is never
lost when the Celery broker is down at commit, and never sent for a change that rolled back.
After commit one relay task is queued (at most one waiting at a time: mof.relay); a beat task
relays whatever is still pending every minute (the broker was down, a worker died).

Exactly once per recipient: a relay claims rows (FOR UPDATE SKIP LOCKED on PostgreSQL, a
conditional update elsewhere, with a lease), sends each with the Message-ID stored on its row
when it was written, and marks it sent. A relay that dies between sending a mail and marking
it may send that mail again once its lease lapses, with the SAME Message-ID: receiving mail
systems and clients drop the repeat (at-least-once delivery, de-duplicated by Message-ID)."""
from __future__ import annotations

import logging
import smtplib
import uuid
from datetime import timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from mof.models_mail import MailStatus, OutgoingMail

log = logging.getLogger("mof.notifications")

LEASE = timedelta(minutes=5)
BATCH = 100


def setting(name: str) -> int:
    return int(getattr(settings, f"MOF_MAIL_{name}"))


def _domain() -> str:
    return urlparse(getattr(settings, "MOF_BASE_URL", "")).hostname or "mof-portal"


def new_message_id() -> str:
    return f"<{uuid.uuid4().hex}@{_domain()}>"


def _address(person) -> tuple[str, object]:
    """(address, user id or None) of a user, an (address, user id) pair or an address string;
    ('', None) for nobody."""
    if person is None:
        return "", None
    if isinstance(person, str):
        return person.strip(), None
    if isinstance(person, tuple):
        return (person[0] or "").strip(), person[1]
    if not getattr(person, "is_active", True):
        return "", None
    return (person.email or "").strip(), person.pk


def build(recipients, *, subject: str, body: str, kind: str, about=None, html_body: str = "") -> list[OutgoingMail]:
    """Unsaved rows, one per distinct address (users, (address, user id) pairs or address
    strings; inactive users and empty addresses are left out)."""
    rows, seen = [], set()
    now = timezone.now()
    for person in recipients:
        address, user = _address(person)  # user: the recipient's id
        if not address or address.lower() in seen:
            continue
        seen.add(address.lower())
        rows.append(OutgoingMail(
            message_id=new_message_id(), kind=kind[:60], to_email=address, recipient_id=user,
            subject=" ".join(str(subject).split())[:250], body=body, html_body=html_body,
            subject_label=about._meta.label_lower if about is not None else "",
            subject_id=str(about.pk) if about is not None else "",
            created_at=now, next_attempt_at=now,
        ))
    return rows


def write(recipients, *, subject: str, body: str, kind: str, about=None, html_body: str = "") -> list[OutgoingMail]:
    """Store a mail for each recipient in the caller's transaction; relayed once it commits."""
    return write_rows(build(recipients, subject=subject, body=body, kind=kind, about=about, html_body=html_body))


def write_rows(rows) -> list[OutgoingMail]:
    rows = list(rows)
    if rows:
        OutgoingMail.objects.bulk_create(rows)
        transaction.on_commit(queue_relay, robust=True)
    return rows


def queue_relay() -> bool:
    """One relay task at most waiting in the queue, however many mails were committed."""
    from mof import relay
    from mof.tasks import send_outgoing_mail

    return relay.queue_once("mail", send_outgoing_mail)


def _write(update):
    """Run a bookkeeping UPDATE, once more on a fresh connection if the kept one was dropped
    (a database restart, a terminated backend): a mail already handed to the mail server must
    be marked sent, or the next relay sends it again."""
    try:
        return update()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise
        connection.close()
        return update()


def _free(now):
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _claim(now, batch: int) -> list[int]:
    """Take up to `batch` due rows for this relay (a lease: a dead relay's rows go again later)."""
    due = OutgoingMail.objects.filter(status=MailStatus.PENDING, next_attempt_at__lte=now).filter(_free(now)).order_by("next_attempt_at", "id")
    lease = now + LEASE
    if connection.vendor == "postgresql":
        with transaction.atomic():
            ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch])
            OutgoingMail.objects.filter(pk__in=ids).update(claimed_until=lease)
        return ids
    candidates = list(due.values_list("pk", flat=True)[:batch])
    return [pk for pk in candidates if OutgoingMail.objects.filter(pk=pk, status=MailStatus.PENDING).filter(_free(now)).update(claimed_until=lease)]


def message(mail: OutgoingMail, connection=None) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        mail.subject, mail.body, settings.DEFAULT_FROM_EMAIL, [mail.to_email],
        headers={"Message-ID": mail.message_id}, connection=connection,
    )
    if mail.html_body:
        email.attach_alternative(mail.html_body, "text/html")
    return email


def _failed(mail: OutgoingMail, exc: Exception, now) -> None:
    attempts = mail.attempts + 1
    error = f"{type(exc).__name__}: {exc}"[:1000]
    if attempts >= setting("MAX_ATTEMPTS"):
        _write(lambda: OutgoingMail.objects.filter(pk=mail.pk).update(status=MailStatus.FAILED, attempts=attempts, last_error=error, claimed_until=None))
        log.error("mail %s to %s: gave up after %d attempts: %s", mail.message_id, mail.to_email, attempts, error)
        return
    retry = now + timedelta(seconds=setting("BACKOFF_SECONDS") * 2 ** (attempts - 1))
    _write(lambda: OutgoingMail.objects.filter(pk=mail.pk).update(attempts=attempts, last_error=error, next_attempt_at=retry, claimed_until=None))
    log.warning("mail %s to %s: attempt %d failed (%s); next at %s", mail.message_id, mail.to_email, attempts, error, retry.isoformat())


def deliver_pending(*, batches: int = 50, batch: int = BATCH) -> dict:
    """Send what is due, a batch at a time, over one mail connection per batch. Returns counts;
    `more` when the budget of batches ran out with rows still due."""
    sent = failed = 0
    for _ in range(batches):
        now = timezone.now()
        ids = _write(lambda: _claim(now, batch))
        if not ids:
            return {"sent": sent, "failed": failed, "more": False}
        mails = list(OutgoingMail.objects.filter(pk__in=ids).order_by("id"))
        conn = get_connection(fail_silently=False)
        try:
            conn.open()
        except (OSError, smtplib.SMTPException) as exc:  # the mail server is down: each row waits its backoff
            for mail in mails:
                _failed(mail, exc, now)
            failed += len(mails)
            continue
        done = set()
        try:
            for mail in mails:
                try:
                    message(mail, conn).send()
                except (OSError, smtplib.SMTPException) as exc:
                    _failed(mail, exc, now)
                    failed += 1
                    done.add(mail.pk)
                    continue
                # Sent: a crash before this update sends it again later with the same Message-ID.
                _write(lambda: OutgoingMail.objects.filter(pk=mail.pk).update(
                    status=MailStatus.SENT, sent_at=timezone.now(), attempts=mail.attempts + 1, claimed_until=None, last_error=""))
                sent += 1
                done.add(mail.pk)
        except BaseException:
            # Whatever stopped this batch, its unsent rows go back now rather than waiting out
            # the lease (best effort: if the database is gone the lease still frees them).
            rest = [m.pk for m in mails if m.pk not in done]
            try:
                _write(lambda: OutgoingMail.objects.filter(pk__in=rest, status=MailStatus.PENDING).update(claimed_until=None))
            except Exception:  # noqa: BLE001 - the original error is the one to raise
                log.warning("mail relay: could not release %d claimed rows; they go again after the lease", len(rest))
            raise
        finally:
            conn.close()
    return {"sent": sent, "failed": failed, "more": True}


def purge_sent(*, now=None, batch: int = 1000) -> int:
    """Forget sent mail older than MOF_MAIL_RETENTION_DAYS (failed mail stays for a person to see)."""
    cutoff = (now or timezone.now()) - timedelta(days=setting("RETENTION_DAYS"))
    old = list(OutgoingMail.objects.filter(status=MailStatus.SENT, sent_at__lt=cutoff).values_list("pk", flat=True)[:batch])
    if old:
        OutgoingMail.objects.filter(pk__in=old).delete()
    return len(old)


def about(obj) -> dict:
    """Filter for the mails about an object (tests, admin)."""
    return {"subject_label": obj._meta.label_lower, "subject_id": str(obj.pk)}
