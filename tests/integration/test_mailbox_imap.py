"""Incidents from e-mail over IMAP, against a real dovecot (tests/integration/dovecot.py):
a mail becomes an incident, the reply to the portal's acknowledgement a comment, an
out-of-office reply neither, and a poller killed mid-batch and started again takes each
message exactly once."""

import itertools
import os
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.db import connection

from incidents.choices import NoteKind
from incidents.mailbox import imap
from incidents.models import InboundMessage, InboundOutcome, Incident, MailboxCursor
from mof import notifications
from mof.models_mail import OutgoingMail
from tests.factories import UserFactory
from tests.integration.dovecot import Dovecot
from tests.integration.stack import ROOT, database_url

pytestmark = pytest.mark.integration
SEEN = b"\\Seen"
_boxes = itertools.count(1)


@pytest.fixture(scope="module")
def server():
    with Dovecot() as dovecot:
        yield dovecot


@pytest.fixture
def box(server):
    """A fresh mailbox of the service desk: (user, url)."""
    user = f"servicedesk{os.getpid()}-{next(_boxes)}"
    return user, server.url(user)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice", email="alice@example.test", first_name="Alice", last_name="Example")


def mail(
    subject="Outlook keeps asking for my password",
    body="Since this morning, every few minutes.",
    sender="Alice Example <alice@example.test>",
    **headers,
):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = (
        sender,
        "servicedesk@example.test",
        subject,
        make_msgid(domain="client.example"),
    )
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return bytes(msg)


def reply_to(outgoing: OutgoingMail, body: str, **headers) -> bytes:
    """Alice's mail client answering the mail as the portal sent it."""
    sent = notifications.message(outgoing).message()
    return mail(
        subject=f"RE: {sent['Subject']}",
        body=f"{body}\n\n-----Original Message-----\n{outgoing.body}",
        In_Reply_To=sent["Message-ID"],
        References=sent["Message-ID"],
        **headers,
    )


def test_a_mail_becomes_an_incident_and_the_reply_to_the_acknowledgement_a_comment(server, box, alice):
    user, url = box
    server.deliver(user, mail())
    result = imap.poll(url)
    assert (result.processed, result.outcomes) == (1, {InboundOutcome.INCIDENT: 1})
    incident = Incident.objects.get()
    assert (incident.caller, incident.channel, incident.title) == (
        alice,
        "email",
        "Outlook keeps asking for my password",
    )
    assert all(SEEN in flags for flags in server.messages(user).values())  # flagged once recorded

    ack = OutgoingMail.objects.get(kind="incidents.mail_received", subject_id=str(incident.pk))
    server.deliver(user, reply_to(ack, "It happens on my laptop only."))
    assert imap.poll(url).outcomes == {InboundOutcome.COMMENT: 1}
    note = incident.notes.get()
    assert (note.kind, note.author, note.body) == (NoteKind.COMMENT, alice, "It happens on my laptop only.")

    # A poll with nothing new does nothing.
    assert (imap.poll(url).seen, Incident.objects.count(), incident.notes.count()) == (0, 1, 1)


def test_an_out_of_office_reply_does_neither(server, box, alice):
    user, url = box
    server.deliver(user, mail())
    imap.poll(url)
    incident = Incident.objects.get()
    ack = OutgoingMail.objects.get(kind="incidents.mail_received")
    mails = OutgoingMail.objects.count()
    server.deliver(
        user,
        reply_to(
            ack, "I am out of the office until Monday.", Auto_Submitted="auto-replied", X_Auto_Response_Suppress="All"
        ),
    )
    assert imap.poll(url).outcomes == {InboundOutcome.DROPPED: 1}
    assert Incident.objects.count() == 1 and not incident.notes.exists() and OutgoingMail.objects.count() == mails


def test_processed_mail_moves_to_the_processed_folder(server, box, alice, settings):
    settings.MOF_MAILBOX_PROCESSED_FOLDER = "Processed"
    user, url = box
    server.deliver(user, mail())
    imap.poll(url)
    assert server.messages(user) == {} and [SEEN in flags for flags in server.messages(user, "Processed").values()] == [
        True
    ]


def test_the_first_poll_takes_unread_mail_and_later_polls_everything_new(server, box, alice):
    user, url = box
    server.deliver(user, mail(subject="Read long ago"), flags=[SEEN])
    server.deliver(user, mail(subject="Unread"))
    imap.poll(url)
    server.deliver(user, mail(subject="New, read by someone already"), flags=[SEEN])
    imap.poll(url)
    assert sorted(Incident.objects.values_list("title", flat=True)) == ["New, read by someone already", "Unread"]


class Killed(BaseException):
    """What a SIGKILL looks like from inside: nothing after it runs (not even except Exception)."""


def test_a_poller_killed_between_commit_and_flag_and_restarted_takes_each_message_once(server, box, alice, monkeypatch):
    user, url = box
    for n in range(6):
        server.deliver(user, mail(subject=f"Problem {n}"))
    flag = imap._after_commit
    calls = {"n": 0}

    def dies_on_the_third(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed()  # message 3 is recorded, never flagged read, the cursor not moved
        return flag(*args)

    monkeypatch.setattr(imap, "_after_commit", dies_on_the_third)
    with pytest.raises(Killed):
        imap.poll(url)
    assert InboundMessage.objects.count() == 3 and sum(SEEN in f for f in server.messages(user).values()) == 2
    monkeypatch.setattr(imap, "_after_commit", flag)

    result = imap.poll(url)
    assert (result.repeats, result.processed) == (1, 3)
    assert sorted(Incident.objects.values_list("title", flat=True)) == [f"Problem {n}" for n in range(6)]
    assert InboundMessage.objects.count() == 6 and all(SEEN in f for f in server.messages(user).values())
    assert OutgoingMail.objects.filter(kind="incidents.mail_received").count() == 6


def test_a_poller_killed_while_processing_and_restarted_takes_each_message_once(server, box, alice, monkeypatch):
    from incidents.mailbox import services

    user, url = box
    for n in range(4):
        server.deliver(user, mail(subject=f"Problem {n}"))
    open_ = services._open

    def dies_on_the_third(parsed, *args, **kwargs):
        if parsed.title == "Problem 2":
            raise Killed()  # inside the message's transaction: its incident and record roll back together
        return open_(parsed, *args, **kwargs)

    monkeypatch.setattr(services, "_open", dies_on_the_third)
    with pytest.raises(Killed):
        imap.poll(url)
    assert sorted(Incident.objects.values_list("title", flat=True)) == ["Problem 0", "Problem 1"]
    monkeypatch.setattr(services, "_open", open_)
    imap.poll(url)
    assert sorted(Incident.objects.values_list("title", flat=True)) == [f"Problem {n}" for n in range(4)]
    assert InboundMessage.objects.count() == 4


def test_a_new_uidvalidity_reads_the_folder_again_without_taking_anything_twice(server, box, alice):
    user, url = box
    server.deliver(user, mail())
    imap.poll(url)
    MailboxCursor.objects.update(uidvalidity=1)  # as if the server had renumbered the folder
    client = server.client(user)
    client.select_folder("INBOX")
    client.remove_flags(client.search(["ALL"]), [SEEN])  # unread again: the fresh read takes it up
    client.logout()
    result = imap.poll(url)
    assert (result.seen, result.repeats, Incident.objects.count()) == (1, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_a_poller_process_sigkilled_mid_batch_and_run_again_takes_each_message_exactly_once(server, box):
    """The real thing: `manage.py poll_mailbox` in its own process, SIGKILLed while it works
    through 40 messages, then run again."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (a second process shares the test database)")
    UserFactory(username="alice", email="alice@example.test")
    user, url = box
    total = 40
    for n in range(total):
        server.deliver(user, mail(subject=f"Problem {n}"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "mof.settings",
        "MOF_MAIL_IN_RATE_PER_HOUR": "1000",
    }
    command = [sys.executable, str(ROOT / "manage.py"), "poll_mailbox", "--url", url]
    poller = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while InboundMessage.objects.count() < 5 and time.monotonic() < deadline and poller.poll() is None:
            time.sleep(0.02)
        os.kill(poller.pid, signal.SIGKILL)
    finally:
        output = poller.communicate(timeout=30)[0].decode(errors="replace")
    taken = InboundMessage.objects.count()
    assert 5 <= taken < total, f"killed after {taken} messages (too late to prove anything)\n{output}"

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    titles = list(Incident.objects.values_list("title", flat=True))
    assert sorted(titles) == sorted(f"Problem {n}" for n in range(total))  # each exactly once
    assert InboundMessage.objects.count() == total
    assert OutgoingMail.objects.filter(kind="incidents.mail_received").count() == total
    assert all(SEEN in flags for flags in server.messages(user).values())


def test_the_beat_task_reads_the_configured_mailbox(server, box, alice, settings):
    from incidents.tasks import poll_mailbox

    user, url = box
    settings.MOF_MAILBOX_IMAP_URL = ""
    server.deliver(user, mail())
    assert poll_mailbox() == 0 and not Incident.objects.exists()  # no mailbox configured: nothing read
    settings.MOF_MAILBOX_IMAP_URL = url
    assert poll_mailbox() == 1 and Incident.objects.get().caller == alice
