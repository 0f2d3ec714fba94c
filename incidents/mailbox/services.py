"""Incidents from e-mail: what a received mail does. A new mail from a known person opens an
incident (channel e-mail) and is acknowledged; a reply (the portal's mail it answers, by
In-Reply-To/References, or the reference in its subject) comments on its incident, reopening
it within the reopen period, or on its change. Mail from machines is dropped or parked and
never answered; unknown senders follow MOF_MAIL_UNKNOWN_SENDERS; a flooding sender is
parked. Each message is recorded once (InboundMessage: unique Message-ID and IMAP UID), in
the same transaction as the incident or comment it made, so a poller that dies and runs
again never takes a message twice."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from incidents.choices import Channel, IncidentStatus, NoteKind
from incidents.mailbox.parsing import ParsedMail, parse
from incidents.models import Incident, Problem
from incidents.models_inbound import InboundMessage, InboundOutcome
from mof import audit, notifications, policy
from mof.models import User
from mof.models_mail import OutgoingMail
from mof.transitions import TransitionBlocked, perform_transition

log = logging.getLogger("mof.mailbox")

VIA = "mail"
REFUSALS = (ValidationError, PermissionDenied, TransitionNotAllowed, TransitionBlocked)


@dataclass
class Received:
    message: InboundMessage
    new: bool  # False: recorded before (a repeat), nothing done


# --- the rules --------------------------------------------------------------------


def receive(
    raw: bytes, *, mailbox: str = "", uidvalidity: int | None = None, uid: int | None = None, size: int | None = None
) -> Received:
    """Process one received message exactly once; a message already recorded (same
    Message-ID, or the same IMAP UID) is left alone. `size`: of the whole message when only
    its header was fetched (too large to take)."""
    parsed, msg = parse(raw)
    known = already_recorded(parsed.message_id, mailbox, uidvalidity, uid)
    if known is not None:
        return Received(known, False)
    try:
        with audit.acting_as(None, via=VIA), transaction.atomic():
            record = InboundMessage(
                message_id=parsed.message_id,
                mailbox=mailbox,
                uidvalidity=uidvalidity,
                uid=uid,
                from_address=parsed.from_address,
                from_name=parsed.from_name,
                subject=parsed.subject,
                sent_at=parsed.sent_at,
                body=parsed.text,
                attachment_names=[a.filename for a in parsed.attachments],
                raw=raw,
                size=max(size or 0, len(raw)),
                outcome=InboundOutcome.PARKED,
            )
            record.save()  # first: a second poller taking the same message waits here, then fails
            try:
                with transaction.atomic():
                    _decide(parsed, record)
            except DatabaseError:
                raise
            except Exception as exc:  # a fault of ours: parked for a person, never tried again and again
                log.exception("mail %s from %s could not be processed", parsed.message_id, parsed.from_address)
                record.sender = record.incident = record.note = record.change = None
                _set(record, InboundOutcome.PARKED, f"could not be processed: {type(exc).__name__}: {exc}")
            record.save()
    except IntegrityError:
        known = already_recorded(parsed.message_id, mailbox, uidvalidity, uid)
        if known is not None:  # recorded by another poller meanwhile
            return Received(known, False)
        raise
    log.info(
        "mail %s from %s: %s%s",
        parsed.message_id,
        parsed.from_address,
        record.outcome,
        f" ({record.reason})" if record.reason else "",
    )
    return Received(record, True)


def already_recorded(message_id, mailbox, uidvalidity, uid):
    match = Q(message_id=message_id)
    if uid is not None:
        match |= Q(mailbox=mailbox, uidvalidity=uidvalidity, uid=uid)
    return InboundMessage.objects.filter(match).first()


def _set(record, outcome, reason=""):
    record.outcome = outcome
    record.reason = reason[:500]
    return record


def _decide(parsed: ParsedMail, record: InboundMessage) -> None:
    if record.size > settings.MOF_MAIL_IN_MAX_BYTES:
        return _set(
            record,
            InboundOutcome.PARKED,
            f"too large ({record.size} bytes; MOF_MAIL_IN_MAX_BYTES is {settings.MOF_MAIL_IN_MAX_BYTES})",
        )
    if parsed.automatic:
        action, why = parsed.automatic
        return _set(record, InboundOutcome.DROPPED if action == "drop" else InboundOutcome.PARKED, why)
    if parsed.from_address in _own_addresses():
        return _set(record, InboundOutcome.DROPPED, "sent by the portal itself")
    # Dropped mail (bounces, auto-replies) does not count: a storm of those must not silence the person.
    recent = (
        InboundMessage.objects.filter(
            from_address=parsed.from_address, received_at__gte=timezone.now() - dt.timedelta(hours=1)
        )
        .exclude(pk=record.pk)
        .exclude(outcome=InboundOutcome.DROPPED)
        .count()
    )
    if recent >= settings.MOF_MAIL_IN_RATE_PER_HOUR:
        return _set(
            record,
            InboundOutcome.PARKED,
            f"rate limited: more than {settings.MOF_MAIL_IN_RATE_PER_HOUR} mails in an hour from {parsed.from_address}",
        )
    person, why = _person(parsed.from_address)
    if person is None and why == "unknown":
        mode = settings.MOF_MAIL_UNKNOWN_SENDERS
        if mode == "refuse":
            _refusal(parsed)
            return _set(record, InboundOutcome.REFUSED, "unknown sender (MOF_MAIL_UNKNOWN_SENDERS=refuse): told so")
        if mode == "create":
            person = _create_caller(parsed)
        else:
            return _set(record, InboundOutcome.PARKED, "unknown sender")
    if person is None:
        return _set(record, InboundOutcome.PARKED, why)
    record.sender = person
    target = _target(parsed)
    if target is None:
        return _open(parsed, record, person)
    kind, obj, label = target
    if kind == "incident":
        return _comment_incident(parsed, record, person, obj)
    if kind == "change":
        return _comment_change(parsed, record, person, obj)
    if kind == "missing":
        return _set(record, InboundOutcome.PARKED, f"names {label}, which does not exist")
    return _set(
        record, InboundOutcome.PARKED, f"a reply about {label}: only incidents and changes take replies by mail"
    )


def _own_addresses() -> set[str]:
    from email.utils import parseaddr

    return {parseaddr(a)[1].lower() for a in (settings.DEFAULT_FROM_EMAIL, settings.SERVER_EMAIL) if a} - {""}


def _person(address: str):
    """(the active person with this address, "") or (None, why)."""
    people = (
        list(User.objects.filter(email__iexact=address, is_system=False, is_service_account=False).order_by("pk")[:5])
        if address
        else []
    )
    active = [p for p in people if p.is_active]
    if len(active) == 1:
        return active[0], ""
    if len(active) > 1:
        return None, f"{len(active)} people have the address {address}: choose the caller"
    if people:
        return None, f"the account with the address {address} is inactive"
    return None, "unknown"


def _create_caller(parsed: ParsedMail) -> User:
    """A caller for an unknown sender (MOF_MAIL_UNKNOWN_SENDERS=create): active, without a
    usable password (a password reset or the directory gives them one)."""
    base = parsed.from_address[:150]
    username, n = base, 1
    while User.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{base[:140]}-{n}"
    first, _, last = parsed.from_name.partition(" ")
    user = User(username=username, email=parsed.from_address, first_name=first[:150], last_name=last[:150])
    user.set_unusable_password()
    with audit.acting_as(None, via=VIA, reason=f"caller created for mail from {parsed.from_address}"):
        user.save()
    return user


def _target(parsed: ParsedMail):
    """What the mail answers: ("incident" | "change" | "problem" | "other" | "missing", object, label)
    or None for a new mail. The portal's mails it answers first, then the subject's reference."""
    answers = parsed.answers
    if answers:
        about = {
            mid: (label, oid)
            for mid, label, oid in OutgoingMail.objects.filter(message_id__in=answers)
            .exclude(subject_id="")
            .values_list("message_id", "subject_label", "subject_id")
        }
        earlier = dict(
            InboundMessage.objects.filter(message_id__in=answers)
            .filter(Q(incident__isnull=False) | Q(change__isnull=False))
            .values_list("message_id", "pk")
        )
        for mid in answers:
            if mid in about:
                found = _about(*about[mid])
                if found is not None:
                    return found
            if mid in earlier:  # answers a mail that opened or commented on a ticket (a colleague's reply-all)
                message = InboundMessage.objects.select_related("incident", "change").get(pk=earlier[mid])
                return (
                    ("incident", message.incident, message.incident.reference)
                    if message.incident
                    else ("change", message.change, message.change.reference)
                )
    reference = parsed.reference
    if reference is None:
        return None
    prefix, number = reference
    label = f"{prefix}-{number}"
    if prefix == "INC":
        obj = Incident.objects.filter(number=number).first()
        return ("incident", obj, label) if obj else ("missing", None, label)
    if prefix == "CHG":
        from changes.models import RequestForChange

        obj = RequestForChange.objects.filter(number=number).first()
        return ("change", obj, label) if obj else ("missing", None, label)
    return ("problem", None, label) if Problem.objects.filter(number=number).exists() else ("missing", None, label)


def _about(label: str, object_id: str):
    if label == "incidents.incident":
        obj = Incident.objects.filter(pk=object_id).first()
        return ("incident", obj, obj.reference) if obj else None
    if label == "changes.requestforchange":
        from changes.models import RequestForChange

        obj = RequestForChange.objects.filter(pk=object_id).first()
        return ("change", obj, obj.reference) if obj else None
    return ("other", None, f"a portal mail about {label}")


def _reply_text(parsed: ParsedMail) -> str:
    if parsed.text:
        return parsed.text
    if parsed.attachments:
        return "(sent by e-mail without text; attached: " + ", ".join(a.filename for a in parsed.attachments) + ")"
    return ""


def _comment_incident(parsed, record, person, incident: Incident):
    record.incident = incident
    body = _reply_text(parsed)
    if not body:
        return _set(record, InboundOutcome.PARKED, f"an empty reply about {incident.reference}")
    try:
        with audit.acting_as(person, via=VIA), transaction.atomic():
            note = incident_note_by_mail(person, incident, body)
    except REFUSALS as exc:
        return _set(record, InboundOutcome.PARKED, f"{incident.reference}: {_why(exc)}")
    record.note = note
    reason = _attach_from_mail(parsed, record, incident, person, note=note)
    incident.refresh_from_db()
    if incident.status == IncidentStatus.RESOLVED:
        try:
            with audit.acting_as(person, via=VIA), transaction.atomic():
                perform_transition(
                    model=Incident,
                    pk=incident.pk,
                    name="reopen",
                    actor=person,
                    data={"reason": f"{person} replied by e-mail."},
                )
            reason = "; ".join(filter(None, ["reopened", reason]))
        except REFUSALS as exc:
            reason = "; ".join(filter(None, [f"not reopened: {_why(exc)}", reason]))
    return _set(record, InboundOutcome.COMMENT, reason)


def incident_note_by_mail(person, incident, body):
    from incidents.services import incident_note

    return incident_note(actor=person, incident=incident, kind=NoteKind.COMMENT, body=body)


def _comment_change(parsed, record, person, change):
    from changes.services import change_comment

    record.change = change
    body = _reply_text(parsed)
    if not body:
        return _set(record, InboundOutcome.PARKED, f"an empty reply about {change.reference}")
    try:
        with audit.acting_as(person, via=VIA), transaction.atomic():
            change_comment(actor=person, change=change, body=body)
    except REFUSALS as exc:
        return _set(record, InboundOutcome.PARKED, f"{change.reference}: {_why(exc)}")
    return _set(record, InboundOutcome.COMMENT)


def _why(exc) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or type(exc).__name__


def _open(parsed, record, caller, *, actor=None):
    """File the incident (as the sender, or `actor` for the sender) and acknowledge it."""
    from incidents.services import incident_create

    actor = actor or caller
    title = (
        parsed.title
        or (parsed.text.splitlines()[0] if parsed.text else "")
        or f"E-mail from {parsed.from_name or parsed.from_address}"
    )
    with audit.acting_as(actor, via=VIA):
        incident = incident_create(
            actor=actor, caller=caller, title=title[:200], description=parsed.text, channel=Channel.EMAIL
        )
        acknowledge(incident, parsed)
    record.incident = incident
    return _set(record, InboundOutcome.INCIDENT, _attach_from_mail(parsed, record, incident, caller))


def _attach_from_mail(parsed, record, ticket, person, *, note=None) -> str:
    """The mail's files on the ticket, through the one attachment service (its limits, types
    and rights); any it refuses are named in the record's reason, the rest still attached."""
    from mof.attachments import attach_file

    if not parsed.attachments or not record.raw:
        return ""
    refused = []
    for upload in attachment_files(record):
        try:
            with audit.acting_as(person, via=VIA), transaction.atomic():
                attach_file(ticket, upload, by=person, note=note)
        except REFUSALS as exc:
            refused.append(f"{upload.name}: {_why(exc)}")
    return ("not attached: " + "; ".join(refused)) if refused else ""


def acknowledge(incident: Incident, parsed: ParsedMail | None = None) -> list:
    """The caller's receipt, with the reference in the subject that a reply is recognised by."""
    return notifications.write_from_template(
        [incident.caller],
        "incidents/mail_received",
        {"caller": notifications.person(incident.caller)},
        subject=f"{incident.title}: received",
        about=incident,
    )


def _refusal(parsed: ParsedMail) -> list:
    return notifications.write_from_template(
        [parsed.from_address],
        "incidents/mail_refused",
        {"their_subject": parsed.subject or "(no subject)"},
        subject=f"Re: {parsed.subject}" if parsed.subject else "Your mail to the service desk",
    )


# --- parked mail: a person decides -------------------------------------------------


def parked_open(*, actor, message: InboundMessage, caller: User) -> Incident:
    """Open a parked mail as an incident for `caller`, as the service desk."""
    policy.require(actor, "inbound_mail.decide", message)
    if caller is None or not caller.is_active:
        raise ValidationError({"caller": "Choose an active person as the caller."})
    with audit.acting_as(actor, via="web", reason="parked mail opened as an incident"), transaction.atomic():
        locked = InboundMessage.objects.select_for_update().get(pk=message.pk)
        if locked.outcome != InboundOutcome.PARKED:
            raise ValidationError({"outcome": "This mail was already dealt with."})
        parsed, _ = parse(bytes(locked.raw))
        parsed.text = parsed.text or locked.body
        _open(parsed, locked, caller, actor=actor)
        locked.reason = f"parked ({locked.reason}); opened by {actor}"[:500]
        locked.sender = locked.sender or caller
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save()
    return locked.incident


def parked_drop(*, actor, message: InboundMessage) -> InboundMessage:
    policy.require(actor, "inbound_mail.decide", message)
    with audit.acting_as(actor, via="web", reason="parked mail dropped"), transaction.atomic():
        locked = InboundMessage.objects.select_for_update().get(pk=message.pk)
        if locked.outcome != InboundOutcome.PARKED:
            raise ValidationError({"outcome": "This mail was already dealt with."})
        locked.outcome = InboundOutcome.DROPPED
        locked.reason = f"parked ({locked.reason}); dropped by {actor}"[:500]
        locked.decided_by, locked.decided_at = actor, timezone.now()
        locked.save()
    return locked


def attachment_files(message: InboundMessage) -> list:
    """The attachments of a received mail as uploaded files (name, content type, bytes), ready
    for the ticket attachment service."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from incidents.mailbox.parsing import attachments, body_text, load

    msg = load(bytes(message.raw))
    _, body_part = body_text(msg)
    return [
        SimpleUploadedFile(name, payload, content_type=ctype) for name, ctype, payload in attachments(msg, body_part)
    ]


def purge_originals(*, now=None, batch: int = 1000) -> int:
    """Forget the text and the original of mail dealt with more than
    MOF_MAIL_IN_RETENTION_DAYS ago (parked mail keeps them until a person decides). The
    record stays: it still recognises the message should it come again."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.MOF_MAIL_IN_RETENTION_DAYS)
    ids = list(
        InboundMessage.objects.filter(received_at__lt=cutoff)
        .exclude(outcome=InboundOutcome.PARKED)
        .exclude(raw=b"")
        .values_list("pk", flat=True)[:batch]
    )
    if ids:
        InboundMessage.objects.filter(pk__in=ids).update(raw=b"", body="")
    return len(ids)
