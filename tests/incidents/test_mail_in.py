"""Incidents from e-mail: the rules of incidents.mailbox, on messages built here (the IMAP
poller and the SMTP receiver are proven against real servers in tests/integration)."""

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from django.utils import timezone

from incidents.choices import Channel, IncidentStatus, NoteKind
from incidents.mailbox import parsing
from incidents.mailbox.services import attachment_files, parked_drop, parked_open, receive
from incidents.models import InboundMessage, InboundOutcome, Incident, IncidentNote
from mof.choices import RoleCluster
from mof.models import User
from mof.models_mail import OutgoingMail
from tests.factories import UserFactory
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db


def mail(
    sender="alice@example.test",
    subject="Printer on floor 3 is down",
    body="It shows error E42.",
    *,
    name="Alice Example",
    html=None,
    headers=None,
    message_id=None,
    attachments=(),
):
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = "servicedesk@example.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(timezone.now())
    msg["Message-ID"] = message_id or make_msgid(domain="client.example")
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, ctype, payload in attachments:
        maintype, subtype = ctype.split("/")
        msg.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(msg)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", email="Alice@Example.test", first_name="Alice", last_name="Example")


# --- parsing -----------------------------------------------------------------------


def test_quoted_replies_are_trimmed_in_the_forms_mail_clients_write():
    gmail = "Still broken.\n\nOn Mon, 7 Dec 2026 at 10:00, MOF Portal <\nportal@example.test> wrote:\n> Your incident is with Bob."
    outlook = "Thanks, works now.\n\n________________________________\nFrom: MOF Portal <portal@example.test>\nSent: Monday, 7 December 2026 10:00\nTo: Alice\nSubject: [INC-4] x"
    classic = "See attached.\n-----Original Message-----\nFrom: Bob\nold text"
    quoted_lines = "> old\nNew answer\n> more old"
    signature = "Done.\n-- \nAlice Example\nFloor 3"
    assert parsing.trim_quotes(gmail) == "Still broken."
    assert parsing.trim_quotes(outlook) == "Thanks, works now."
    assert parsing.trim_quotes(classic) == "See attached."
    assert parsing.trim_quotes(quoted_lines) == "New answer"
    assert parsing.trim_quotes(signature) == "Done."
    # A line that merely starts with "From:" is text, not a quoted header block.
    assert (
        parsing.trim_quotes("From: the third floor\nthe printer is gone")
        == "From: the third floor\nthe printer is gone"
    )


def test_text_comes_from_html_when_there_is_no_plain_part():
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "a@example.test", "x"
    msg.set_content(
        "<html><head><style>p{color:red}</style></head><body><p>Hello&nbsp;desk,</p><div>line two<br>line three</div>"
        "<blockquote>quoted old mail</blockquote><script>alert(1)</script></body></html>",
        subtype="html",
    )
    parsed, _ = parsing.parse(bytes(msg))
    assert parsed.text == "Hello desk,\n\nline two\nline three"


def test_the_subject_reference_is_found_in_both_forms():
    for subject in ("[INC-123] Printer down: assigned", "RE: [MOF] INC-123 Printer down", "AW: inc-123"):
        parsed, _ = parsing.parse(mail(subject=subject))
        assert parsed.reference == ("INC", 123), subject
    assert parsing.parse(mail(subject="[CHG-7] Router"))[0].reference == ("CHG", 7)
    assert parsing.parse(mail(subject="Printer INCIDENT-5"))[0].reference is None


@pytest.mark.parametrize(
    "headers,subject,from_,expected",
    [
        ({"Auto-Submitted": "auto-replied"}, "Re: x", "bob@example.test", "drop"),
        ({"Auto-Submitted": "auto-generated"}, "Nightly report", "bob@example.test", "park"),
        ({"Auto-Submitted": "no"}, "Hello", "bob@example.test", None),
        ({"X-Auto-Response-Suppress": "All"}, "Hello", "bob@example.test", "park"),
        ({"Precedence": "bulk"}, "Newsletter", "bob@example.test", "park"),
        ({"Precedence": "junk"}, "Win", "bob@example.test", "drop"),
        ({"Precedence": "list"}, "Digest", "bob@example.test", "park"),
        ({}, "Automatic reply: Printer down", "bob@example.test", "drop"),
        ({}, "Out of Office: back on Monday", "bob@example.test", "drop"),
        ({}, "AW: Abwesenheitsnotiz: Drucker", "bob@example.test", "drop"),
        ({}, "Out of office replies do not work", "bob@example.test", None),
        ({}, "Absence of toner on floor 3", "bob@example.test", None),
        ({}, "Undelivered Mail Returned to Sender", "MAILER-DAEMON@example.test", "drop"),
        ({}, "Delivery failure", "postmaster@example.test", "drop"),
    ],
)
def test_machine_mail_is_recognised(headers, subject, from_, expected):
    parsed, _ = parsing.parse(mail(sender=from_, subject=subject, headers=headers, name=""))
    assert (parsed.automatic[0] if parsed.automatic else None) == expected


def test_a_delivery_status_notification_is_recognised_by_its_content_type():
    raw = (
        b"From: Mail Delivery System <mailer@example.test>\r\nSubject: Returned mail\r\nMessage-ID: <dsn1@x>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\r\n\r\n"
        b"--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.test\r\n\r\nFinal-Recipient: rfc822; x@y\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"--B--\r\n"
    )
    parsed, _ = parsing.parse(raw)
    assert parsed.automatic[0] == "drop" and "delivery status" in parsed.automatic[1]


# --- the rules ---------------------------------------------------------------------


def test_a_new_mail_from_a_known_person_opens_an_incident_and_acknowledges_it(alice):
    result = receive(mail(sender="alice@EXAMPLE.test", body="It shows error E42.\n\nOn Mon, Bob wrote:\n> old"))
    incident = result.message.incident
    assert result.new and result.message.outcome == InboundOutcome.INCIDENT
    assert (incident.caller, incident.channel, incident.title, incident.description) == (
        alice,
        Channel.EMAIL,
        "Printer on floor 3 is down",
        "It shows error E42.",
    )
    ack = OutgoingMail.objects.get(kind="incidents.mail_received")
    assert (
        ack.to_email == "Alice@Example.test"
        and ack.subject == f"[{incident.reference}] Printer on floor 3 is down: received"
    )
    assert (ack.subject_label, ack.subject_id) == ("incidents.incident", str(incident.pk))


def test_the_same_message_twice_is_processed_once(alice):
    raw = mail(message_id="<once@client.example>")
    first, second = receive(raw), receive(raw)
    assert first.new and not second.new and second.message.pk == first.message.pk
    assert Incident.objects.count() == 1 and InboundMessage.objects.count() == 1


def test_a_reply_to_the_portals_mail_is_a_comment_by_the_sender(alice):
    opened = receive(mail()).message.incident
    ack = OutgoingMail.objects.get(kind="incidents.mail_received")
    # No reference in the subject: the In-Reply-To header alone finds the incident.
    reply = receive(
        mail(
            subject="Re: your mail",
            body="It works again after a restart.\n\n> We received your mail",
            headers={"In-Reply-To": ack.message_id, "References": ack.message_id},
        )
    )
    assert reply.message.outcome == InboundOutcome.COMMENT and reply.message.incident == opened
    note = IncidentNote.objects.get(incident=opened)
    assert (note.kind, note.author, note.body) == (NoteKind.COMMENT, alice, "It works again after a restart.")


def test_a_reply_naming_the_incident_in_the_subject_reopens_it_within_the_period(alice):
    incident = IncidentFactory(
        caller=alice, status=IncidentStatus.RESOLVED, resolved_at=timezone.now() - dt.timedelta(days=1)
    )
    Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.RESOLVED)
    result = receive(
        mail(subject=f"RE: [{incident.reference}] {incident.title}: resolved", body="Not fixed, it broke again.")
    )
    incident.refresh_from_db()
    assert result.message.outcome == InboundOutcome.COMMENT and result.message.reason == "reopened"
    assert incident.status == IncidentStatus.IN_PROGRESS and incident.reopen_count == 1


def test_a_late_reply_comments_without_reopening(alice, settings):
    incident = IncidentFactory(caller=alice)
    Incident.objects.filter(pk=incident.pk).update(
        status=IncidentStatus.RESOLVED,
        resolved_at=timezone.now() - dt.timedelta(days=settings.MOF_INCIDENT_AUTO_CLOSE_DAYS + 1),
    )
    result = receive(mail(subject=f"[{incident.reference}] resolved", body="Thanks"))
    incident.refresh_from_db()
    assert result.message.outcome == InboundOutcome.COMMENT and result.message.reason.startswith("not reopened")
    assert incident.status == IncidentStatus.RESOLVED and incident.notes.count() == 1


def test_a_reply_to_a_closed_incident_is_parked(alice):
    incident = IncidentFactory(caller=alice)
    Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.CLOSED)
    result = receive(mail(subject=f"Re: [MOF] {incident.reference} old", body="Again!"))
    assert result.message.outcome == InboundOutcome.PARKED and "closed" in result.message.reason
    assert not incident.notes.exists()


def test_someone_elses_reply_is_parked_not_added(alice):
    incident = IncidentFactory()  # another caller
    result = receive(mail(subject=f"[{incident.reference}] x", body="Me too"))
    assert result.message.outcome == InboundOutcome.PARKED and not incident.notes.exists()


def test_out_of_office_does_neither(alice):
    incident = receive(mail()).message.incident
    ack = OutgoingMail.objects.get(kind="incidents.mail_received")
    mails_before = OutgoingMail.objects.count()
    result = receive(
        mail(
            subject=f"Automatic reply: [{incident.reference}] Printer",
            body="I am away until Monday.",
            headers={"In-Reply-To": ack.message_id, "Auto-Submitted": "auto-replied"},
        )
    )
    assert result.message.outcome == InboundOutcome.DROPPED
    assert (
        Incident.objects.count() == 1 and not incident.notes.exists() and OutgoingMail.objects.count() == mails_before
    )


@pytest.mark.parametrize(
    "mode,outcome",
    [("park", InboundOutcome.PARKED), ("refuse", InboundOutcome.REFUSED), ("create", InboundOutcome.INCIDENT)],
)
def test_unknown_senders_follow_the_setting(settings, mode, outcome):
    settings.MOF_MAIL_UNKNOWN_SENDERS = mode
    result = receive(mail(sender="stranger@elsewhere.test", name="Sam Stranger"))
    assert result.message.outcome == outcome
    refusals = OutgoingMail.objects.filter(kind="incidents.mail_refused")
    assert refusals.count() == (1 if mode == "refuse" else 0)
    if mode == "refuse":
        assert refusals.get().to_email == "stranger@elsewhere.test"
    if mode == "create":
        caller = result.message.incident.caller
        assert (caller.email, caller.first_name, caller.last_name, caller.is_active, caller.has_usable_password()) == (
            "stranger@elsewhere.test",
            "Sam",
            "Stranger",
            True,
            False,
        )
    else:
        assert not Incident.objects.exists() and not User.objects.filter(email="stranger@elsewhere.test").exists()


def test_machine_mail_from_an_unknown_sender_is_never_answered(settings):
    settings.MOF_MAIL_UNKNOWN_SENDERS = "refuse"
    receive(mail(sender="noreply@elsewhere.test", headers={"Auto-Submitted": "auto-generated"}))
    assert not OutgoingMail.objects.exists()


def test_a_flooding_sender_is_parked_past_the_hourly_limit(alice, settings):
    settings.MOF_MAIL_IN_RATE_PER_HOUR = 3
    outcomes = [receive(mail(subject=f"Problem {n}")).message.outcome for n in range(5)]
    assert outcomes == [InboundOutcome.INCIDENT] * 3 + [InboundOutcome.PARKED] * 2
    assert "rate limited" in InboundMessage.objects.filter(outcome=InboundOutcome.PARKED).first().reason
    assert OutgoingMail.objects.filter(kind="incidents.mail_received").count() == 3


def test_auto_replies_do_not_count_towards_the_hourly_limit(alice, settings):
    settings.MOF_MAIL_IN_RATE_PER_HOUR = 2
    for n in range(3):
        receive(mail(subject=f"Automatic reply: x {n}", headers={"Auto-Submitted": "auto-replied"}))
    assert receive(mail()).message.outcome == InboundOutcome.INCIDENT


def test_mail_from_the_portal_itself_is_dropped(alice, settings):
    settings.DEFAULT_FROM_EMAIL = "MOF Portal <servicedesk@example.test>"
    assert receive(mail(sender="servicedesk@example.test")).message.outcome == InboundOutcome.DROPPED


def test_attachments_are_kept_in_the_raw_message_for_the_ticket(alice):
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    result = receive(
        mail(
            body="Screenshot attached.",
            attachments=[("screen.png", "image/png", png), ("log.txt", "text/plain", b"error 42\n")],
        )
    )
    message = result.message
    assert message.attachment_names == ["screen.png", "log.txt"]
    files = attachment_files(message)
    assert [(f.name, f.content_type, f.read()) for f in files] == [
        ("screen.png", "image/png", png),
        ("log.txt", "text/plain", b"error 42\n"),
    ]


def test_a_parked_mail_is_opened_as_an_incident_for_a_person_by_the_desk(settings):
    settings.MOF_MAIL_UNKNOWN_SENDERS = "park"
    agent = UserFactory(username="agent", roles=[RoleCluster.SUPPORT])
    bob = UserFactory(username="bob")
    parked = receive(mail(sender="bob.private@home.test", subject="VPN fails", body="Since this morning.")).message
    incident = parked_open(actor=agent, message=parked, caller=bob)
    parked.refresh_from_db()
    assert (incident.caller, incident.channel, incident.title, incident.description) == (
        bob,
        Channel.EMAIL,
        "VPN fails",
        "Since this morning.",
    )
    assert parked.outcome == InboundOutcome.INCIDENT and parked.decided_by == agent and parked.incident == incident
    with pytest.raises(Exception, match="already dealt with"):
        parked_drop(actor=agent, message=parked)


def test_only_the_desk_decides_parked_mail(settings):
    from django.core.exceptions import PermissionDenied

    settings.MOF_MAIL_UNKNOWN_SENDERS = "park"
    parked = receive(mail(sender="x@home.test")).message
    with pytest.raises(PermissionDenied):
        parked_drop(actor=UserFactory(username="employee"), message=parked)
    dropped = parked_drop(actor=UserFactory(username="agent", roles=[RoleCluster.SUPPORT]), message=parked)
    assert dropped.outcome == InboundOutcome.DROPPED


# --- the page, the admin and the API ------------------------------------------------


@pytest.fixture
def parked(settings):
    settings.MOF_MAIL_UNKNOWN_SENDERS = "park"
    return receive(
        mail(sender="bob.private@home.test", name="Bob", subject="VPN fails", body="Since this morning.")
    ).message


def test_the_desk_opens_a_parked_mail_as_an_incident_on_its_page(client, parked):
    from django.urls import reverse

    agent = UserFactory(username="agent", roles=[RoleCluster.SUPPORT])
    bob = UserFactory(username="bob", email="bob@example.test")
    client.force_login(agent)
    page = client.get(reverse("inbound_mail"))
    assert page.status_code == 200 and b"VPN fails" in page.content and b"unknown sender" in page.content
    refused = client.post(reverse("inbound_mail_open", args=[parked.pk]), {"caller": "nobody-like-this"})
    assert refused.status_code == 400 and b"No active person" in refused.content
    opened = client.post(reverse("inbound_mail_open", args=[parked.pk]), {"caller": "BOB@example.test"})
    incident = Incident.objects.get()
    assert opened.status_code == 302 and opened["Location"] == incident.get_absolute_url() and incident.caller == bob
    again = client.post(reverse("inbound_mail_open", args=[parked.pk]), {"caller": "bob"})
    assert again.status_code == 400 and b"already dealt with" in again.content and Incident.objects.count() == 1


def test_the_desk_drops_a_parked_mail_and_downloads_an_original(client, parked):
    from django.urls import reverse

    client.force_login(UserFactory(username="agent", roles=[RoleCluster.SUPPORT]))
    original = client.get(reverse("inbound_mail_raw", args=[parked.pk]))
    assert (
        original["Content-Type"] == "message/rfc822"
        and original["Content-Disposition"].startswith("attachment")
        and original.content == bytes(parked.raw)
    )
    assert client.post(reverse("inbound_mail_drop", args=[parked.pk])).status_code == 302
    parked.refresh_from_db()
    assert parked.outcome == InboundOutcome.DROPPED and parked.decided_by.username == "agent"


def test_callers_may_neither_see_nor_decide_parked_mail(client, parked):
    from django.urls import reverse

    client.force_login(UserFactory(username="employee"))
    assert client.get(reverse("inbound_mail")).status_code == 403
    assert client.get(reverse("inbound_mail_raw", args=[parked.pk])).status_code == 403
    assert client.post(reverse("inbound_mail_drop", args=[parked.pk])).status_code == 403
    assert client.post(reverse("inbound_mail_open", args=[parked.pk]), {"caller": "employee"}).status_code == 403
    parked.refresh_from_db()
    assert parked.outcome == InboundOutcome.PARKED


def test_a_refused_outcome_filter_is_shown_not_ignored(client, parked):
    from django.urls import reverse

    client.force_login(UserFactory(username="agent", roles=[RoleCluster.SUPPORT]))
    response = client.get(reverse("inbound_mail"), {"outcome": "lost"})
    assert response.status_code == 400 and b"No such outcome" in response.content


def test_the_api_lists_inbound_mail_to_the_desk_only(api, parked, alice):
    receive(mail())
    api.force_authenticate(UserFactory(username="agent", roles=[RoleCluster.SUPPORT]))
    body = api.get("/api/v1/inbound-messages/", {"outcome": "parked"}).json()
    assert [(m["from_address"], m["outcome"], m["reason"]) for m in body["results"]] == [
        ("bob.private@home.test", "parked", "unknown sender")
    ]
    assert "raw" not in body["results"][0]
    assert api.get("/api/v1/inbound-messages/", {"fields": "id,outcome"}).json()["results"][0].keys() == {
        "id",
        "outcome",
    }
    assert api.post("/api/v1/inbound-messages/", {}).status_code == 405
    api.force_authenticate(UserFactory(username="employee"))
    assert api.get("/api/v1/inbound-messages/").json()["results"] == []


def test_the_admin_shows_inbound_mail_read_only(admin_client, parked):
    assert admin_client.get("/admin/incidents/inboundmessage/").status_code == 200
    assert admin_client.get(f"/admin/incidents/inboundmessage/{parked.pk}/change/").status_code == 200
    assert admin_client.get("/admin/incidents/inboundmessage/add/").status_code == 403


def test_the_mailbox_url_says_how_to_connect():
    from django.core.exceptions import ImproperlyConfigured

    from incidents.mailbox.imap import mailbox_from_url

    box = mailbox_from_url("imaps://servicedesk%40example.org:p%40ss@mail.example.org/Service%20Desk")
    assert (box.host, box.port, box.user, box.password, box.folder, box.tls) == (
        "mail.example.org",
        993,
        "servicedesk@example.org",
        "p@ss",
        "Service Desk",
        "ssl",
    )
    assert mailbox_from_url("imap://desk:pw@mail.example.org").tls == "starttls"
    assert (
        mailbox_from_url("imap://desk:pw@127.0.0.1:18143/INBOX?starttls=0").tls,
        mailbox_from_url("imap://desk:pw@h/").folder,
    ) == ("none", "INBOX")
    for bad in ("pop3://desk:pw@h/", "imaps://h/INBOX", "imaps://desk:pw@/INBOX"):
        with pytest.raises(ImproperlyConfigured):
            mailbox_from_url(bad)


def test_originals_of_old_mail_are_forgotten_but_parked_mail_keeps_them(alice, settings, client):
    from django.urls import reverse

    from incidents.tasks import inbound_mail_purge

    settings.MOF_MAIL_UNKNOWN_SENDERS = "park"
    done = receive(mail()).message
    parked = receive(mail(sender="stranger@elsewhere.test")).message
    fresh = receive(mail(subject="Today")).message
    InboundMessage.objects.filter(pk__in=[done.pk, parked.pk]).update(
        received_at=timezone.now() - dt.timedelta(days=settings.MOF_MAIL_IN_RETENTION_DAYS + 1)
    )
    assert inbound_mail_purge() == 1
    done.refresh_from_db(), parked.refresh_from_db(), fresh.refresh_from_db()
    assert (bytes(done.raw), done.body, done.outcome, done.incident_id is not None) == (
        b"",
        "",
        InboundOutcome.INCIDENT,
        True,
    )
    assert parked.raw and fresh.raw and parked.body
    assert not receive(mail(message_id=done.message_id)).new  # still recognised
    client.force_login(UserFactory(username="agent", roles=[RoleCluster.SUPPORT]))
    assert client.get(reverse("inbound_mail_raw", args=[done.pk])).status_code == 404


def test_a_mails_files_are_attached_to_its_incident_and_a_refused_one_is_named(alice):
    from mof.models_attachments import Attachment

    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    result = receive(
        mail(
            body="Screenshot attached.",
            attachments=[
                ("screen.png", "image/png", png),
                ("page.html", "text/html", b"<html><script>x</script></html>"),
            ],
        )
    )
    incident = result.message.incident
    files = Attachment.objects.filter(ticket_id=incident.pk, ticket_type__model="incident")
    assert [(a.name, a.content_type, a.internal, a.uploaded_by_id) for a in files] == [
        ("screen.png", "image/png", False, alice.pk)
    ]
    assert result.message.outcome == InboundOutcome.INCIDENT and "not attached: page.html" in result.message.reason
