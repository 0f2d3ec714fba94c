"""Service monitoring: deduplication into alerts, the incident threshold, clear events,
detaching a key from an incident a person ended, unknown CIs (refused, parked, mapped),
validation, retention and the counts per service."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import Incident
from mof.choices import RoleCluster
from mof.models import AuditEntry
from mof.services import system_user
from mof.transitions import perform_transition
from operations import events
from operations.events_selectors import event_counts_by_service
from operations.models import EventCIMapping, MonitoringAlert, MonitoringEvent
from tests.factories import CIFactory, ServiceFactory, UserFactory
from tests.operations.factories_events import (
    ago,
    ci_in_service,
    clear,
    event,
    monitoring_account,
    operations_person,
    post,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def nagios():
    return monitoring_account()


@pytest.fixture
def mailbox():
    ci, _ = ci_in_service()
    return ci


# --- deduplication and the threshold -----------------------------------------------


def test_an_event_below_the_threshold_opens_an_alert_but_no_incident(nagios, mailbox):
    result = post(nagios, event(severity="warning"))
    alert = MonitoringAlert.objects.get()
    assert result.accepted == 1 and alert.count == 1 and alert.incident is None and alert.is_open
    assert not Incident.objects.exists()
    assert MonitoringEvent.objects.get().alert == alert


def test_an_event_at_the_threshold_opens_an_incident_against_the_ci_with_service_and_priority(nagios, mailbox):
    result = post(nagios, event(severity="major"))
    incident = Incident.objects.get()
    assert result.incidents_opened == [incident]
    assert incident.channel == "monitoring" and incident.caller == system_user()
    assert list(incident.affected_cis.all()) == [mailbox]
    assert incident.service.name == "Exchange mail"
    # High-criticality service: impact 1; major: urgency 2; the matrix says P2.
    assert (incident.impact, incident.urgency, incident.priority) == (1, 2, 2)
    assert MonitoringAlert.objects.get().incident == incident


def test_priority_follows_the_priority_matrix_and_the_ci(nagios):
    ci_in_service("test-box", criticality="medium", service_name="Intranet", environment="test")
    post(nagios, event("test-box", severity="critical", key="test-box/cpu"))
    incident = Incident.objects.get()
    # Outside production the impact is low whatever the service; critical: urgency 1.
    assert (incident.impact, incident.urgency, incident.priority) == (3, 1, 3)


def test_a_ci_without_a_service_gets_an_incident_without_one(nagios):
    CIFactory(name="lonely")
    post(nagios, event("lonely", severity="critical", key="lonely/ping"))
    incident = Incident.objects.get()
    assert incident.service is None and incident.impact == 3


def test_events_with_the_same_key_add_to_the_open_alert_instead_of_opening_another(nagios, mailbox):
    first = ago(minutes=10)
    post(nagios, event(time=first))
    post(nagios, event(time=ago(minutes=5), message="Disk C: 97% full"))
    post(nagios, [event(time=ago(minutes=1)) for _ in range(5)])
    alert = MonitoringAlert.objects.get()
    assert alert.count == 7 and Incident.objects.count() == 1
    assert alert.first_seen.isoformat() == first.replace("+00:00", "+00:00")
    assert alert.last_seen > alert.first_seen
    assert MonitoringEvent.objects.filter(alert=alert).count() == 7


def test_a_batch_is_coalesced_per_key(nagios, mailbox):
    result = post(
        nagios, [event(key="a"), event(key="b", severity="minor"), event(key="a"), event(key="b", severity="minor")]
    )
    counts = dict(MonitoringAlert.objects.values_list("key", "count"))
    assert counts == {"a": 2, "b": 2}
    assert len(result.incidents_opened) == 1 and Incident.objects.count() == 1


def test_a_later_event_at_the_threshold_escalates_the_open_alert_once(nagios, mailbox):
    post(nagios, event(severity="warning"))
    post(nagios, [event(severity="critical"), event(severity="critical")])
    post(nagios, event(severity="critical"))
    alert = MonitoringAlert.objects.get()
    assert alert.incident is not None and Incident.objects.count() == 1
    assert alert.severity == events.Severity.CRITICAL and alert.count == 4
    assert alert.incident.urgency == 1


def test_the_threshold_is_a_setting(nagios, mailbox, settings):
    settings.MOF_EVENTS_INCIDENT_SEVERITY = "critical"
    post(nagios, event(severity="major"))
    assert not Incident.objects.exists()
    post(nagios, event(severity="critical"))
    assert Incident.objects.count() == 1


def test_the_key_defaults_to_source_and_ci(nagios, mailbox):
    post(nagios, event(key=None))
    post(nagios, event(key=None, source="zabbix"))
    assert set(MonitoringAlert.objects.values_list("key", flat=True)) == {"nagios:mbx-01", "zabbix:mbx-01"}


def test_a_ci_may_be_named_by_its_id(nagios, mailbox):
    post(nagios, event(ci=mailbox.pk))
    assert MonitoringAlert.objects.get().ci == mailbox
    assert MonitoringEvent.objects.get().ci_name == "mbx-01"


# --- clear events ----------------------------------------------------------------------


def test_a_clear_event_resolves_the_incident_it_opened_with_a_note(nagios, mailbox):
    post(nagios, [event(), event()])
    incident = Incident.objects.get()
    result = post(nagios, clear())
    incident.refresh_from_db()
    assert result.incidents_resolved == [incident]
    assert incident.status == "resolved" and incident.resolution_code == "fixed"
    assert "Cleared by monitoring" in incident.resolution_notes and "after 3 events" in incident.resolution_notes
    alert = MonitoringAlert.objects.get()
    assert not alert.is_open and alert.closed_reason == "cleared" and alert.count == 3
    # Through the one door, as the portal's account.
    entry = AuditEntry.objects.get(model_label="incidents.incident", object_id=str(incident.pk), action="transition")
    assert entry.transition == "resolve" and entry.actor_name == "mof-system"


def test_clear_as_a_severity_works_like_the_flag(nagios, mailbox):
    post(nagios, event())
    post(nagios, event(severity="clear"))
    assert Incident.objects.get().status == "resolved"


def test_a_clear_for_a_key_with_nothing_open_is_kept_and_changes_nothing(nagios, mailbox):
    result = post(nagios, clear())
    assert result.accepted == 1 and not MonitoringAlert.objects.exists()
    assert MonitoringEvent.objects.get().alert is None


def test_events_after_a_clear_open_a_new_alert_and_incident(nagios, mailbox):
    post(nagios, [event(), clear(), event()])
    alerts = list(MonitoringAlert.objects.order_by("pk"))
    assert [a.is_open for a in alerts] == [False, True]
    assert Incident.objects.count() == 2
    assert [i.status for i in Incident.objects.order_by("pk")] == ["resolved", "new"]


def test_a_clear_of_an_alert_below_the_threshold_closes_it(nagios, mailbox):
    post(nagios, event(severity="minor"))
    post(nagios, clear())
    assert MonitoringAlert.objects.get().closed_reason == "cleared" and not Incident.objects.exists()


# --- a person ends the incident -----------------------------------------------------------


def test_an_incident_resolved_by_a_person_detaches_the_key(nagios, mailbox):
    post(nagios, event())
    first = Incident.objects.get()
    desk = UserFactory(username="desk", roles=[RoleCluster.SUPPORT])
    perform_transition(
        model=Incident,
        pk=first.pk,
        name="resolve",
        actor=desk,
        data={"resolution_code": "fixed", "resolution_notes": "Freed space."},
    )
    alert = MonitoringAlert.objects.get()
    assert not alert.is_open and alert.closed_reason == "incident_resolved"
    post(nagios, event())
    assert Incident.objects.count() == 2
    assert MonitoringAlert.objects.filter(closed_at__isnull=True).get().incident != first


def test_a_clear_after_a_person_resolved_does_not_touch_the_incident(nagios, mailbox):
    post(nagios, event())
    incident = Incident.objects.get()
    desk = UserFactory(username="desk", roles=[RoleCluster.SUPPORT])
    perform_transition(
        model=Incident,
        pk=incident.pk,
        name="resolve",
        actor=desk,
        data={"resolution_code": "workaround", "resolution_notes": "Moved logs."},
    )
    result = post(nagios, clear())
    incident.refresh_from_db()
    assert result.incidents_resolved == [] and incident.resolution_code == "workaround"


def test_an_incident_ended_without_a_transition_is_detached_at_the_next_event(nagios, mailbox):
    post(nagios, event())
    Incident.objects.update(status="closed")  # e.g. a data fix: no transition to hear of
    post(nagios, event())
    assert Incident.objects.count() == 2
    assert MonitoringAlert.objects.filter(closed_reason="incident_resolved").count() == 1


def test_the_portal_account_may_resolve_only_the_incidents_it_raised(nagios, mailbox):
    from incidents.services import incident_create

    desk = UserFactory(username="desk", roles=[RoleCluster.SUPPORT])
    other = incident_create(actor=desk, title="Printer jam")
    with pytest.raises(PermissionDenied):
        perform_transition(
            model=Incident,
            pk=other.pk,
            name="resolve",
            actor=system_user(),
            data={"resolution_code": "fixed", "resolution_notes": "x"},
        )


# --- concurrency -------------------------------------------------------------------------


def test_a_request_losing_the_race_to_open_an_alert_adds_to_the_winners(nagios, mailbox):
    post(nagios, event())
    now = timezone.now()
    late = events.EventIn(
        source="nagios",
        ci_ref="mbx-01",
        severity=4,
        message="late",
        occurred_at=now,
        key="mbx-01/disk",
        received_at=now,
        ci=mailbox,
    )
    # As if this request had not seen the open alert: the unique index sends it to the existing row.
    alert = events._open_alert("mbx-01/disk", [late, late], late, 4)
    assert alert == MonitoringAlert.objects.get() and MonitoringAlert.objects.get().count == 3
    assert Incident.objects.count() == 1


def test_a_batch_costs_the_same_queries_whatever_its_size(nagios, mailbox):
    post(nagios, event())  # the alert and incident exist: the storm case

    def queries(n):
        with CaptureQueriesContext(connection) as ctx:
            post(nagios, [event() for _ in range(n)])
        return len(ctx)

    # (SQLite splits a bulk insert at its variable limit, so sizes stay below one chunk.)
    assert queries(2) == queries(40)


def test_a_batch_over_many_open_alerts_counts_each_in_one_statement(nagios, mailbox):
    post(nagios, [event(key=f"k{i}", severity="minor", time=ago(minutes=10)) for i in range(20)])
    later = timezone.now() - dt.timedelta(minutes=1)
    batch = []
    for i in range(20):
        batch += [
            event(key=f"k{i}", severity="warning", message="later", time=later.isoformat()),
            event(key=f"k{i}", severity="major", message="earlier", time=ago(minutes=5)),
        ]
    post(nagios, batch)
    for alert in MonitoringAlert.objects.all():
        assert alert.count == 3 and alert.severity == events.Severity.MAJOR
        assert (alert.last_severity, alert.message, alert.last_seen) == (events.Severity.WARNING, "later", later)
    assert Incident.objects.count() == 20  # each escalated once by its major event

    def queries(keys):
        with CaptureQueriesContext(connection) as ctx:
            post(nagios, [event(key=f"k{i}", severity="minor") for i in range(keys)])
        return len(ctx)

    assert queries(2) == queries(20)
    assert sorted(MonitoringAlert.objects.values_list("count", flat=True)) == [4] * 18 + [5] * 2


# --- unknown CIs ---------------------------------------------------------------------------


def test_an_unknown_ci_is_refused_by_position_and_nothing_is_stored(nagios, mailbox):
    with pytest.raises(events.EventBatchInvalid) as caught:
        post(nagios, [event(), event(ci="ghost-01"), event()])
    assert list(caught.value.item_errors) == [1]
    assert "ghost-01" in caught.value.item_errors[1]["ci"][0]
    assert not MonitoringEvent.objects.exists() and not MonitoringAlert.objects.exists()


def test_an_unknown_ci_is_parked_when_so_configured_and_mapping_processes_it(nagios, mailbox, settings):
    settings.MOF_EVENTS_UNKNOWN_CI = "park"
    result = post(nagios, [event(ci="EXCH-MBX-1", key="k1"), event(ci="EXCH-MBX-1", key="k1"), event()])
    assert (result.accepted, result.parked) == (1, 2)
    assert MonitoringEvent.objects.filter(parked=True, ci__isnull=True).count() == 2

    ops = operations_person()
    mapped = events.map_parked(actor=ops, ci_name="EXCH-MBX-1", ci=mailbox)
    assert mapped.accepted == 2 and len(mapped.incidents_opened) == 1
    assert not MonitoringEvent.objects.filter(parked=True).exists()
    assert MonitoringAlert.objects.get(key="k1").count == 2
    assert EventCIMapping.objects.get(name="EXCH-MBX-1").ci == mailbox
    # The name is remembered: later events go to the CI without parking.
    later = post(nagios, event(ci="EXCH-MBX-1", key="k1"))
    assert later.parked == 0 and MonitoringAlert.objects.get(key="k1").count == 3


def test_mapping_without_remembering_leaves_later_events_parked(nagios, mailbox, settings):
    settings.MOF_EVENTS_UNKNOWN_CI = "park"
    post(nagios, event(ci="alias"))
    events.map_parked(actor=operations_person(), ci_name="alias", ci=mailbox, remember=False)
    assert not EventCIMapping.objects.exists()
    assert post(nagios, event(ci="alias")).parked == 1


def test_only_operations_infrastructure_and_managers_map_parked_events(nagios, mailbox, settings):
    settings.MOF_EVENTS_UNKNOWN_CI = "park"
    post(nagios, event(ci="alias"))
    support = UserFactory(username="support", roles=[RoleCluster.SUPPORT])
    with pytest.raises(PermissionDenied):
        events.map_parked(actor=support, ci_name="alias", ci=mailbox)
    with pytest.raises(PermissionDenied):
        events.discard_parked(actor=support, ci_name="alias")
    assert MonitoringEvent.objects.filter(parked=True).count() == 1


def test_mapping_a_name_with_nothing_parked_is_refused(mailbox):
    with pytest.raises(ValidationError) as caught:
        events.map_parked(actor=operations_person(), ci_name="nothing", ci=mailbox)
    assert "ci_name" in caught.value.message_dict


def test_discarding_drops_the_parked_events_of_a_name(nagios, mailbox, settings):
    settings.MOF_EVENTS_UNKNOWN_CI = "park"
    post(nagios, [event(ci="noise"), event(ci="noise"), event(ci="other")])
    assert events.discard_parked(actor=operations_person(), ci_name="noise") == 2
    assert list(MonitoringEvent.objects.values_list("ci_name", flat=True)) == ["other"]


# --- validation and permission -------------------------------------------------------------


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"source": None}, "source"),
        ({"source": "x" * 101}, "source"),
        ({"ci": None}, "ci"),
        ({"ci": True}, "ci"),
        ({"ci": ["mbx-01"]}, "ci"),
        ({"ci": 0}, "ci"),
        ({"severity": "fatal"}, "severity"),
        ({"severity": 5}, "severity"),
        ({"severity": None}, "severity"),
        ({"message": "m" * 1001}, "message"),
        ({"key": "k" * 201}, "key"),
        ({"time": "yesterday"}, "time"),
        ({"time": "2026-11-25T10:00:00"}, "time"),
        ({"time": (timezone.now() + dt.timedelta(hours=1)).isoformat()}, "time"),
        ({"clear": "yes"}, "clear"),
        ({"clear": True, "severity": "critical"}, "severity"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_events_are_refused_with_field_errors(nagios, mailbox, changes, field):
    body = {**event(), **changes}
    body = {k: v for k, v in body.items() if v is not None}
    with pytest.raises(events.EventBatchInvalid) as caught:
        post(nagios, body)
    assert caught.value.single and field in caught.value.message_dict
    assert not MonitoringEvent.objects.exists()


@pytest.mark.parametrize("payload", [[], "event", 42, None])
def test_a_post_is_an_event_or_a_non_empty_list(nagios, payload):
    with pytest.raises(ValidationError):
        post(nagios, payload)


def test_a_batch_above_the_limit_is_refused(nagios, mailbox, settings):
    settings.MOF_EVENTS_BATCH_LIMIT = 3
    with pytest.raises(ValidationError) as caught:
        post(nagios, [event()] * 4)
    assert "at most 3" in str(caught.value)
    assert not MonitoringEvent.objects.exists()


def test_a_batch_with_one_bad_event_stores_none(nagios, mailbox):
    with pytest.raises(events.EventBatchInvalid) as caught:
        post(nagios, [event(), event(severity="loud"), event()])
    assert list(caught.value.item_errors) == [1] and not caught.value.single
    assert not MonitoringEvent.objects.exists() and not Incident.objects.exists()


@pytest.mark.parametrize(
    "roles,allowed",
    [([RoleCluster.OPERATIONS], True), ([RoleCluster.PARTNER], True), ([RoleCluster.SUPPORT], False), ([], False)],
)
def test_posting_events_needs_the_partner_or_operations_role(mailbox, roles, allowed):
    user = UserFactory(username="poster", roles=roles)
    if allowed:
        assert post(user, event()).accepted == 1
    else:
        with pytest.raises(PermissionDenied):
            post(user, event())
        assert AuditEntry.objects.filter(action="refused", transition="event.post").exists()


# --- retention and the counts per service ----------------------------------------------------


def test_old_raw_events_are_purged_but_alerts_and_parked_events_stay(nagios, mailbox, settings):
    settings.MOF_EVENTS_UNKNOWN_CI = "park"
    settings.MOF_EVENTS_RETENTION_DAYS = 30
    post(nagios, [event(), event(ci="ghost")])
    MonitoringEvent.objects.update(received_at=timezone.now() - dt.timedelta(days=31))
    post(nagios, event())
    assert events.purge_old_events() == 1
    assert MonitoringEvent.objects.filter(parked=True).count() == 1
    assert MonitoringEvent.objects.filter(parked=False).count() == 1
    assert MonitoringAlert.objects.get().count == 2


def test_event_counts_by_service_counts_events_alerts_and_incidents_in_the_period(nagios):
    mail_ci, mail = ci_in_service("mbx-01")
    web = ServiceFactory(name="Intranet", criticality="low")
    CIFactory(name="web-01", services=[web, mail])
    now = timezone.now()
    post(nagios, [event("mbx-01", key="m1"), event("mbx-01", key="m1"), event("mbx-01", key="m2", severity="minor")])
    post(nagios, event("web-01", key="w1", severity="warning"))
    # An event outside the period counts nowhere.
    MonitoringEvent.objects.filter(key="m2").update(received_at=now - dt.timedelta(days=40))
    rows = event_counts_by_service(now - dt.timedelta(days=1), now + dt.timedelta(minutes=1))
    by_name = {r["service_name"]: r for r in rows}
    assert by_name["Exchange mail"] == {
        "service_id": mail.pk,
        "service_name": "Exchange mail",
        "events": 3,
        "alerts": 3,
        "incidents_opened": 1,
    }
    assert by_name["Intranet"] == {
        "service_id": web.pk,
        "service_name": "Intranet",
        "events": 1,
        "alerts": 1,
        "incidents_opened": 0,
    }
    assert [r["service_name"] for r in rows] == ["Exchange mail", "Intranet"]
    assert event_counts_by_service(now + dt.timedelta(days=1), now + dt.timedelta(days=2)) == []


def test_the_hourly_beat_task_purges_old_events(nagios, mailbox):
    from django_celery_beat.models import PeriodicTask

    from operations.tasks_events import events_purge

    post(nagios, [event(), event()])
    MonitoringEvent.objects.filter(pk=MonitoringEvent.objects.order_by("pk").first().pk).update(
        received_at=timezone.now() - dt.timedelta(days=400)
    )
    assert events_purge.apply().get() == 1
    assert MonitoringEvent.objects.count() == 1
    assert PeriodicTask.objects.get(task="operations.events_purge").interval.period == "hours"
