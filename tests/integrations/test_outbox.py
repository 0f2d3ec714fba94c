"""The transactional outbox: an event is stored with the change it reports, relayed after
commit, never for a rolled-back change, and the periodic relay sends what was left behind."""

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from incidents import services as desk
from incidents.models import Incident
from integrations import outbox, services
from integrations.choices import DeliveryStatus, EventType
from integrations.models import OutboxEvent, WebhookDelivery
from mof.transitions import perform_transition
from tests.factories import ManagerFactory, TeamFactory, UserFactory
from tests.integrations.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(db):
    return UserFactory(username="agent", roles=["support"])


@pytest.fixture
def subscribed(receiver):
    subscription = SubscriptionFactory(
        url=receiver.url, event_types=["incident.created", "incident.resolved", "incident.reopened", "problem.created"]
    )
    receiver.secret = subscription.secret
    return subscription


def test_an_incident_and_its_event_commit_together_and_are_delivered_after_commit(
    agent, subscribed, receiver, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:  # run at the commit
        with transaction.atomic():
            incident = desk.incident_create(actor=agent, title="Mail queue stuck")
            event = OutboxEvent.objects.get(event_type=EventType.INCIDENT_CREATED)  # written in the same transaction
            assert event.subject_id == str(incident.pk)
        assert not WebhookDelivery.objects.exists() and receiver.requests == []  # nothing sent before the commit
    assert callbacks
    [request] = receiver.requests
    assert request.verified
    body = request.json
    assert body["type"] == "incident.created" and body["id"] == str(event.pk)
    assert body["object"] == {
        "type": "incidents.incident",
        "id": incident.pk,
        "number": incident.reference,
        "state": "new",
        "url": f"{settings.MOF_BASE_URL}/supporting/incidents/{incident.pk}/",
        "display": str(incident),
    }
    assert body["actor"] == {"id": agent.pk, "username": "agent"}
    assert body["data"]["title"] == "Mail queue stuck" and body["data"]["priority"] == incident.priority
    assert dt.datetime.fromisoformat(body["occurred_at"]) <= timezone.now()
    assert OutboxEvent.objects.get(pk=event.pk).relayed_at is not None
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.response_status == 200
    assert request.headers["idempotency-key"] == str(delivery.pk)
    assert request.headers["mof-event-id"] == str(event.pk) and request.headers["mof-event-type"] == "incident.created"


def test_a_rolled_back_change_leaves_no_event_and_sends_nothing(
    agent, subscribed, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                desk.incident_create(actor=agent, title="Filed, then the request failed")
                assert OutboxEvent.objects.count() == 1
                raise RuntimeError("the rest of the request failed")
    assert not Incident.objects.exists()
    assert not OutboxEvent.objects.exists()
    assert callbacks == [] and receiver.requests == [] and not WebhookDelivery.objects.exists()


def test_transitions_publish_resolved_and_reopened(agent, subscribed, receiver, django_capture_on_commit_callbacks):
    group = TeamFactory(name="Desk", members=[agent])
    with django_capture_on_commit_callbacks(execute=True):
        incident = desk.incident_create(actor=agent, title="OWA down", assignment_group=group, assignee=agent)
        perform_transition(
            model=Incident,
            pk=incident.pk,
            name="resolve",
            actor=agent,
            data={"resolution_code": "fixed", "resolution_notes": "IIS restarted."},
        )
        perform_transition(
            model=Incident, pk=incident.pk, name="reopen", actor=incident.caller, data={"reason": "Still down"}
        )
    types = [r.json["type"] for r in receiver.requests]
    assert types == ["incident.created", "incident.resolved", "incident.reopened"]
    resolved = receiver.requests[1].json
    assert resolved["object"]["state"] == "resolved"
    assert (
        resolved["data"]["transition"] == "resolve"
        and resolved["data"]["from"] == "new"
        and resolved["data"]["to"] == "resolved"
    )
    assert resolved["data"]["resolution_code"] == "fixed"
    assert receiver.requests[2].json["object"]["state"] == "in_progress"
    assert all(r.verified for r in receiver.requests)


def test_a_change_rejected_at_the_review_is_published(django_capture_on_commit_callbacks):
    from changes.choices import ChangeStatus
    from changes.models import RequestForChange
    from mof import review_gate
    from mof.choices import ReviewKind
    from tests.changes.factories import ChangeFactory

    chair = ManagerFactory(username="cab-chair")
    subscription = SubscriptionFactory(event_types=["change.approved", "change.rejected"])
    change = ChangeFactory()
    RequestForChange.objects.filter(pk=change.pk).update(status=ChangeStatus.ASSESSED)
    with django_capture_on_commit_callbacks() as callbacks:
        review_gate.record_decision(
            kind=ReviewKind.RELEASE_APPROVED,
            subject=RequestForChange.objects.get(pk=change.pk),
            decision="reject",
            actor=chair,
            fire="reject",
            notes="Too risky before quarter end",
        )
    event = OutboxEvent.objects.get()
    assert event.event_type == "change.rejected"
    assert event.body["object"]["number"] == change.reference and event.body["object"]["state"] == "rejected"
    assert event.body["actor"]["username"] == "cab-chair"
    assert event.body["data"]["from"] == "assessed" and event.body["data"]["decision_reason"]
    assert len(callbacks) >= 1  # the relay is queued for after the commit
    outbox.relay(event.pk)
    assert WebhookDelivery.objects.get().subscription == subscription


def test_a_major_incident_declared_is_published_with_its_declaration(agent, django_capture_on_commit_callbacks):
    SubscriptionFactory(event_types=["incident.major_declared"])
    lead = ManagerFactory(username="mim")
    incident = desk.incident_create(actor=agent, title="Exchange down for everyone", impact=1, urgency=1)
    with pytest.raises(RuntimeError), transaction.atomic():  # rolled back: no event
        desk.incident_declare_major(actor=lead, incident=incident, major_incident_manager=lead)
        raise RuntimeError
    assert not OutboxEvent.objects.filter(event_type=EventType.INCIDENT_MAJOR_DECLARED).exists()
    desk.incident_declare_major(actor=lead, incident=incident, major_incident_manager=lead)
    event = OutboxEvent.objects.get(event_type=EventType.INCIDENT_MAJOR_DECLARED)
    assert event.body["object"]["number"] == incident.reference and event.body["actor"]["username"] == "mim"
    assert event.body["data"]["is_major"] is True and event.body["data"]["major_incident_manager"] == "mim"
    assert event.body["data"]["outage_start"]


def test_a_monitoring_alert_opened_is_published_once():
    from operations.models import MonitoringAlert
    from tests.factories import CIFactory

    SubscriptionFactory(event_types=["monitoring.alert_opened"])
    ci = CIFactory(name="EX-HUB-01")
    now = timezone.now()
    alert = MonitoringAlert(
        key="hub01/queue",
        ci=ci,
        source="scom",
        severity=5,
        last_severity=5,
        message="Queue > 5000",
        count=1,
        first_seen=now,
        last_seen=now,
    )
    alert.save()
    alert.message = "Queue > 9000"
    alert.save()  # later writes are not an opening
    event = OutboxEvent.objects.get(event_type=EventType.MONITORING_ALERT_OPENED)
    assert event.body["object"]["type"] == "operations.monitoringalert" and event.body["object"]["id"] == alert.pk
    assert (
        event.body["data"]["key"] == "hub01/queue"
        and event.body["data"]["ci_id"] == ci.pk
        and event.body["data"]["severity"] == 5
    )


def test_a_problem_created_is_published(agent, subscribed):
    from incidents.models import Problem

    problem = desk.problem_create(actor=agent, title="Outlook prompts for passwords")
    event = OutboxEvent.objects.get(event_type=EventType.PROBLEM_CREATED)
    assert event.body["object"]["number"] == Problem.objects.get(pk=problem.pk).reference


def test_sla_warnings_and_breaches_of_the_sweep_are_published_once(agent, receiver, django_capture_on_commit_callbacks):
    from slas import services as slas
    from slas.models import ServiceLevelAgreement, SLAStatus

    manager = ManagerFactory(username="sla-boss")
    always = slas.calendar_save(
        actor=manager, name="24x7", time_zone="UTC", intervals=[(d, dt.time(0), dt.time(0)) for d in range(7)]
    )
    sla = slas.sla_create(actor=manager, name="P1 mail", priorities=[1], resolution_seconds=4 * 3600, calendar=always)
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=SLAStatus.ACTIVE)
    incident = desk.incident_create(actor=agent, title="Mail down", impact=1, urgency=1)
    receiver.secret = SubscriptionFactory(url=receiver.url, event_types=["sla.breached"]).secret
    with django_capture_on_commit_callbacks(execute=True):
        slas.sweep(now=incident.created_at + dt.timedelta(hours=5))
        slas.sweep(now=incident.created_at + dt.timedelta(hours=6))  # nothing new: nothing published again
    events = OutboxEvent.objects.filter(event_type__in=[EventType.SLA_WARNING, EventType.SLA_BREACHED])
    by_threshold = {e.body["data"]["threshold"]: e for e in events}
    assert sorted(by_threshold) == [100]  # no subscription wants warnings: none stored
    assert by_threshold[100].event_type == "sla.breached"
    assert by_threshold[100].body["object"]["number"] == incident.reference
    assert (
        by_threshold[100].body["data"]["sla"]["name"] == "P1 mail"
        and by_threshold[100].body["data"]["metric"] == "resolution"
    )
    # The sweep's events are relayed together; only the breach is wanted here.
    assert [r.json["type"] for r in receiver.requests] == ["sla.breached"] and receiver.requests[0].verified
    assert not events.filter(relayed_at__isnull=True).exists()


def test_only_active_subscriptions_of_the_event_type_get_a_delivery(agent, django_capture_on_commit_callbacks):
    wanted = SubscriptionFactory(event_types=["incident.created"])
    SubscriptionFactory(event_types=["incident.resolved"])
    SubscriptionFactory(event_types=["incident.created"], status="disabled")
    with django_capture_on_commit_callbacks():  # relay by hand, deliver not at all
        desk.incident_create(actor=agent, title="Printer jam")
    event = OutboxEvent.objects.get()
    first = outbox.relay(event.pk)
    assert outbox.relay(event.pk) is None  # relayed once only
    assert [WebhookDelivery.objects.get(pk=pk).subscription for pk in first] == [wanted]


def test_an_unreachable_broker_leaves_the_event_for_the_periodic_relay(
    agent, subscribed, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    from integrations import tasks

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis")

    monkeypatch.setattr(tasks.relay_outbox, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        incident = desk.incident_create(actor=agent, title="Filed while Redis was down")  # does not fail the request
    event = OutboxEvent.objects.get()
    assert event.relayed_at is None and receiver.requests == []
    monkeypatch.undo()
    assert (
        services.relay_stragglers(now=timezone.now())["events"] == 0
    )  # too fresh: the after-commit path may still have it
    with django_capture_on_commit_callbacks(execute=True):
        assert services.relay_stragglers(now=timezone.now() + dt.timedelta(minutes=1))["events"] == 1
    [request] = receiver.requests
    assert request.json["object"]["id"] == incident.pk and request.verified


def test_the_periodic_relay_requeues_an_overdue_delivery_a_dead_worker_held(
    subscribed, receiver, django_capture_on_commit_callbacks
):
    event = outbox.build(EventType.INCIDENT_CREATED, {"title": "x"})
    event.save()
    past = timezone.now() - dt.timedelta(minutes=5)
    OutboxEvent.objects.filter(pk=event.pk).update(relayed_at=past)
    # Claimed by a worker that died: the claim lapsed a minute ago.
    delivery = WebhookDelivery.objects.create(
        subscription=subscribed, event=event, next_attempt_at=past, claimed_until=past + dt.timedelta(minutes=4)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.relay_stragglers()["deliveries"] == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED
    assert len(receiver.requests) == 1


def test_the_beat_schedule_holds_the_relay():
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(task="integrations.relay_pending")
    assert task.enabled and task.interval.every == 1 and task.interval.period == "minutes"


def test_old_finished_events_and_their_log_are_purged_after_the_retention(subscribed, settings):
    settings.MOF_WEBHOOK_RETENTION_DAYS = 30
    now = timezone.now()
    kept, purged, still_trying = (outbox.build(EventType.INCIDENT_CREATED, {"n": n}) for n in range(3))
    for event, age, status in ((kept, 10, "delivered"), (purged, 40, "failed"), (still_trying, 40, "pending")):
        event.occurred_at, event.relayed_at = now - dt.timedelta(days=age), now - dt.timedelta(days=age)
        event.save()
        delivery = WebhookDelivery.objects.create(subscription=subscribed, event=event, status=status)
        delivery.attempt_log.create(number=1, started_at=event.occurred_at, response_status=500)
    assert services.purge_old(now=now) == 1
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {kept.pk, still_trying.pk}
    assert WebhookDelivery.objects.count() == 2 and services.DeliveryAttempt.objects.count() == 2


def _breaching_incident(agent):
    from slas import services as slas
    from slas.models import ServiceLevelAgreement, SLAStatus

    manager = ManagerFactory(username="sla-boss")
    always = slas.calendar_save(
        actor=manager, name="24x7", time_zone="UTC", intervals=[(d, dt.time(0), dt.time(0)) for d in range(7)]
    )
    sla = slas.sla_create(actor=manager, name="P1 mail", priorities=[1], resolution_seconds=4 * 3600, calendar=always)
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=SLAStatus.ACTIVE)
    return desk.incident_create(actor=agent, title="Mail down", impact=1, urgency=1)


def test_sla_warnings_are_stored_when_a_subscription_wants_them(agent):
    from slas import services as slas

    incident = _breaching_incident(agent)
    SubscriptionFactory(event_types=["sla.warning", "sla.breached"])
    slas.sweep(now=incident.created_at + dt.timedelta(hours=5))
    stored = OutboxEvent.objects.filter(event_type__in=[EventType.SLA_WARNING, EventType.SLA_BREACHED])
    assert sorted(e.body["data"]["threshold"] for e in stored) == [50, 75, 100]


def test_a_sweep_stores_no_sla_events_when_nobody_listens(agent):
    from slas import services as slas
    from slas.models import ClockNotification

    incident = _breaching_incident(agent)
    SubscriptionFactory(event_types=["incident.created"])
    slas.sweep(now=incident.created_at + dt.timedelta(hours=5))
    assert ClockNotification.objects.count() == 3  # the sweep still records and notifies each threshold
    assert not OutboxEvent.objects.filter(event_type__in=[EventType.SLA_WARNING, EventType.SLA_BREACHED]).exists()


def test_an_event_nobody_subscribed_to_is_not_stored(agent):
    SubscriptionFactory(event_types=["problem.created"])
    desk.incident_create(actor=agent, title="Printer jammed")
    assert not OutboxEvent.objects.filter(event_type=EventType.INCIDENT_CREATED).exists()


def test_events_committed_while_the_worker_is_behind_queue_one_relay_task(
    agent, subscribed, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    """Not one task per event: while a relay task waits in the queue, more events queue none;
    the one task relays them all."""
    from integrations import tasks
    from mof import relay

    queued = []
    monkeypatch.setattr(tasks.relay_outbox, "delay", lambda *args: queued.append(args))
    for n in range(20):
        with django_capture_on_commit_callbacks(execute=True):
            desk.incident_create(actor=agent, title=f"Storm {n}")
    assert len(queued) == 1
    assert OutboxEvent.objects.filter(relayed_at__isnull=True).count() == 20
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.relay_outbox() == 20  # the worker gets to it: every pending event
    assert not OutboxEvent.objects.filter(relayed_at__isnull=True).exists()
    assert len(receiver.requests) == 20
    assert relay.queue_once("webhooks", tasks.relay_outbox)  # the flag was cleared when the task started
