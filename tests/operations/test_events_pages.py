"""Pages of service monitoring: the events page of a CI and of a service (filters,
pagination, constant queries, who may see it) and the parked events page (mapping and
discarding, by the right people only)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident
from mof.choices import RoleCluster
from operations.models import EventCIMapping, MonitoringAlert, MonitoringEvent
from tests.factories import PASSWORD, CIFactory, UserFactory
from tests.operations.factories_events import ci_in_service, event, monitoring_account, operations_person, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def nagios():
    return monitoring_account()


@pytest.fixture
def mailbox_and_service():
    return ci_in_service()


def logged_in(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def test_the_ci_page_lists_its_events_with_counts_and_links_from_the_ci(client, nagios, mailbox_and_service):
    ci, _ = mailbox_and_service
    post(nagios, [event(), event(), event(key="cpu", severity="warning", message="CPU 91%")])
    staff = logged_in(client, operations_person())
    detail = staff.get(reverse("ci_detail", args=[ci.pk]))
    assert reverse("events_ci", args=[ci.pk]) in detail.content.decode()
    r = staff.get(reverse("events_ci", args=[ci.pk]))
    assert r.status_code == 200
    page = r.content.decode()
    assert "CPU 91%" in page and 'data-count="events">3<' in page and 'data-count="incidents">1<' in page
    alerts = staff.get(reverse("events_ci", args=[ci.pk]), {"show": "alerts", "open": "on"}).content.decode()
    assert "mbx-01/disk" in alerts and Incident.objects.get().reference in alerts


def test_the_service_page_lists_the_events_of_its_cis(client, nagios, mailbox_and_service):
    ci, service = mailbox_and_service
    CIFactory(name="elsewhere")
    post(nagios, [event(), event("elsewhere", key="other", message="Not this service")])
    staff = logged_in(client, operations_person())
    assert (
        reverse("events_service", args=[service.pk])
        in staff.get(reverse("service_detail", args=[service.pk])).content.decode()
    )
    page = staff.get(reverse("events_service", args=[service.pk])).content.decode()
    assert "Disk C: 95% full" in page and "Not this service" not in page


def test_filters_narrow_the_events(client, nagios, mailbox_and_service):
    ci, _ = mailbox_and_service
    post(nagios, [event(message="recent one"), event(key="old", severity="minor", message="old one")])
    MonitoringEvent.objects.filter(key="old").update(received_at=timezone.now() - dt.timedelta(days=3))
    staff = logged_in(client, operations_person())
    url = reverse("events_ci", args=[ci.pk])
    last_day = staff.get(url, {"period": "24h"}).content.decode()
    assert "recent one" in last_day and "old one" not in last_day
    minor = staff.get(url, {"severity": "3"}).content.decode()
    assert "old one" in minor and "recent one" not in minor
    assert staff.get(url, {"period": "forever"}).status_code == 400


def test_the_events_page_costs_the_same_queries_whatever_the_number_of_events(client, nagios, mailbox_and_service):
    ci, _ = mailbox_and_service
    staff = logged_in(client, operations_person())
    url = reverse("events_ci", args=[ci.pk])

    def queries(show):
        with CaptureQueriesContext(connection) as ctx:
            assert staff.get(url, {"show": show}).status_code == 200
        return len(ctx)

    post(nagios, [event(key=f"k{i}") for i in range(3)])
    few = queries("events"), queries("alerts")
    post(nagios, [event(key=f"k{i}", source=f"s{i % 4}") for i in range(40)])
    assert (queries("events"), queries("alerts")) == few


def test_people_without_a_role_do_not_see_events_and_partners_only_their_cis(client, nagios, mailbox_and_service):
    ci, _ = mailbox_and_service
    employee = logged_in(client, UserFactory(username="employee"))
    assert employee.get(reverse("events_ci", args=[ci.pk])).status_code in (403, 404)
    client.logout()
    partner = UserFactory(username="vendor", roles=[RoleCluster.PARTNER])
    theirs = CIFactory(name="vendor-box", owner=partner)
    logged_in(client, partner)
    assert client.get(reverse("events_ci", args=[ci.pk])).status_code == 404
    assert client.get(reverse("events_ci", args=[theirs.pk])).status_code == 200


# --- parked events ----------------------------------------------------------------------


@pytest.fixture
def parked(nagios, mailbox_and_service, settings):
    settings.MOF_EVENTS_UNKNOWN_CI = "park"
    post(nagios, [event(ci="EXCH-MBX-1", key="p1"), event(ci="EXCH-MBX-1", key="p1"), event(ci="noise", key="n")])
    return mailbox_and_service[0]


def test_a_person_maps_parked_events_to_a_ci_and_they_are_processed(client, parked):
    staff = logged_in(client, operations_person())
    page = staff.get(reverse("events_parked")).content.decode()
    assert "EXCH-MBX-1" in page and "noise" in page
    r = staff.post(reverse("events_parked_map"), {"ci_name": "EXCH-MBX-1", "ci": "mbx-01", "remember": "on"})
    assert r.status_code == 302
    assert MonitoringAlert.objects.get(key="p1").count == 2 and Incident.objects.count() == 1
    assert EventCIMapping.objects.get().name == "EXCH-MBX-1"
    assert list(MonitoringEvent.objects.filter(parked=True).values_list("ci_name", flat=True)) == ["noise"]


def test_mapping_to_an_unknown_ci_shows_the_error_and_changes_nothing(client, parked):
    staff = logged_in(client, operations_person())
    r = staff.post(reverse("events_parked_map"), {"ci_name": "EXCH-MBX-1", "ci": "no-such-ci"})
    assert r.status_code == 400 and "No configuration item with this name or id." in r.content.decode()
    assert MonitoringEvent.objects.filter(parked=True).count() == 3


def test_mapping_a_name_already_mapped_shows_the_services_refusal(client, parked):
    staff = logged_in(client, operations_person())
    staff.post(reverse("events_parked_map"), {"ci_name": "EXCH-MBX-1", "ci": "mbx-01"})
    r = staff.post(reverse("events_parked_map"), {"ci_name": "EXCH-MBX-1", "ci": "mbx-01"})
    assert r.status_code == 400 and "No events are parked" in r.content.decode()


def test_discarding_parked_events(client, parked):
    staff = logged_in(client, operations_person())
    assert staff.post(reverse("events_parked_discard"), {"ci_name": "noise"}).status_code == 302
    assert not MonitoringEvent.objects.filter(ci_name="noise").exists()


def test_only_the_right_roles_reach_the_parked_events(client, parked):
    logged_in(client, UserFactory(username="support", roles=[RoleCluster.SUPPORT]))
    assert client.get(reverse("events_parked")).status_code == 403
    assert client.post(reverse("events_parked_map"), {"ci_name": "EXCH-MBX-1", "ci": "mbx-01"}).status_code == 403
    assert client.post(reverse("events_parked_discard"), {"ci_name": "noise"}).status_code == 403
    assert MonitoringEvent.objects.filter(parked=True).count() == 3
