"""API of service monitoring: POST /api/v1/events/ (one or a batch), reading events and
alerts with their filters, who may do what, and constant queries per page."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import Incident
from mof.choices import RoleCluster
from operations.models import MonitoringAlert, MonitoringEvent
from tests.conftest import api_as
from tests.factories import CIFactory, UserFactory
from tests.operations.factories_events import ci_in_service, clear, event, monitoring_account, post

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"


@pytest.fixture
def nagios():
    return monitoring_account()


@pytest.fixture
def mailbox():
    ci, _ = ci_in_service()
    return ci


def test_a_monitoring_account_posts_one_event_and_an_incident_opens(nagios, mailbox):
    r = api_as(nagios).post(URL, event(), format="json")
    assert r.status_code == 201, r.json()
    incident = Incident.objects.get()
    alert = MonitoringAlert.objects.get()
    assert r.json() == {
        "accepted": 1,
        "parked": 0,
        "alerts": [{"key": "mbx-01/disk", "alert": alert.pk, "incident": incident.pk}],
        "incidents_opened": [incident.reference],
        "incidents_resolved": [],
    }


def test_a_batch_adds_to_one_alert_and_a_clear_resolves(nagios, mailbox):
    r = api_as(nagios).post(URL, [event() for _ in range(10)], format="json")
    assert r.status_code == 201 and r.json()["accepted"] == 10
    r = api_as(nagios).post(URL, [event(), clear()], format="json")
    assert r.status_code == 201
    body = r.json()
    incident = Incident.objects.get()
    assert body["incidents_resolved"] == [incident.reference] and body["alerts"] == [
        {"key": "mbx-01/disk", "alert": None, "incident": None}
    ]
    assert MonitoringAlert.objects.get().count == 12 and incident.status == "resolved"


def test_a_bad_batch_is_refused_whole_with_errors_by_position(nagios, mailbox):
    r = api_as(nagios).post(URL, [event(), event(severity="loud"), event(ci="ghost")], format="json")
    assert r.status_code == 400
    body = r.json()
    assert set(body["events"]) == {"1", "2"}
    assert "severity" in body["events"]["1"] and "ghost" in body["events"]["2"]["ci"][0]
    assert not MonitoringEvent.objects.exists()


def test_a_bad_single_event_gets_field_errors(nagios, mailbox):
    r = api_as(nagios).post(
        URL, {"source": "nagios", "ci": "mbx-01", "severity": "major", "time": "2026-01-01T00:00:00"}, format="json"
    )
    assert r.status_code == 400 and "time" in r.json()


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"source": "\x00", "ci": "mbx-01", "severity": "major"},
        {"source": "n", "ci": 10**30, "severity": "major"},
    ],
)
def test_odd_bodies_are_400_never_500(nagios, mailbox, body):
    r = api_as(nagios).post(URL, body, format="json")
    assert r.status_code == 400
    assert not MonitoringEvent.objects.exists()


def test_only_json_is_accepted(nagios, mailbox):
    r = api_as(nagios).post(URL, {"source": "nagios", "ci": "mbx-01", "severity": "major"}, format="multipart")
    assert r.status_code == 415


def test_a_batch_above_the_limit_is_refused(nagios, mailbox, settings):
    settings.MOF_EVENTS_BATCH_LIMIT = 5
    r = api_as(nagios).post(URL, [event()] * 6, format="json")
    assert r.status_code == 400 and "at most 5" in r.json()["non_field_errors"][0]


@pytest.mark.parametrize(
    "roles,status",
    [
        ([RoleCluster.PARTNER], 201),
        ([RoleCluster.OPERATIONS], 201),
        ([RoleCluster.SUPPORT], 403),
        ([RoleCluster.INFRASTRUCTURE], 403),
    ],
)
def test_posting_needs_the_partner_or_operations_role(mailbox, roles, status):
    user = UserFactory(username="poster", roles=roles)
    assert api_as(user).post(URL, event(), format="json").status_code == status


def test_anonymous_may_not_post(mailbox):
    assert api_as(None).post(URL, event(), format="json").status_code in (401, 403)
    assert not MonitoringEvent.objects.exists()


# --- reading ------------------------------------------------------------------------------


def test_events_filter_by_ci_service_key_and_since(nagios, mailbox):
    other_ci, other_service = ci_in_service("web-01", service_name="Intranet")
    post(nagios, [event(), event(key="cpu"), event("web-01", key="web")])
    MonitoringEvent.objects.filter(key="cpu").update(received_at=timezone.now() - dt.timedelta(days=2))
    staff = UserFactory(username="support", roles=[RoleCluster.SUPPORT])
    client = api_as(staff)

    def keys(query):
        r = client.get(URL, query)
        assert r.status_code == 200, r.json()
        return sorted(e["key"] for e in r.json()["results"])

    assert keys({"ci": mailbox.pk}) == ["cpu", "mbx-01/disk"]
    assert keys({"service": other_service.pk}) == ["web"]
    assert keys({"key": "cpu"}) == ["cpu"]
    assert keys({"since": (timezone.now() - dt.timedelta(days=1)).isoformat()}) == ["mbx-01/disk", "web"]
    assert keys({"severity": "major"}) == ["cpu", "mbx-01/disk", "web"]
    assert client.get(URL, {"ci": 999999}).status_code == 400
    assert client.get(URL, {"since": "soon"}).status_code == 400
    event_row = client.get(URL, {"key": "web"}).json()["results"][0]
    assert event_row["severity"] == "major" and event_row["ci"] == other_ci.pk and event_row["ci_name"] == "web-01"


def test_alerts_list_and_filter_open(nagios, mailbox):
    post(nagios, [event(), event(key="gone", severity="minor"), clear(key="gone")])
    client = api_as(UserFactory(username="support", roles=[RoleCluster.SUPPORT]))
    everything = client.get("/api/v1/alerts/").json()["results"]
    assert {a["key"] for a in everything} == {"mbx-01/disk", "gone"}
    still_open = client.get("/api/v1/alerts/", {"open": "true"}).json()["results"]
    assert [a["key"] for a in still_open] == ["mbx-01/disk"]
    alert = still_open[0]
    incident = Incident.objects.get()
    assert (
        alert["count"] == 1
        and alert["incident"] == incident.pk
        and alert["incident_reference"] == incident.reference
        and alert["is_open"]
    )
    assert client.get(f"/api/v1/alerts/{alert['id']}/").json()["key"] == "mbx-01/disk"


def test_a_partner_reads_only_the_events_of_the_cis_it_owns(nagios, mailbox):
    partner = UserFactory(username="vendor", roles=[RoleCluster.PARTNER])
    CIFactory(name="vendor-box", owner=partner)
    post(nagios, [event(), event("vendor-box", key="vendor")])
    client = api_as(partner)
    assert [e["key"] for e in client.get(URL).json()["results"]] == ["vendor"]
    assert [a["key"] for a in client.get("/api/v1/alerts/").json()["results"]] == ["vendor"]
    hidden = MonitoringAlert.objects.get(key="mbx-01/disk")
    assert client.get(f"/api/v1/alerts/{hidden.pk}/").status_code == 404


def test_people_without_a_role_may_not_read_events(nagios, mailbox):
    post(nagios, event())
    employee = UserFactory(username="employee")
    assert api_as(employee).get(URL).status_code == 403
    assert api_as(employee).get("/api/v1/alerts/").status_code == 403


def test_the_event_list_costs_the_same_queries_whatever_the_page_size(nagios, mailbox):
    post(nagios, [event(key=f"k{i % 7}") for i in range(60)])
    client = api_as(UserFactory(username="support", roles=[RoleCluster.SUPPORT]))

    def queries(url, size):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url, {"page_size": size}).status_code == 200
        return len(ctx)

    queries(URL, 1)  # the reader's roles are loaded once
    assert queries(URL, 5) == queries(URL, 50)
    assert queries("/api/v1/alerts/", 2) == queries("/api/v1/alerts/", 6)


@pytest.mark.parametrize(
    "query",
    [
        {"ci": "abc"},
        {"ci": "99999999999999999999"},
        {"service": "-1"},
        {"since": "2026-13-01"},
        {"severity": "loud"},
        {"parked": "maybe"},
        {"key": "k" * 201},
    ],
)
def test_odd_filters_are_400_never_500(nagios, mailbox, query):
    client = api_as(UserFactory(username="support", roles=[RoleCluster.SUPPORT]))
    assert client.get(URL, query).status_code == 400


def test_the_admin_shows_events_and_alerts_read_only(nagios, mailbox):
    from django.test import Client

    from tests.factories import AdminFactory

    post(nagios, event())
    client = Client()
    client.force_login(AdminFactory(username="root"))
    for model in ("monitoringevent", "monitoringalert", "eventcimapping"):
        assert client.get(f"/admin/operations/{model}/").status_code == 200
        assert client.get(f"/admin/operations/{model}/add/").status_code == 403
    alert = MonitoringAlert.objects.get()
    page = client.get(f"/admin/operations/monitoringalert/{alert.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
