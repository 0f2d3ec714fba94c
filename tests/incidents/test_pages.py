"""The Supporting pages: detail (agent and caller views), filing, self-service, queues,
problems, known errors, proposals, the priority matrix and search."""

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import services
from incidents.choices import IncidentStatus, NoteKind, ProblemStatus
from incidents.models import (
    Incident,
    IncidentNote,
    KnownError,
    PriorityRule,
    Problem,
    ProblemProposal,
    SavedFilter,
)
from mof.models import CIRelationship
from mof.transitions import perform_transition
from tests.factories import (
    CIFactory,
    ManagerFactory,
    ServiceFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(db):
    agent = UserFactory(username="agent", roles=["support"])
    other_agent = UserFactory(username="agent2", roles=["support"])
    lead = ManagerFactory(username="desk-lead")
    group = TeamFactory(name="Messaging", role_cluster="support", manager=lead, members=[agent])
    other_group = TeamFactory(name="Network", role_cluster="infrastructure", members=[other_agent])
    employee = UserFactory(username="employee")
    stranger = UserFactory(username="stranger")
    mail = ServiceFactory(name="Exchange mail")
    return {
        "agent": agent,
        "other_agent": other_agent,
        "lead": lead,
        "group": group,
        "other_group": other_group,
        "employee": employee,
        "stranger": stranger,
        "mail": mail,
    }


def login(client, user):
    client.force_login(user)
    return client


def filed(desk, **fields):
    fields.setdefault("title", "Outlook keeps asking for my password")
    fields.setdefault("service", desk["mail"])
    return services.incident_create(actor=desk["employee"], caller=desk["employee"], **fields)


def assigned(desk, incident, *, start=True):
    incident = services.incident_assign(
        actor=desk["agent"], incident=incident, assignment_group=desk["group"], assignee=desk["agent"]
    )
    if start:
        incident = perform_transition(model=Incident, pk=incident.pk, name="start_work", actor=desk["agent"])
    return incident


def with_notes(desk, incident):
    services.incident_note(
        actor=desk["agent"], incident=incident, kind=NoteKind.WORK_NOTE, body="SECRET: mailbox db04 is corrupt"
    )
    services.incident_note(actor=desk["agent"], incident=incident, kind=NoteKind.COMMENT, body="We are looking at it.")


# --- detail pages -------------------------------------------------------------------


def test_the_agent_sees_everything_on_the_detail_page(client, desk):
    incident = assigned(desk, filed(desk))
    with_notes(desk, incident)
    page = login(client, desk["agent"]).get(reverse("incident_detail", args=[incident.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "SECRET: mailbox db04" in html and "We are looking at it." in html
    for anchor in (
        'id="assign"',
        'id="escalate"',
        'id="cmdb"',
        'id="history"',
        'data-transition="hold"',
        'data-transition="resolve"',
    ):
        assert anchor in html, anchor


def test_the_caller_sees_comments_never_work_notes(client, desk):
    incident = assigned(desk, filed(desk))
    with_notes(desk, incident)
    page = login(client, desk["employee"]).get(reverse("incident_detail", args=[incident.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "We are looking at it." in html
    assert "SECRET" not in html and 'id="history"' not in html and 'id="assign"' not in html
    assert 'data-transition="hold"' not in html
    assert 'name="kind"' in html and 'value="work_note"' not in html  # a comment, never a work note


def test_someone_elses_incident_is_a_404_on_every_page(client, desk):
    incident = assigned(desk, filed(desk, title="Quarterly bonus spreadsheet locked"))
    with_notes(desk, incident)
    login(client, desk["stranger"])
    for url in (reverse("incident_detail", args=[incident.pk]), reverse("incident_edit", args=[incident.pk])):
        assert client.get(url).status_code == 404
    assert (
        client.post(reverse("incident_note", args=[incident.pk]), {"kind": "comment", "body": "hi"}).status_code == 404
    )
    assert client.post(reverse("incident_transition", args=[incident.pk, "reopen"])).status_code == 404
    assert IncidentNote.objects.filter(incident=incident).count() == 2
    for url in (
        reverse("self_service"),
        reverse("support_search") + "?q=bonus",
        reverse("support_search") + "?q=corrupt",
        reverse("incident_queue"),
    ):
        html = client.get(url, follow=True).content.decode()
        assert incident.reference not in html and "Quarterly bonus" not in html and "SECRET" not in html, url


def test_search_finds_what_the_reader_may_see(client, desk):
    mine = filed(desk, title="Printer on floor 3 jams")
    other = services.incident_create(
        actor=desk["stranger"], caller=desk["stranger"], title="Printer in the lobby smokes"
    )
    html = login(client, desk["employee"]).get(reverse("support_search") + "?q=Printer").content.decode()
    assert mine.reference in html and other.reference not in html and 'id="results-problems"' not in html
    html = login(client, desk["agent"]).get(reverse("support_search") + "?q=Printer").content.decode()
    assert mine.reference in html and other.reference in html


def test_cmdb_context_names_services_and_incidents_open_on_what_the_cis_depend_on(client, desk):
    san, mailbox = CIFactory(name="san-01", status="in_service"), CIFactory(name="mbx-01", status="in_service")
    mailbox.services.add(desk["mail"])
    CIRelationship.objects.create(source=mailbox, target=san, type="depends_on")
    earlier = services.incident_create(
        actor=desk["agent"], caller=desk["employee"], title="SAN latency alarms", affected_cis=[san]
    )
    incident = services.incident_create(
        actor=desk["agent"], caller=desk["employee"], title="Mail slow", affected_cis=[mailbox]
    )
    html = login(client, desk["agent"]).get(reverse("incident_detail", args=[incident.pk])).content.decode()
    services_part = html.split('id="cmdb-services"')[1].split("</ul>")[0]
    incidents_part = html.split('id="cmdb-incidents"')[1].split("</ul>")[0]
    assert "Exchange mail" in services_part
    assert earlier.reference in incidents_part and "possible common cause" in incidents_part


def test_problem_detail_and_resolve_is_not_offered_by_hand(client, desk):
    problem = services.problem_create(
        actor=desk["agent"], title="Mailbox corruption", root_cause="db04 firmware", workaround="Move the mailbox"
    )
    page = login(client, desk["agent"]).get(reverse("problem_detail", args=[problem.pk]))
    assert page.status_code == 200 and "db04 firmware" in page.content.decode()
    assert client.post(reverse("problem_transition", args=[problem.pk, "resolve"])).status_code == 404
    assert login(client, desk["employee"]).get(reverse("problem_detail", args=[problem.pk])).status_code == 404


# --- bad input: form errors, nothing written ----------------------------------------------


def test_impact_outside_the_scale_is_a_form_error(client, desk):
    response = login(client, desk["agent"]).post(
        reverse("incident_create"),
        {
            "caller": desk["employee"].pk,
            "channel": "phone",
            "title": "VPN down",
            "impact": 7,
            "urgency": 2,
        },
    )
    assert response.status_code == 400 and "impact" in response.context["form"].errors
    assert not Incident.objects.exists()


def test_hold_without_a_reason_and_resolve_without_a_code_write_nothing(client, desk):
    incident = assigned(desk, filed(desk))
    login(client, desk["agent"])
    response = client.post(reverse("incident_transition", args=[incident.pk, "hold"]), {"hold_reason": ""})
    assert response.status_code == 400
    response = client.post(
        reverse("incident_transition", args=[incident.pk, "resolve"]), {"resolution_notes": "rebooted"}
    )
    assert response.status_code == 400 and b"resolution_code" in response.content
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.IN_PROGRESS and not incident.resolution_notes


def test_assigning_to_someone_outside_the_group_is_a_form_error(client, desk):
    incident = filed(desk)
    response = login(client, desk["agent"]).post(
        reverse("incident_assign", args=[incident.pk]),
        {
            "assignment_group": desk["group"].pk,
            "assignee": desk["other_agent"].pk,
        },
    )
    assert response.status_code == 400 and "assignee" in response.context["assign_form"].errors
    incident.refresh_from_db()
    assert incident.assignee_id is None and incident.status == IncidentStatus.NEW


def test_a_comment_on_a_closed_incident_is_a_form_error(client, desk):
    incident = assigned(desk, filed(desk))
    perform_transition(
        model=Incident,
        pk=incident.pk,
        name="resolve",
        actor=desk["agent"],
        data={"resolution_code": "fixed", "resolution_notes": "ok"},
    )
    perform_transition(model=Incident, pk=incident.pk, name="close", actor=desk["agent"])
    response = login(client, desk["employee"]).post(
        reverse("incident_note", args=[incident.pk]), {"kind": "comment", "body": "still broken"}
    )
    assert response.status_code == 400
    assert not IncidentNote.objects.filter(incident=incident).exists()


def test_a_caller_cannot_post_a_work_note(client, desk):
    incident = filed(desk)
    response = login(client, desk["employee"]).post(
        reverse("incident_note", args=[incident.pk]), {"kind": "work_note", "body": "sneaky"}
    )
    assert response.status_code == 400
    assert not IncidentNote.objects.exists()


def test_functional_escalation_needs_a_reason(client, desk):
    incident = assigned(desk, filed(desk))
    login(client, desk["agent"])
    response = client.post(reverse("incident_assign", args=[incident.pk]), {"assignment_group": desk["other_group"].pk})
    assert response.status_code == 400
    incident.refresh_from_db()
    assert incident.assignment_group == desk["group"]
    response = client.post(
        reverse("incident_assign", args=[incident.pk]),
        {"assignment_group": desk["other_group"].pk, "reason": "It is the firewall"},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.assignment_group == desk["other_group"] and incident.assignee_id is None


def test_hierarchical_escalation_writes_a_work_note(client, desk):
    incident = assigned(desk, filed(desk))
    response = login(client, desk["agent"]).post(
        reverse("incident_escalate", args=[incident.pk]), {"reason": "VIP cannot mail"}
    )
    assert response.status_code == 302
    assert IncidentNote.objects.filter(
        incident=incident, kind=NoteKind.WORK_NOTE, body__contains="VIP cannot mail"
    ).exists()


def test_a_manager_declares_a_major_incident_and_logs_communications(client, desk):
    incident = assigned(desk, filed(desk))
    assert (
        "Declare a major incident"
        not in login(client, desk["agent"]).get(reverse("incident_detail", args=[incident.pk])).content.decode()
    )
    login(client, desk["lead"])
    assert (
        client.post(
            reverse("incident_declare_major", args=[incident.pk]), {"major_incident_manager": desk["lead"].pk}
        ).status_code
        == 302
    )
    incident.refresh_from_db()
    assert incident.is_major and incident.outage_start
    response = client.post(
        reverse("incident_communicate", args=[incident.pk]),
        {"body": "Mail down; next update 10:30", "recipients": "not-an-address"},
    )
    assert response.status_code == 400 and not incident.communications.exists()
    response = client.post(
        reverse("incident_communicate", args=[incident.pk]),
        {"body": "Mail down; next update 10:30", "recipients": "cio@example.test"},
    )
    assert response.status_code == 302 and incident.communications.count() == 1


# --- filing ---------------------------------------------------------------------------


def test_self_service_files_in_plain_words_and_lists_my_incidents(client, desk):
    login(client, desk["employee"])
    assert client.get(reverse("self_service")).status_code == 200
    response = client.post(
        reverse("self_service"),
        {"title": "Cannot print", "description": "Paper jam message", "service": desk["mail"].pk, "urgency": 1},
    )
    incident = Incident.objects.get()
    assert (
        response.status_code == 302
        and incident.caller == desk["employee"]
        and incident.urgency == 1
        and incident.channel == "portal"
    )
    assert incident.reference in client.get(reverse("self_service")).content.decode()
    # an employee is sent to self-service, not the desk's form
    assert client.get(reverse("incident_create")).status_code == 302


def test_the_agent_files_for_a_caller_with_cis_and_a_known_error(client, desk):
    problem = services.problem_create(
        actor=desk["agent"],
        title="Autodiscover broken",
        root_cause="DNS record",
        workaround="Set the server by hand",
        services=[desk["mail"]],
    )
    perform_transition(model=Problem, pk=problem.pk, name="publish_known_error", actor=desk["agent"])
    known_error = KnownError.objects.get()
    ci = CIFactory(name="mbx-02", status="in_service")
    response = login(client, desk["agent"]).post(
        reverse("incident_create"),
        {
            "caller": desk["employee"].pk,
            "channel": "phone",
            "title": "Autodiscover fails",
            "service": desk["mail"].pk,
            "impact": 1,
            "urgency": 1,
            "affected_cis": "mbx-02",
            "assignment_group": desk["group"].pk,
            "assignee": desk["agent"].pk,
            "known_error": known_error.pk,
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    incident = Incident.objects.get()
    assert incident.caller == desk["employee"] and incident.priority == 1 and incident.known_error == known_error
    assert list(incident.affected_cis.all()) == [ci]


def test_known_error_suggestions_partial(client, desk):
    problem = services.problem_create(
        actor=desk["agent"],
        title="Autodiscover broken",
        root_cause="DNS record",
        workaround="Set the server by hand",
        services=[desk["mail"]],
    )
    perform_transition(model=Problem, pk=problem.pk, name="publish_known_error", actor=desk["agent"])
    login(client, desk["agent"])
    url = reverse("known_error_suggestions")
    response = client.get(url, {"title": "autodiscover fails", "service": desk["mail"].pk}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "Autodiscover broken" in html and "Set the server by hand" in html
    assert "Autodiscover broken" not in client.get(url, {"title": "printer toner"}).content.decode()


# --- queues -----------------------------------------------------------------------------


def _many(desk, n, **fields):
    return [
        services.incident_create(
            actor=desk["agent"],
            caller=desk["employee"],
            title=f"Mail fault {i}",
            service=desk["mail"],
            assignment_group=desk["group"],
            **fields,
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("queue", ["triage", "mine", "unassigned", "on_hold", "open", "breaching"])
def test_queue_pages_run_a_constant_number_of_queries(client, desk, queue):
    _many(desk, 60)
    for incident in Incident.objects.all()[:55]:
        assigned(desk, incident)
    login(client, desk["agent"])
    counts = []
    for size in (5, 50):
        with CaptureQueriesContext(connection) as ctx:
            assert (
                client.get(
                    reverse("incident_queue"), {"queue": queue, "page_size": size, "sort": "-priority"}
                ).status_code
                == 200
            )
        counts.append(len(ctx))
    assert counts[0] == counts[1], counts


def test_queue_filters_and_saved_filters(client, desk):
    high = services.incident_create(
        actor=desk["agent"],
        caller=desk["employee"],
        title="Everything down",
        impact=1,
        urgency=1,
        assignment_group=desk["group"],
    )
    low = services.incident_create(
        actor=desk["agent"],
        caller=desk["employee"],
        title="Font too small",
        impact=3,
        urgency=3,
        assignment_group=desk["group"],
    )
    login(client, desk["agent"])
    html = client.get(reverse("incident_queue"), {"queue": "unassigned", "priority": 1}).content.decode()
    assert high.reference in html and low.reference not in html
    assert (
        client.post(
            reverse("saved_filter_create"), {"name": "P1 only", "querystring": "queue=unassigned&priority=1"}
        ).status_code
        == 302
    )
    saved = SavedFilter.objects.get(user=desk["agent"])
    assert "P1 only" in client.get(reverse("incident_queue")).content.decode()
    assert (
        client.post(reverse("saved_filter_delete", args=[saved.pk]), {}).status_code == 302
        and not SavedFilter.objects.exists()
    )


def test_queue_search_box_and_ci_filter_find_their_incidents(client, desk):
    """Issue 11: the search (q) and CI filters of the queue answered 500 for any value."""
    cas = CIFactory(name="EX-CAS-02", services=[desk["mail"]])
    hit = services.incident_create(
        actor=desk["agent"],
        caller=desk["employee"],
        title="OWA down",
        assignment_group=desk["group"],
        affected_cis=[cas],
    )
    other = services.incident_create(
        actor=desk["agent"], caller=desk["employee"], title="Printer jam", assignment_group=desk["group"]
    )
    login(client, desk["agent"])
    for params in ({"q": hit.reference}, {"q": f" {hit.reference.lower()} "}, {"q": "OWA"}, {"ci": "EX-CAS-02"}):
        response = client.get(reverse("incident_queue"), {"queue": "open", **params})
        table = response.content.decode().split("queue-table")[1]
        assert response.status_code == 200 and hit.reference in table and other.reference not in table, params
    nothing = client.get(reverse("incident_queue"), {"queue": "open", "ci": "NO-SUCH-CI"})
    assert nothing.status_code == 200 and hit.reference not in nothing.content.decode().split("queue-table")[1]


def test_breaching_soon_lists_incidents_whose_sla_clock_falls_due(client, desk):
    from slas import services as slas
    from slas.models import ServiceLevelAgreement, SLAStatus

    always = slas.calendar_save(
        actor=desk["lead"], name="24x7", time_zone="UTC", intervals=[(d, dt.time(0), dt.time(0)) for d in range(7)]
    )
    p1 = slas.sla_create(actor=desk["lead"], name="P1", priorities=[1], resolution_seconds=3 * 3600, calendar=always)
    p3 = slas.sla_create(actor=desk["lead"], name="P3", priorities=[3], resolution_seconds=24 * 3600, calendar=always)
    ServiceLevelAgreement.objects.filter(pk__in=[p1.pk, p3.pk]).update(status=SLAStatus.ACTIVE)
    urgent = services.incident_create(
        actor=desk["agent"],
        caller=desk["employee"],
        title="Everything down",
        impact=1,
        urgency=1,
        assignment_group=desk["group"],
    )
    calm = services.incident_create(
        actor=desk["agent"],
        caller=desk["employee"],
        title="Font too small",
        impact=2,
        urgency=2,
        assignment_group=desk["group"],
    )
    html = login(client, desk["agent"]).get(reverse("incident_queue"), {"queue": "breaching"}).content.decode()
    table = html.split("queue-table")[1]
    assert (
        urgent.reference in table and calm.reference not in table and re.search(r"2 h \d\d min left", table)
    )  # the SLA column


def test_bulk_assign_through_the_page(client, desk):
    incidents = _many(desk, 3)
    response = login(client, desk["agent"]).post(
        reverse("incident_bulk"),
        {
            "action": "assign",
            "incidents": [i.pk for i in incidents],
            "assignment_group": desk["group"].pk,
            "assignee": desk["agent"].pk,
        },
    )
    assert response.status_code == 302
    assert set(Incident.objects.values_list("status", flat=True)) == {IncidentStatus.ASSIGNED}


def test_bulk_rolls_back_whole_on_one_bad_row(client, desk):
    incidents = _many(desk, 3)
    closed = incidents[2]
    assigned(desk, closed)
    perform_transition(
        model=Incident,
        pk=closed.pk,
        name="cancel",
        actor=desk["agent"],
        data={"cancel_reason": "mistake", "reason": "test"},
    )
    response = login(client, desk["agent"]).post(
        reverse("incident_bulk"),
        {
            "action": "set_priority",
            "incidents": [i.pk for i in incidents],
            "impact": 1,
            "urgency": 1,
        },
    )
    assert response.status_code == 400 and "Nothing was changed" in response.content.decode()
    assert set(Incident.objects.values_list("priority", flat=True)) == {3}


def test_bulk_resolve_as_duplicate(client, desk):
    master, *dupes = _many(desk, 3)
    response = login(client, desk["agent"]).post(
        reverse("incident_bulk"),
        {
            "action": "resolve_duplicate",
            "incidents": [d.pk for d in dupes],
            "duplicate_of": master.reference,
        },
    )
    assert response.status_code == 302
    assert set(Incident.objects.filter(pk__in=[d.pk for d in dupes]).values_list("status", flat=True)) == {
        IncidentStatus.CANCELLED
    }


def test_employees_may_not_use_the_queues_or_bulk(client, desk):
    incidents = _many(desk, 1)
    login(client, desk["employee"])
    assert client.get(reverse("incident_queue")).status_code == 302
    assert (
        client.post(
            reverse("incident_bulk"),
            {"action": "set_priority", "incidents": [incidents[0].pk], "impact": 1, "urgency": 1},
        ).status_code
        == 403
    )


# --- problems, proposals, matrix -----------------------------------------------------------


def test_problem_create_edit_and_publish(client, desk):
    incident = filed(desk)
    login(client, desk["agent"])
    response = client.post(
        reverse("problem_create"),
        {"title": "Password prompts", "incidents": incident.reference, "services": [desk["mail"].pk]},
    )
    assert response.status_code == 302
    problem = Problem.objects.get()
    incident.refresh_from_db()
    assert incident.problem == problem
    response = client.post(
        reverse("problem_edit", args=[problem.pk]),
        {
            "title": "Password prompts",
            "root_cause": "Expired cert",
            "workaround": "Re-enter once",
            "incidents": incident.reference,
            "fixing_changes": "CHG-999",
        },
    )
    assert response.status_code == 400 and "fixing_changes" in response.context["form"].errors
    response = client.post(
        reverse("problem_edit", args=[problem.pk]),
        {
            "title": "Password prompts",
            "root_cause": "Expired cert",
            "workaround": "Re-enter once",
            "incidents": incident.reference,
        },
    )
    assert response.status_code == 302
    assert client.post(reverse("problem_transition", args=[problem.pk, "publish_known_error"])).status_code == 302
    problem.refresh_from_db()
    assert problem.status == ProblemStatus.KNOWN_ERROR
    client = Client()  # a fresh session: no messages left from the agent's
    html = login(client, desk["employee"]).get(reverse("known_error_list") + "?q=password").content.decode()
    assert "Re-enter once" in html and problem.reference not in html
    for name in ("problem_list", "problem_create", "proposal_list"):
        assert client.get(reverse(name)).status_code in (403, 404)


def test_proposals_accept_and_dismiss(client, desk):
    from django.utils import timezone

    incidents = _many(desk, 2)
    now = timezone.now()
    first = ProblemProposal.objects.create(
        scope="service", service=desk["mail"], incident_count=2, window_start=now, window_end=now
    )
    first.incidents.set(incidents)
    login(client, desk["agent"])
    assert "Accept" in client.get(reverse("proposal_list")).content.decode()
    assert client.post(reverse("proposal_accept", args=[first.pk])).status_code == 302
    assert Problem.objects.count() == 1
    first.refresh_from_db()
    assert first.status == "accepted"
    assert (
        client.post(reverse("proposal_dismiss", args=[first.pk])).status_code == 302
    )  # already decided: a message, nothing changes
    first.refresh_from_db()
    assert first.status == "accepted"


def test_priority_matrix_managers_edit_it(client, desk):
    login(client, desk["agent"])
    assert client.get(reverse("priority_matrix")).status_code == 200
    assert client.post(reverse("priority_matrix"), {}).status_code == 403
    login(client, desk["lead"])
    cells = {f"p_{i}_{u}": 5 for i in (1, 2, 3) for u in (1, 2, 3)}
    assert client.post(reverse("priority_matrix"), {**cells, "p_1_1": 9}).status_code == 400
    assert client.post(reverse("priority_matrix"), {**cells, "p_1_1": 2}).status_code == 302
    assert PriorityRule.objects.get(impact=1, urgency=1).priority == 2
    assert services.priority_for(2, 2) == 5


def test_landing_links_the_pages(client, desk):
    html = login(client, desk["agent"]).get(reverse("supporting")).content.decode()
    for name in (
        "incident_queue",
        "incident_create",
        "self_service",
        "problem_list",
        "known_error_list",
        "support_search",
        "priority_matrix",
    ):
        assert reverse(name) in html, name


def test_the_filing_form_shows_the_cmdb_context_of_the_named_cis(client, desk):
    san, mailbox = CIFactory(name="san-02", status="in_service"), CIFactory(name="mbx-03", status="in_service")
    mailbox.services.add(desk["mail"])
    CIRelationship.objects.create(source=mailbox, target=san, type="depends_on")
    earlier = services.incident_create(
        actor=desk["agent"], caller=desk["employee"], title="SAN latency", affected_cis=[san]
    )
    html = (
        login(client, desk["agent"]).get(reverse("incident_cmdb_context"), {"affected_cis": "mbx-03"}).content.decode()
    )
    assert "Exchange mail" in html and earlier.reference in html and "<html" not in html
    assert (
        login(client, desk["employee"]).get(reverse("incident_cmdb_context"), {"affected_cis": "mbx-03"}).status_code
        == 403
    )


def test_edit_recomputes_the_priority_and_a_regroup_needs_a_reason(client, desk):
    incident = assigned(desk, filed(desk))
    login(client, desk["agent"])
    url = reverse("incident_edit", args=[incident.pk])
    assert client.get(url).status_code == 200
    form = {
        "channel": "portal",
        "title": incident.title,
        "service": desk["mail"].pk,
        "impact": 1,
        "urgency": 1,
        "assignment_group": desk["group"].pk,
        "assignee": desk["agent"].pk,
    }
    assert client.post(url, form).status_code == 302
    incident.refresh_from_db()
    assert incident.priority == 1
    response = client.post(url, {**form, "assignment_group": desk["other_group"].pk, "assignee": ""})
    assert response.status_code == 400 and "reason" in response.context["form"].errors
    incident.refresh_from_db()
    assert incident.assignment_group == desk["group"]
    assert login(client, desk["employee"]).get(url).status_code == 403


def test_take_assigns_to_me_in_my_group_and_links_a_known_error(client, desk):
    incident = filed(desk)  # self-service: no group yet
    problem = services.problem_create(
        actor=desk["agent"],
        title="Password prompts",
        root_cause="Cert",
        workaround="Sign in again",
        services=[desk["mail"]],
    )
    perform_transition(model=Problem, pk=problem.pk, name="publish_known_error", actor=desk["agent"])
    login(client, desk["agent"])
    assert incident.reference in client.get(reverse("incident_queue"), {"queue": "triage"}).content.decode()
    assert client.post(reverse("incident_take", args=[incident.pk])).status_code == 302
    incident.refresh_from_db()
    assert (
        incident.assignee == desk["agent"]
        and incident.assignment_group == desk["group"]
        and incident.status == IncidentStatus.ASSIGNED
    )
    page = client.get(reverse("incident_detail", args=[incident.pk])).content.decode()
    assert "Sign in again" in page  # suggested on the detail page
    known_error = KnownError.objects.get()
    assert (
        client.post(
            reverse("incident_link_known_error", args=[incident.pk]), {"known_error": known_error.pk}
        ).status_code
        == 302
    )
    incident.refresh_from_db()
    assert incident.known_error == known_error
    # someone outside the incident's group cannot take it
    response = login(client, desk["other_agent"]).post(reverse("incident_take", args=[incident.pk]))
    incident.refresh_from_db()
    assert response.status_code == 400 and incident.assignee == desk["agent"]
