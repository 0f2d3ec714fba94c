"""/healthz and /readyz: unauthenticated, revealing nothing but check names, answered for any
Host and over plain http, each readiness check turning the answer to 503 and back."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from mof import health
from mof.models import Heartbeat, OutgoingMail
from tests.integration.stack import free_port

ALL_OK = {name: "ok" for name in health.CHECKS}


@pytest.fixture(autouse=True)
def fresh_process_state():
    health._migrations_applied.clear()
    health._redis_clients.clear()
    yield
    health._migrations_applied.clear()
    health._redis_clients.clear()


@pytest.fixture
def beating(db):
    """A worker ran the heartbeat task and beat queued it just now."""
    now = timezone.now()
    health.record_heartbeat(now=now)
    assert PeriodicTask.objects.filter(task=health.HEARTBEAT_TASK).update(last_run_at=now) == 1
    return now


def readyz(client, **extra):
    return client.get("/readyz", HTTP_HOST="10.0.0.7", **extra)


def test_healthz_answers_ok_for_any_host_without_touching_the_database(client):
    # No db fixture: pytest-django refuses any database access in this test.
    response = client.get("/healthz", HTTP_HOST="10.0.0.7:8000")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "Set-Cookie" not in response


def test_probes_carry_the_security_headers(client, beating):
    for path in ("/healthz", "/readyz"):
        response = client.get(path)
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"
        assert "default-src 'self'" in response["Content-Security-Policy"]
        assert response["X-Request-ID"]
        assert response["Cache-Control"] == "no-store"


def test_readyz_ready_names_its_checks_and_nothing_else(client, beating):
    response = readyz(client)
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "ready", "checks": ALL_OK}


def test_readyz_refuses_other_methods_without_csrf_or_login(client, beating):
    assert client.post("/readyz").status_code == 405
    assert client.get("/readyz").status_code == 200  # anonymous


@override_settings(SECURE_SSL_REDIRECT=True, DEBUG=False)
def test_probes_are_not_redirected_to_https(client, beating):
    assert client.get("/healthz", HTTP_HOST="10.0.0.7").status_code == 200
    assert client.get("/readyz", HTTP_HOST="10.0.0.7").status_code == 200
    assert client.get("/login/", HTTP_HOST="localhost").status_code == 301


def test_silent_beat_makes_it_not_ready_and_a_fresh_run_ready_again(client, beating):
    task = PeriodicTask.objects.get(task=health.HEARTBEAT_TASK)
    task.last_run_at = timezone.now() - timedelta(minutes=10)
    task.save(update_fields=["last_run_at"])
    response = readyz(client)
    assert response.status_code == 503
    assert response.json() == {"status": "not ready", "checks": {**ALL_OK, "beat": "failed"}}

    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now())
    assert readyz(client).status_code == 200


def test_beat_never_ran_is_not_ready(client, beating):
    PeriodicTask.objects.filter(task=health.HEARTBEAT_TASK).update(last_run_at=None)
    assert readyz(client).json()["checks"]["beat"] == "failed"


def test_beats_own_record_of_queueing_the_heartbeat_counts_before_its_schedule_is_written(client, beating):
    PeriodicTask.objects.filter(task=health.HEARTBEAT_TASK).update(last_run_at=None)
    health.record_heartbeat(health.BEAT)
    assert readyz(client).status_code == 200
    Heartbeat.objects.filter(name=health.BEAT).update(at=timezone.now() - timedelta(minutes=10))
    assert readyz(client).json()["checks"]["beat"] == "failed"


def test_beat_records_its_heartbeat_once_the_message_is_out_and_nobody_else_does(db, monkeypatch):
    from celery import signals

    from mof import celery as mof_celery

    signals.after_task_publish.send(sender=health.HEARTBEAT_TASK, headers={"periodic_task_name": "Heartbeat"})
    assert not Heartbeat.objects.filter(name=health.BEAT).exists()  # not the beat process
    monkeypatch.setattr(mof_celery, "_in_beat", True)
    signals.after_task_publish.send(sender="slas.sweep", headers={})
    assert not Heartbeat.objects.filter(name=health.BEAT).exists()
    signals.after_task_publish.send(sender=health.HEARTBEAT_TASK, headers={"periodic_task_name": "Heartbeat"})
    assert Heartbeat.objects.get(name=health.BEAT).at > timezone.now() - timedelta(seconds=5)


def test_silent_worker_makes_it_not_ready(client, beating):
    Heartbeat.objects.filter(name="worker").update(at=timezone.now() - timedelta(minutes=5))
    response = readyz(client)
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_OK, "worker": "failed"}
    Heartbeat.objects.all().delete()
    assert readyz(client).json()["checks"]["worker"] == "failed"


def test_the_heartbeat_task_records_that_a_worker_answered(db):
    from mof.tasks import heartbeat

    heartbeat.delay()
    first = Heartbeat.objects.get(name="worker").at
    heartbeat.delay()
    assert Heartbeat.objects.get(name="worker").at >= first
    assert Heartbeat.objects.count() == 1


def test_the_heartbeat_is_on_the_beat_schedule_every_minute(db):
    task = PeriodicTask.objects.get(task=health.HEARTBEAT_TASK)
    assert task.enabled and (task.interval.every, task.interval.period) == (1, "minutes")


def test_an_unapplied_migration_makes_it_not_ready(client, beating):
    from django.db.migrations.executor import MigrationExecutor

    with mock.patch.object(MigrationExecutor, "migration_plan", return_value=[("mof.0099_pending", False)]):
        response = readyz(client)
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_OK, "migrations": "failed"}
    assert readyz(client).status_code == 200


def test_the_real_migration_plan_is_checked(db):
    assert health.readiness(["migrations"]) == {"migrations": True}


@override_settings(MOF_READY_MAIL_MAX=2)
def test_a_notification_backlog_at_its_threshold_makes_it_not_ready(client, beating):
    for n in range(2):
        OutgoingMail.objects.create(
            message_id=f"<m{n}@test>", kind="test", to_email="a@example.org", subject="s", body="b"
        )
    assert readyz(client).json()["checks"] == {**ALL_OK, "mail": "failed"}
    OutgoingMail.objects.filter(message_id="<m0@test>").update(status="sent")
    assert readyz(client).status_code == 200


@override_settings(MOF_READY_OUTBOX_MAX=1)
def test_a_webhook_outbox_backlog_makes_it_not_ready(client, beating):
    from integrations.models import OutboxEvent

    event = OutboxEvent.objects.create(event_type="incident.created", body={})
    assert readyz(client).json()["checks"] == {**ALL_OK, "outbox": "failed"}
    OutboxEvent.objects.filter(pk=event.pk).update(relayed_at=timezone.now())
    assert readyz(client).status_code == 200


def test_redis_not_answering_makes_it_not_ready_fast(client, beating):
    dead = f"redis://127.0.0.1:{free_port()}/0"
    with override_settings(CACHE_URL=dead, MOF_READY_TIMEOUT_SECONDS=0.5):
        response = readyz(client)
    assert response.status_code == 503
    assert response.json()["checks"] == {**ALL_OK, "redis": "failed"}
    assert dead not in response.content.decode() and "127.0.0.1" not in response.content.decode()


def test_a_database_error_fails_the_database_checks_and_says_no_more(client, beating):
    from django.db import OperationalError

    failing = mock.Mock(side_effect=OperationalError("could not connect to server at 10.1.1.1"))
    with mock.patch.dict(health.DATABASE_CHECKS, {"database": failing}):
        response = readyz(client)
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed"
    assert b"10.1.1.1" not in response.content and b"connect" not in response.content


def test_readiness_command_exits_1_when_not_ready(beating, capsys):
    call_command("readiness", "database", "worker")
    assert '"status": "ready"' in capsys.readouterr().out
    Heartbeat.objects.all().delete()
    with pytest.raises(SystemExit) as exit:
        call_command("readiness", "worker")
    assert exit.value.code == 1
    assert '"worker": "failed"' in capsys.readouterr().out
