"""The notification outbox (mof.notifications): mail is stored with the change it reports, one
row per recipient with a stable Message-ID, sent once; a relay run twice sends nothing twice;
N commits while the worker is behind queue one relay task, not N (mof.relay)."""

import datetime as dt
import smtplib

import pytest
from django.db import transaction
from django.utils import timezone

from incidents import services as desk
from mof import notifications, relay, tasks
from mof.models import MailStatus, OutgoingMail, RelayFlag
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def stored(to, subject="[MOF] hello", about=None):
    return notifications.write(to, subject=subject, body="body\n", kind="tests.hello", about=about)


def test_one_row_per_recipient_each_with_its_own_message_id_stable_when_sent(mailoutbox):
    ann = UserFactory(email="ann@example.test")
    gone = UserFactory(email="gone@example.test", is_active=False)
    rows = stored([ann, "ANN@example.test", "bob@example.test", gone, None, ""])
    assert [r.to_email for r in rows] == [
        "ann@example.test",
        "bob@example.test",
    ]  # de-duplicated, inactive and empty left out
    ids = {r.to_email: r.message_id for r in OutgoingMail.objects.all()}
    assert len(set(ids.values())) == 2 and all(i.startswith("<") and i.endswith(">") for i in ids.values())
    assert notifications.deliver_pending()["sent"] == 2
    assert {m.to[0]: m.extra_headers["Message-ID"] for m in mailoutbox} == ids
    assert all(m.message()["Message-ID"] == ids[m.to[0]] for m in mailoutbox)


def test_a_relay_run_twice_sends_nothing_twice(mailoutbox):
    stored(["a@example.test", "b@example.test", "c@example.test"])
    first = notifications.deliver_pending()
    second = notifications.deliver_pending()
    tasks.send_outgoing_mail()  # the beat's run too
    assert first["sent"] == 3 and second["sent"] == 0
    assert len(mailoutbox) == 3
    assert set(OutgoingMail.objects.values_list("status", flat=True)) == {MailStatus.SENT}


def test_a_row_another_relay_holds_is_not_sent_until_its_claim_lapses(mailoutbox):
    [row] = stored(["a@example.test"])
    OutgoingMail.objects.filter(pk=row.pk).update(claimed_until=timezone.now() + dt.timedelta(minutes=5))
    assert notifications.deliver_pending()["sent"] == 0 and mailoutbox == []
    # The holder died before marking it sent: once the claim lapses it goes again, with the same Message-ID.
    OutgoingMail.objects.filter(pk=row.pk).update(claimed_until=timezone.now() - dt.timedelta(seconds=1))
    assert notifications.deliver_pending()["sent"] == 1
    assert mailoutbox[0].extra_headers["Message-ID"] == row.message_id


def test_mail_of_a_change_that_rolled_back_is_never_stored_nor_sent(mailoutbox, django_capture_on_commit_callbacks):
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            stored(["a@example.test"])
            raise RuntimeError("the change fails")
    assert not OutgoingMail.objects.exists() and mailoutbox == []


def test_a_mail_server_failure_retries_later_then_gives_up_and_logs(monkeypatch, settings, caplog):
    settings.MOF_MAIL_MAX_ATTEMPTS = 2
    [row] = stored(["a@example.test"])

    def refuse(self, *args, **kwargs):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    assert notifications.deliver_pending() == {"sent": 0, "failed": 1, "more": False}
    row.refresh_from_db()
    assert (
        row.status == MailStatus.PENDING
        and row.attempts == 1
        and row.next_attempt_at > timezone.now()
        and "closed" in row.last_error
    )
    assert notifications.deliver_pending()["failed"] == 0  # not due yet
    OutgoingMail.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
    notifications.deliver_pending()
    row.refresh_from_db()
    assert row.status == MailStatus.FAILED and row.attempts == 2 and "gave up" in caplog.text


def test_commits_while_the_worker_is_behind_queue_one_relay_task(monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(tasks.send_outgoing_mail, "delay", lambda *a: queued.append(a))
    for n in range(10):
        with django_capture_on_commit_callbacks(execute=True):
            stored([f"p{n}@example.test"])
    assert len(queued) == 1  # the first commit queued it; the other nine found it waiting
    relay.started("mail")  # the worker takes it
    with django_capture_on_commit_callbacks(execute=True):
        stored(["late@example.test"])
    assert len(queued) == 2  # committed after the task started: the next one is queued
    # A task lost on the way (its flag grows stale) no longer holds the queue back.
    RelayFlag.objects.filter(name="mail").update(queued_at=timezone.now() - relay.STALE - dt.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        stored(["later@example.test"])
    assert len(queued) == 3


def test_an_unreachable_broker_leaves_the_flag_clear_and_the_mail_pending(
    monkeypatch, django_capture_on_commit_callbacks, mailoutbox
):
    from kombu.exceptions import OperationalError

    def down(*args):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.send_outgoing_mail, "delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        stored(["a@example.test"])
    assert RelayFlag.objects.get(name="mail").queued_at is None  # the next commit tries again
    assert OutgoingMail.objects.get().status == MailStatus.PENDING and mailoutbox == []
    monkeypatch.undo()
    tasks.send_outgoing_mail()  # the beat's run
    assert len(mailoutbox) == 1


def test_a_filing_stores_the_group_mail_in_its_own_transaction(mailoutbox, django_capture_on_commit_callbacks):
    agent = UserFactory(email="agent@example.test", roles=["support"])
    group = TeamFactory(members=[agent])
    filer = UserFactory(roles=["support"])
    with django_capture_on_commit_callbacks(execute=True):
        incident = desk.incident_create(actor=filer, title="Mail down", assignment_group=group)
    row = OutgoingMail.objects.get(**notifications.about(incident))
    assert (
        row.kind == "incidents.landed_in_queue"
        and row.to_email == "agent@example.test"
        and row.status == MailStatus.SENT
    )
    assert [m.to for m in mailoutbox] == [["agent@example.test"]]


def test_sent_mail_is_purged_after_the_retention_failed_mail_stays(settings):
    settings.MOF_MAIL_RETENTION_DAYS = 30
    old, failed, fresh = (stored([f"{n}@example.test"])[0] for n in ("old", "failed", "fresh"))
    long_ago = timezone.now() - dt.timedelta(days=31)
    OutgoingMail.objects.filter(pk=old.pk).update(status=MailStatus.SENT, sent_at=long_ago)
    OutgoingMail.objects.filter(pk=failed.pk).update(status=MailStatus.FAILED, created_at=long_ago)
    OutgoingMail.objects.filter(pk=fresh.pk).update(status=MailStatus.SENT, sent_at=timezone.now())
    assert notifications.purge_sent() == 1
    assert set(OutgoingMail.objects.values_list("pk", flat=True)) == {failed.pk, fresh.pk}


def test_the_beat_schedule_holds_the_mail_relay():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="mof.send_outgoing_mail")
    assert task.enabled and task.interval.every == 1 and task.interval.period == "minutes"


def test_no_mail_leaves_by_another_path_than_the_outbox():
    """Every mail goes through mof.notifications: no app calls Django's senders itself."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[2]
    offenders = []
    for path in root.glob("*/**/*.py"):
        top = path.parts[len(root.parts)]
        if (
            top in ("tests", "bench") or top.startswith(".venv") or path.name == "notifications.py"
        ):  # .venv, .venv-django6
            continue
        text = path.read_text()
        if "send_mail(" in text or "send_mass_mail(" in text or "EmailMessage(" in text:
            offenders.append(str(path.relative_to(root)))
    assert offenders == []
