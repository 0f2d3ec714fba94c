"""Incidents from e-mail over SMTP: `manage.py receive_mail` in its own process, spoken to
with smtplib, takes mail through the same rules as the IMAP poller."""

import os
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from django.db import connection

from incidents.models import InboundMessage, InboundOutcome, Incident
from mof.models_mail import OutgoingMail
from tests.factories import UserFactory
from tests.integration.stack import ROOT, database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
PORT = int(os.environ.get("MOF_TEST_SMTP_PORT", "18325"))


@pytest.fixture
def receiver():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the receiver's process shares the test database)")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "mof.settings",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "receive_mail",
            "--port",
            str(PORT),
            "--recipient",
            "servicedesk@example.test",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"receive_mail exited: {process.stdout.read().decode(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    yield process
    process.terminate()
    output = process.communicate(timeout=20)[0].decode(errors="replace")
    assert process.returncode == 0, output  # stops cleanly on SIGTERM


def mail(subject="The VPN drops every hour", sender="alice@example.test", message_id=None, **headers):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Alice Example <{sender}>", "servicedesk@example.test", subject
    msg["Message-ID"] = message_id or make_msgid(domain="client.example")
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content("Every hour on the hour, since Monday.")
    return msg


def test_a_mail_delivered_over_smtp_becomes_an_incident_once(receiver):
    alice = UserFactory(username="alice", email="alice@example.test")
    message = mail(message_id="<smtp-once@client.example>")
    with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as smtp:
        refused = smtp.send_message(message)
        assert refused == {}
        smtp.send_message(message)  # the sending server tried again: taken once
    incident = Incident.objects.get()
    assert (incident.caller, incident.channel, incident.title) == (alice, "email", "The VPN drops every hour")
    assert InboundMessage.objects.get().mailbox == "smtp"
    assert OutgoingMail.objects.filter(kind="incidents.mail_received", to_email="alice@example.test").count() == 1


def test_the_receiver_refuses_other_recipients_and_drops_bounces(receiver):
    with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as smtp:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("alice@example.test", ["someone-else@example.test"], mail().as_bytes())
        smtp.send_message(mail(subject="Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@example.test"))
    assert InboundMessage.objects.get().outcome == InboundOutcome.DROPPED
    assert not Incident.objects.exists() and not OutgoingMail.objects.exists()


def test_the_receiver_speaks_lmtp_to_a_mail_server_delivering_to_it():
    import smtplib as lib

    from incidents.mailbox.smtp import close_connections, controller

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the receiver's thread has a connection of its own)")
    alice = UserFactory(username="alice", email="alice@example.test")
    server = controller(host="127.0.0.1", port=PORT, lmtp=True)
    server.start()
    try:
        with lib.LMTP("127.0.0.1", PORT) as lmtp:
            assert lmtp.send_message(mail(subject="Calendar is empty")) == {}
    finally:
        server.stop()
        close_connections()
    assert Incident.objects.get().caller == alice
