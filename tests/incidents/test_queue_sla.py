"""The service desk queue shows each incident's SLA time left (or breached), coloured by
threshold, sortable by due time in a constant number of queries; the default tab has work in
it; the bulk form is folded until rows are ticked."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents import services
from slas import services as sla_services
from slas.models import ClockState, ServiceLevelAgreement, SLAClock, SLAStatus
from slas.selectors import sla_standing
from tests.factories import ManagerFactory, ServiceFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db
HOUR = 3600


@pytest.fixture
def desk(db):
    manager = ManagerFactory(username="sla-boss")
    agent = UserFactory(username="agent", roles=["support"])
    group = TeamFactory(name="Messaging", role_cluster="support", manager=manager, members=[agent])
    always = sla_services.calendar_save(
        actor=manager, name="24x7", time_zone="UTC", intervals=[(d, dt.time(0), dt.time(0)) for d in range(7)]
    )
    sla = sla_services.sla_create(
        actor=manager, name="All", priorities=[1, 2, 3, 4, 5], resolution_seconds=10 * HOUR, calendar=always
    )
    ServiceLevelAgreement.objects.filter(pk=sla.pk).update(status=SLAStatus.ACTIVE)
    from slas.selectors import active_versions

    active_versions.changed()  # the update above bypassed the signals that say so
    return {
        "agent": agent,
        "group": group,
        "employee": UserFactory(username="employee"),
        "mail": ServiceFactory(name="Exchange mail"),
    }


def file(desk, title, **fields):
    return services.incident_create(
        actor=desk["agent"],
        caller=desk["employee"],
        title=title,
        service=desk["mail"],
        assignment_group=desk["group"],
        **fields,
    )


def due_in(incident, *, left, span=10 * HOUR):
    """Set the incident's running clock: `left` seconds to its due time, of `span`."""
    now = timezone.now()
    SLAClock.objects.filter(ticket_type="incidents.incident", ticket_id=incident.pk).update(
        state=ClockState.RUNNING,
        due_at=now + dt.timedelta(seconds=left),
        started_at=now + dt.timedelta(seconds=left - span),
    )


def rows(html):
    """(reference, SLA level, SLA text) of each queue row, in order."""
    found = re.findall(r'>(INC-\d+)</a>.*?data-sla="(\w+)">(.*?)</td>', html, re.DOTALL)
    return [(ref, level, re.sub(r"<[^>]+>", " ", text)) for ref, level, text in found]


def test_sla_standing_by_threshold():
    now = timezone.now()
    start = now - dt.timedelta(hours=8)
    assert sla_standing(now + dt.timedelta(hours=5), start, now)["level"] == "ok"
    at_risk = sla_standing(now + dt.timedelta(hours=2), start, now)  # 2 of 10 hours left
    assert at_risk["level"] == "at_risk" and at_risk["text"] == "2 h 00 min left"
    breached = sla_standing(now - dt.timedelta(minutes=90), start, now)
    assert breached["level"] == "breached" and breached["text"] == "breached 1 h 30 min ago"
    assert sla_standing(None, None, now) is None


def test_the_queue_shows_time_left_coloured_and_sorts_by_due(client, desk):
    relaxed, tight, late = file(desk, "Relaxed"), file(desk, "Tight"), file(desk, "Late")
    none = file(desk, "No clock")
    SLAClock.objects.filter(ticket_id=none.pk).delete()
    due_in(relaxed, left=8 * HOUR)
    due_in(tight, left=HOUR)
    due_in(late, left=-HOUR)
    client.force_login(desk["agent"])
    html = client.get(reverse("incident_queue"), {"queue": "unassigned", "sort": "due"}).content.decode()
    found = rows(html)
    assert [r[0] for r in found] == [
        late.reference,
        tight.reference,
        relaxed.reference,
        none.reference,
    ]  # no clock: last
    levels = {ref: (level, text) for ref, level, text in found}
    assert levels[late.reference][0] == "breached" and "breached 1 h 00 min ago" in levels[late.reference][1]
    assert (
        levels[tight.reference][0] == "at_risk"
        and "0 h" not in levels[tight.reference][1]
        and "min left" in levels[tight.reference][1]
    )
    assert levels[relaxed.reference][0] == "ok" and re.search(
        r"\b(7 h 59|8 h 00) min left", levels[relaxed.reference][1]
    )
    assert levels[none.reference][0] == "none" and "no running clock" in levels[none.reference][1]
    assert 'class="sla-left sla-breached"' in html and 'class="sla-left sla-at_risk"' in html
    html = client.get(reverse("incident_queue"), {"queue": "unassigned", "sort": "-due"}).content.decode()
    assert [r[0] for r in rows(html)] == [relaxed.reference, tight.reference, late.reference, none.reference]


def test_sorting_by_due_costs_the_same_queries_whatever_the_page_size(client, desk):
    for n in range(30):
        due_in(file(desk, f"Fault {n}"), left=(n - 5) * HOUR)
    client.force_login(desk["agent"])
    counts = []
    for size in (5, 25):
        with CaptureQueriesContext(connection) as ctx:
            assert (
                client.get(
                    reverse("incident_queue"), {"queue": "unassigned", "page_size": size, "sort": "due"}
                ).status_code
                == 200
            )
        counts.append(len(ctx))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("sort", ["due", "-due", "nonsense", "-", "due,priority", "sla_due", "x" * 300, "due\u00e9"])
@pytest.mark.parametrize("queue", ["mine", "unassigned", "breaching", "open", "bogus", ""])
def test_nonsense_sort_and_queue_values_never_500(client, desk, sort, queue):
    due_in(file(desk, "Fault"), left=HOUR)
    client.force_login(desk["agent"])
    assert client.get(reverse("incident_queue"), {"queue": queue, "sort": sort}).status_code == 200


def test_the_default_tab_is_one_with_work_in_it(client, desk):
    file(desk, "Waiting for someone")  # in the agent's group, nobody's yet
    client.force_login(desk["agent"])
    html = client.get(reverse("incident_queue")).content.decode()
    assert re.search(r'class="queue-tab active" aria-current="page">Unassigned in my groups<', html)
    incident = file(desk, "Mine now")
    services.incident_assign(
        actor=desk["agent"], incident=incident, assignment_group=desk["group"], assignee=desk["agent"]
    )
    html = client.get(reverse("incident_queue")).content.decode()
    assert re.search(r'class="queue-tab active" aria-current="page">My work<', html)


def test_the_bulk_form_is_folded_until_rows_are_ticked(client, desk):
    file(desk, "Fault")
    client.force_login(desk["agent"])
    html = client.get(reverse("incident_queue"), {"queue": "unassigned"}).content.decode()
    assert 'class="card bulk-actions" id="bulk-actions"' in html and "Tick incidents to" in html
    # The rule that opens it lives in the desk's stylesheet (no script needed).
    from django.contrib.staticfiles import finders

    with open(finders.find("incidents/desk.css")) as f:
        css = f.read()
    assert "#bulk-form .bulk-actions { display: none; }" in css
    assert "#bulk-form:has(input[name=incidents]:checked) .bulk-actions" in css
