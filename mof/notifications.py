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

import hashlib
import logging
import smtplib
import uuid
from datetime import timedelta
from urllib.parse import urlparse

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q
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


# --- what people can be told of -----------------------------------------------------------

# Kinds of event a person chooses how to hear of (NotificationPreference.event). A mail's
# kind that is not listed here is a status change of something the person owns.
EVENTS: dict[str, str] = {
    "incidents.landed_in_queue": "An incident lands in your group's queue",
    "incidents.assigned": "Your incident is assigned",
    "incidents.commented": "A comment on your incident",
    "incidents.resolved": "Your incident is resolved",
    "incidents.escalated": "An incident is escalated to you",
    "incidents.major_update": "Major incident updates",
    "changes.stakeholder": "A change may affect you",
    "changes.window": "Change window invitations",
    "reviews.invitation": "Review meeting invitations",
    "reviews.agenda_published": "Review meeting agendas",
    "reviews.decision": "Review decisions on your requests",
    "slas.warning": "SLA warnings",
    "slas.breach": "SLA breaches",
    "integrations.subscription_disabled": "Your webhook subscription is disabled",
    "transition": "Status changes of things you own",
}


def event_of(kind: str) -> str:
    return kind if kind in EVENTS else "transition"


def reference(obj) -> str:
    """The ticket reference (INC-12, CHG-3, REV-4 ...), or "" for an object without one."""
    ref = getattr(obj, "reference", "") if obj is not None else ""
    return ref if isinstance(ref, str) else ""


def subject_line(about, text: str) -> str:
    """`[INC-123] Printer down: assigned`: the reference in square brackets first (inbound
    mail recognises it), `[MOF]` for mail about nothing with a reference."""
    ref = reference(about)
    return f"[{ref or 'MOF'}] {' '.join(str(text).split())}"


def person(user) -> str:
    """A person as people name them: the full name, else the user name; "nobody" for None."""
    if user is None:
        return "nobody"
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return name or getattr(user, "username", "") or str(user)


def when(value) -> str:
    """A moment in the portal's time zone, as a person reads it."""
    return f"{timezone.localtime(value):%a %d %b %Y, %H:%M %Z}" if value else "not set"


def thread_root(obj, address: str) -> str:
    """The Message-ID a person's thread about `obj` starts with, derived from the object and
    the person's address: `<incident-123.incidents.5f0c2a9e41d7@portal.example.com>`. One
    per person, so every Message-ID stays unique while each mailbox gets one thread."""
    person_key = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:12]
    return f"<{obj._meta.model_name}-{obj.pk}.{obj._meta.app_label}.{person_key}@{_domain()}>"


# --- composing ---------------------------------------------------------------------------


def render(template: str, context: dict) -> tuple[str, str]:
    """(plain text, HTML) of templates/mail/<template>.txt and .html."""
    from django.template.loader import render_to_string

    from mof.links import absolute_url

    ctx = {
        "base_url": settings.MOF_BASE_URL.rstrip("/"),
        "notifications_url": absolute_url("/notifications/"),
        "preferences_url": absolute_url("/notifications/preferences/"),
        **context,
    }
    text = render_to_string(f"mail/{template}.txt", ctx)
    text = "\n".join(line.rstrip() for line in text.strip().splitlines())
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text + "\n", render_to_string(f"mail/{template}.html", ctx)


def write_from_template(
    people,
    template: str,
    context: dict | None = None,
    *,
    subject: str,
    about=None,
    kind: str = "",
    calendar: str = "",
    calendar_method: str = "",
) -> list[OutgoingMail]:
    """The one way to compose a notification: render templates/mail/<template>.txt and .html
    with `context` (plus `about`, its `reference`, its absolute `url`, `subject`), prefix the
    subject with the reference, and write() it for `people`."""
    from mof.links import absolute_url

    line = subject_line(about, subject)
    ctx = {
        "about": about,
        "reference": reference(about),
        "url": absolute_url(about) if about is not None else "",
        "subject": line,
        **(context or {}),
    }
    text, html = render(template, ctx)
    return write(
        people,
        subject=line,
        body=text,
        html_body=html,
        kind=kind or template.replace("/", "."),
        about=about,
        calendar=calendar,
        calendar_method=calendar_method,
    )


# --- storing -----------------------------------------------------------------------------


def _recipients(recipients) -> list[tuple[str, object]]:
    """(address, user id) per distinct address; inactive users and empty addresses left out."""
    out, seen = [], set()
    for person in recipients:
        address, user = _address(person)
        if not address or address.lower() in seen:
            continue
        seen.add(address.lower())
        out.append((address, user))
    return out


def _lock_threads(roots) -> None:
    """Two transactions writing a person's first mail about one object at once would both
    take the root Message-ID (unique): on PostgreSQL a transaction-scoped advisory lock per
    root makes the second wait for the first to commit, and then see its root taken."""
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(r, 0)) FROM unnest(%s::text[]) AS r ORDER BY r",
            [sorted(set(roots))],
        )


def build(
    recipients,
    *,
    subject: str,
    body: str,
    kind: str,
    about=None,
    html_body: str = "",
    calendar: str = "",
    calendar_method: str = "",
) -> list[OutgoingMail]:
    """Unsaved rows, one per distinct address (users, (address, user id) pairs or address
    strings; inactive users and empty addresses are left out). Mail about an object is
    threaded: a person's first mail about it carries the object's root Message-ID, later
    ones a new one with In-Reply-To/References to the root (set by the relay from `thread`).
    Two queries: a lock on the roots, then which of them were written already."""
    people = _recipients(recipients)
    if not people:
        return []
    now = timezone.now()
    roots = (
        {address: thread_root(about, address) for address, _ in people}
        if about is not None and about.pk is not None
        else {}
    )
    if roots:
        _lock_threads(roots.values())
    started = (
        set(OutgoingMail.objects.filter(message_id__in=list(roots.values())).values_list("message_id", flat=True))
        if roots
        else set()
    )
    rows = []
    for address, user in people:
        root = roots.get(address, "")
        first = bool(root) and root not in started
        rows.append(
            OutgoingMail(
                message_id=root if first else new_message_id(),
                thread=root,
                kind=kind[:60],
                to_email=address,
                recipient_id=user,
                subject=" ".join(str(subject).split())[:250],
                body=body,
                html_body=html_body,
                calendar=calendar,
                calendar_method=calendar_method if calendar else "",
                subject_label=about._meta.label_lower if about is not None else "",
                subject_id=str(about.pk) if about is not None else "",
                created_at=now,
                next_attempt_at=now,
            )
        )
    return rows


def write(
    recipients,
    *,
    subject: str,
    body: str,
    kind: str,
    about=None,
    html_body: str = "",
    calendar: str = "",
    calendar_method: str = "",
) -> list[OutgoingMail]:
    """Store a notification for each recipient in the caller's transaction, as each chose for
    this kind of event (NotificationPreference, default immediately): a mail in the outbox
    (relayed once it commits) and a row in their in-portal list; a daily digest or portal-only
    choice writes the portal row only (the digest task mails it later); off writes nothing.
    A calendar invitation is never held for the digest. Addresses without a user are mailed."""
    from mof.models_mail import Delivery, Notification, NotificationPreference

    people = _recipients(recipients)
    if not people:
        return []
    user_ids = [u for _, u in people if u is not None]
    chosen = (
        dict(
            NotificationPreference.objects.filter(user_id__in=user_ids, event=event_of(kind)).values_list(
                "user_id", "delivery"
            )
        )
        if user_ids
        else {}
    )
    path = (about.get_absolute_url() or "") if about is not None and hasattr(about, "get_absolute_url") else ""
    mailed, notes, now = [], [], timezone.now()
    title = " ".join(str(subject).split())[:250]
    for address, user in people:
        delivery = chosen.get(user, Delivery.IMMEDIATELY) if user is not None else Delivery.IMMEDIATELY
        if delivery == Delivery.OFF:
            continue
        if delivery == Delivery.DIGEST and calendar:
            delivery = Delivery.IMMEDIATELY
        if user is not None:
            notes.append(
                Notification(
                    user_id=user,
                    kind=kind[:60],
                    title=title,
                    body=body[:4000],
                    url=path[:500],
                    created_at=now,
                    subject_label=about._meta.label_lower if about is not None else "",
                    subject_id=str(about.pk) if about is not None else "",
                    digest=delivery == Delivery.DIGEST,
                )
            )
        if delivery == Delivery.IMMEDIATELY:
            mailed.append((address, user))
    if notes:
        Notification.objects.bulk_create(notes)
    return write_rows(
        build(
            mailed,
            subject=subject,
            body=body,
            kind=kind,
            about=about,
            html_body=html_body,
            calendar=calendar,
            calendar_method=calendar_method,
        )
    )


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
    due = (
        OutgoingMail.objects.filter(status=MailStatus.PENDING, next_attempt_at__lte=now)
        .filter(_free(now))
        .order_by("next_attempt_at", "id")
    )
    lease = now + LEASE
    if connection.vendor == "postgresql":
        with transaction.atomic():
            ids = list(due.select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch])
            OutgoingMail.objects.filter(pk__in=ids).update(claimed_until=lease)
        return ids
    candidates = list(due.values_list("pk", flat=True)[:batch])
    return [
        pk
        for pk in candidates
        if OutgoingMail.objects.filter(pk=pk, status=MailStatus.PENDING).filter(_free(now)).update(claimed_until=lease)
    ]


def headers(mail: OutgoingMail) -> dict:
    """Message-ID, and for every mail after the first of a thread In-Reply-To and References
    to its root, so mail clients (Outlook, Exchange, Thunderbird, Gmail) group them; and the
    marks of an automatic mail."""
    # RFC 3834: an automatic mail; Exchange sends no out-of-office or auto-reply to it (no loops
    # with the service desk's own mailbox). People's replies are not affected.
    out = {
        "Message-ID": mail.message_id,
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "OOF, AutoReply",
    }
    if mail.thread and mail.thread != mail.message_id:
        out["In-Reply-To"] = mail.thread
        out["References"] = mail.thread
    return out


def message(mail: OutgoingMail, connection=None) -> EmailMultiAlternatives:
    """The mail: plain text, the HTML alternative, and a calendar invitation as the
    `text/calendar; method=REQUEST` (or CANCEL) alternative, as Outlook and Exchange expect."""
    email = EmailMultiAlternatives(
        mail.subject,
        mail.body,
        settings.DEFAULT_FROM_EMAIL,
        [mail.to_email],
        headers=headers(mail),
        connection=connection,
    )
    if mail.html_body:
        email.attach_alternative(mail.html_body, "text/html")
    if mail.calendar:
        email.attach_alternative(mail.calendar, f"text/calendar; method={mail.calendar_method or 'REQUEST'}")
    return email


def _failed(mail: OutgoingMail, exc: Exception, now) -> None:
    attempts = mail.attempts + 1
    error = f"{type(exc).__name__}: {exc}"[:1000]
    if attempts >= setting("MAX_ATTEMPTS"):
        _write(
            lambda: OutgoingMail.objects.filter(pk=mail.pk).update(
                status=MailStatus.FAILED, attempts=attempts, last_error=error, claimed_until=None
            )
        )
        log.error("mail %s to %s: gave up after %d attempts: %s", mail.message_id, mail.to_email, attempts, error)
        return
    retry = now + timedelta(seconds=setting("BACKOFF_SECONDS") * 2 ** (attempts - 1))
    _write(
        lambda: OutgoingMail.objects.filter(pk=mail.pk).update(
            attempts=attempts, last_error=error, next_attempt_at=retry, claimed_until=None
        )
    )
    log.warning(
        "mail %s to %s: attempt %d failed (%s); next at %s",
        mail.message_id,
        mail.to_email,
        attempts,
        error,
        retry.isoformat(),
    )


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
                _write(
                    lambda: OutgoingMail.objects.filter(pk=mail.pk).update(
                        status=MailStatus.SENT,
                        sent_at=timezone.now(),
                        attempts=mail.attempts + 1,
                        claimed_until=None,
                        last_error="",
                    )
                )
                sent += 1
                done.add(mail.pk)
        except BaseException:
            # Whatever stopped this batch, its unsent rows go back now rather than waiting out
            # the lease (best effort: if the database is gone the lease still frees them).
            rest = [m.pk for m in mails if m.pk not in done]
            try:
                _write(
                    lambda: OutgoingMail.objects.filter(pk__in=rest, status=MailStatus.PENDING).update(
                        claimed_until=None
                    )
                )
            except Exception:  # noqa: BLE001 - the original error is the one to raise
                log.warning("mail relay: could not release %d claimed rows; they go again after the lease", len(rest))
            raise
        finally:
            conn.close()
    return {"sent": sent, "failed": failed, "more": True}


def purge_sent(*, now=None, batch: int = 1000) -> int:
    """Forget sent mail older than MOF_MAIL_RETENTION_DAYS (failed mail stays for a person to see)."""
    cutoff = (now or timezone.now()) - timedelta(days=setting("RETENTION_DAYS"))
    # A thread's root stays: were it forgotten, a later mail would reuse its Message-ID and
    # mail clients would drop it as a repeat of the first.
    old = list(
        OutgoingMail.objects.filter(status=MailStatus.SENT, sent_at__lt=cutoff)
        .exclude(message_id=F("thread"))
        .values_list("pk", flat=True)[:batch]
    )
    if old:
        OutgoingMail.objects.filter(pk__in=old).delete()
    return len(old)


def purge_notifications(*, now=None, batch: int = 1000) -> int:
    """Forget in-portal notifications older than MOF_NOTIFICATION_RETENTION_DAYS (except those
    still waiting for a digest)."""
    from mof.models_mail import Notification

    cutoff = (now or timezone.now()) - timedelta(days=int(settings.MOF_NOTIFICATION_RETENTION_DAYS))
    old = list(
        Notification.objects.filter(created_at__lt=cutoff)
        .exclude(digest=True, digested_at__isnull=True)
        .values_list("pk", flat=True)[:batch]
    )
    if old:
        Notification.objects.filter(pk__in=old).delete()
    return len(old)


def send_digests(*, now=None, batch: int = 500) -> int:
    """One digest mail per person with notifications waiting for it (they chose a daily
    digest for those kinds of event); the items are marked digested in the same transaction.
    Returns the number of digest mails written."""
    from django.contrib.auth import get_user_model

    from mof.links import absolute_url
    from mof.models_mail import Notification

    now = now or timezone.now()
    waiting = Notification.objects.filter(digest=True, digested_at__isnull=True, created_at__lte=now)
    user_ids = list(waiting.order_by().values_list("user_id", flat=True).distinct()[:batch])
    sent = 0
    for user in get_user_model().objects.filter(pk__in=user_ids).order_by("pk"):
        with transaction.atomic():
            items = list(waiting.filter(user=user).select_for_update().order_by("created_at", "id"))
            if not items:
                continue
            Notification.objects.filter(pk__in=[i.pk for i in items]).update(digested_at=now)
            if not user.is_active or not user.email:
                continue
            entries = [
                {
                    "title": i.title,
                    "when": when(i.created_at),
                    "url": absolute_url(i.url) if i.url else "",
                    "event": EVENTS.get(event_of(i.kind), ""),
                }
                for i in items
            ]
            text, html = render(
                "digest",
                {
                    "items": entries,
                    "count": len(entries),
                    "url": absolute_url("/notifications/"),
                    "subject": f"[MOF] Your notifications: {len(entries)} since the last digest",
                },
            )
            write_rows(
                build(
                    [user],
                    subject=f"[MOF] Your notifications: {len(entries)} since the last digest",
                    body=text,
                    html_body=html,
                    kind="digest",
                )
            )
            sent += 1
    return sent


def about(obj) -> dict:
    """Filter for the mails about an object (tests, admin)."""
    return {"subject_label": obj._meta.label_lower, "subject_id": str(obj.pk)}


# --- the in-portal list and preferences ---------------------------------------------------


def inbox(user, *, unread: bool = False):
    """A person's in-portal notifications, newest first (only their own)."""
    from mof.models_mail import Notification

    qs = Notification.objects.filter(user=user).order_by("-created_at", "-id")
    return qs.filter(read_at__isnull=True) if unread else qs


def unread_count(user, *, cap: int = 100) -> int:
    """Unread notifications, counted up to `cap` (the badge shows "99+"): one indexed query."""
    from mof.models_mail import Notification

    return Notification.objects.filter(user=user, read_at__isnull=True).order_by()[:cap].count()


def mark_read(user, ids=None) -> int:
    """Mark some (ids) or all of a person's unread notifications read; returns how many."""
    qs = inbox(user, unread=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.order_by().update(read_at=timezone.now())


def preferences(user) -> list[tuple[str, str, str]]:
    """(event, label, delivery) for every kind of event, the person's choice or the default."""
    from mof.models_mail import Delivery, NotificationPreference

    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("event", "delivery"))
    return [(event, label, chosen.get(event, Delivery.IMMEDIATELY)) for event, label in EVENTS.items()]


def set_preferences(user, choices: dict) -> list[tuple[str, str, str]]:
    """Store a person's choices ({event: delivery}); unknown events or deliveries are a
    ValidationError naming the field. A choice back to the default removes its row."""
    from django.core.exceptions import ValidationError

    from mof.models_mail import Delivery, NotificationPreference

    errors = {}
    for event, delivery in choices.items():
        if event not in EVENTS:
            errors[event] = "No such kind of event."
        elif delivery not in Delivery.values:
            errors[event] = f"Choose one of: {', '.join(Delivery.values)}."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        for event, delivery in choices.items():
            if delivery == Delivery.IMMEDIATELY:
                NotificationPreference.objects.filter(user=user, event=event).delete()
            else:
                NotificationPreference.objects.update_or_create(user=user, event=event, defaults={"delivery": delivery})
    return preferences(user)
