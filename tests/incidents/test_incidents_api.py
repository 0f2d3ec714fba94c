"""Incident and problem lifecycles via the API, the priority matrix, visibility, bulk actions."""

import datetime as dt

import pytest
from django.test import TestCase
from django.utils import timezone

from changes.choices import ChangeStatus
from incidents import services
from incidents.choices import IncidentStatus, ProblemStatus
from incidents.models import (
    Incident,
    IncidentNote,
    KnownError,
    PriorityRule,
    Problem,
    ProblemProposal,
)
from mof.models import AuditEntry
from tests.conftest import api_as
from tests.factories import (
    CIFactory,
    ManagerFactory,
    ServiceFactory,
    TeamFactory,
    UserFactory,
)
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(db):
    agent = UserFactory(username="agent", email="agent@example.test", roles=["support"])
    other_agent = UserFactory(username="agent2", roles=["support"])
    lead = ManagerFactory(username="desk-lead", email="lead@example.test")
    group = TeamFactory(name="Messaging", role_cluster="support", manager=lead, members=[agent])
    other_group = TeamFactory(name="Network", role_cluster="infrastructure", members=[other_agent])
    employee = UserFactory(username="employee", email="employee@example.test")
    mail = ServiceFactory(name="Exchange mail")
    return {
        "agent": agent,
        "other_agent": other_agent,
        "lead": lead,
        "group": group,
        "other_group": other_group,
        "employee": employee,
        "mail": mail,
    }


@pytest.fixture
def commits():
    """Marks the tests that read e-mail: each request below runs what it queued after commit."""


def post(user, url, data=None):
    # The test runs in one transaction: run each request's on-commit work (e-mail) when it ends.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return api_as(user).post(url, data or {}, format="json")


def take(user, pk, name, data=None):
    return post(user, f"/api/v1/incidents/{pk}/transitions/{name}/", data)


def test_incident_lifecycle_with_hold_resolution_and_reopen(desk, mailoutbox, commits):
    filed = post(
        desk["employee"],
        "/api/v1/incidents/",
        {"title": "Outlook keeps asking for my password", "service": desk["mail"].pk, "urgency": 1},
    )
    assert filed.status_code == 201, filed.json()
    pk = filed.json()["id"]
    assert filed.json()["reference"].startswith("INC-") and filed.json()["status"] == "new"
    assigned = post(
        desk["agent"],
        f"/api/v1/incidents/{pk}/assign/",
        {"assignment_group": desk["group"].pk, "assignee": desk["agent"].pk},
    )
    assert assigned.status_code == 200 and assigned.json()["status"] == "assigned"
    assert any("employee@example.test" in m.to and "assigned" in m.subject for m in mailoutbox)
    assert take(desk["agent"], pk, "start_work").json()["status"] == "in_progress"
    assert take(desk["agent"], pk, "hold").status_code == 400  # a hold needs its reason
    held = take(desk["agent"], pk, "hold", {"hold_reason": "awaiting_caller"})
    assert held.json()["status"] == "on_hold" and held.json()["hold_reason"] == "awaiting_caller"
    assert take(desk["agent"], pk, "resume").json()["status"] == "in_progress"
    assert take(desk["agent"], pk, "resolve", {"resolution_code": "fixed"}).status_code == 400  # needs notes
    resolved = take(
        desk["agent"],
        pk,
        "resolve",
        {"resolution_code": "fixed", "resolution_notes": "Reset the Autodiscover profile."},
    )
    assert resolved.json()["status"] == "resolved"
    assert any("resolved" in m.subject for m in mailoutbox)
    # The caller reopens within the period, then it closes after it.
    reopened = take(desk["employee"], pk, "reopen", {"reason": "Still happening"})
    assert reopened.status_code == 200 and reopened.json()["status"] == "in_progress"
    take(desk["agent"], pk, "resolve", {"resolution_code": "fixed", "resolution_notes": "Cleared cached credentials."})
    Incident.objects.filter(pk=pk).update(resolved_at=timezone.now() - dt.timedelta(days=30))
    assert take(desk["employee"], pk, "reopen", {"reason": "again"}).status_code == 400
    assert services.close_resolved_incidents() == 1
    assert Incident.objects.get(pk=pk).status == IncidentStatus.CLOSED
    closing = AuditEntry.objects.filter(model_label="incidents.incident", object_id=str(pk), transition="close").get()
    assert closing.actor_name == "mof-system"


def test_priority_comes_from_the_matrix_and_a_new_matrix_applies_to_new_incidents(desk):
    first = post(desk["agent"], "/api/v1/incidents/", {"title": "a", "impact": 1, "urgency": 1}).json()
    assert first["priority"] == 1
    low = post(desk["agent"], "/api/v1/incidents/", {"title": "b", "impact": 3, "urgency": 3}).json()
    assert low["priority"] == 5
    cell = PriorityRule.objects.get(impact=1, urgency=1)
    assert (
        api_as(desk["agent"]).patch(f"/api/v1/priority-matrix/{cell.pk}/", {"priority": 2}, format="json").status_code
        == 403
    )
    assert (
        api_as(desk["lead"]).patch(f"/api/v1/priority-matrix/{cell.pk}/", {"priority": 2}, format="json").status_code
        == 200
    )
    assert (
        api_as(desk["lead"]).patch(f"/api/v1/priority-matrix/{cell.pk}/", {"priority": 9}, format="json").status_code
        == 400
    )
    assert Incident.objects.get(pk=first["id"]).priority == 1  # unchanged
    assert post(desk["agent"], "/api/v1/incidents/", {"title": "c", "impact": 1, "urgency": 1}).json()["priority"] == 2


def test_a_caller_never_sees_work_notes_nor_other_peoples_incidents(desk):
    mine = post(desk["employee"], "/api/v1/incidents/", {"title": "mine"}).json()["id"]
    theirs = IncidentFactory(caller=desk["agent"]).pk
    post(desk["agent"], f"/api/v1/incidents/{mine}/notes/", {"kind": "work_note", "body": "User is on the VIP list"})
    post(desk["agent"], f"/api/v1/incidents/{mine}/notes/", {"kind": "comment", "body": "Please restart Outlook"})
    client = api_as(desk["employee"])
    notes = client.get(f"/api/v1/incidents/{mine}/notes/").json()
    assert [n["body"] for n in notes] == ["Please restart Outlook"]
    assert client.get(f"/api/v1/incidents/{theirs}/").status_code == 404
    assert [i["id"] for i in client.get("/api/v1/incidents/").json()["results"]] == [mine]
    detail = client.get(f"/api/v1/incidents/{mine}/").json()
    assert "assignee" not in detail and "resolution_notes" in detail
    assert (
        post(desk["employee"], f"/api/v1/incidents/{mine}/notes/", {"kind": "work_note", "body": "x"}).status_code
        == 403
    )
    assert client.get(f"/api/v1/incidents/{mine}/communications/").status_code == 403
    search = client.get("/api/v1/incidents/search/?q=mine").json()
    assert [i["id"] for i in search["incidents"]] == [mine] and search["problems"] == []


def test_bad_incident_input_gets_a_clear_error_and_writes_nothing(desk):
    pk = post(desk["employee"], "/api/v1/incidents/", {"title": "x"}).json()["id"]
    before = (
        Incident.objects.count(),
        IncidentNote.objects.count(),
        AuditEntry.objects.exclude(action="refused").count(),
    )
    assert post(desk["agent"], "/api/v1/incidents/", {"title": "y", "impact": 7}).status_code == 400
    assert (
        post(
            desk["agent"],
            f"/api/v1/incidents/{pk}/assign/",
            {"assignment_group": desk["group"].pk, "assignee": desk["other_agent"].pk},
        ).status_code
        == 400
    )
    assert (
        post(desk["employee"], "/api/v1/incidents/", {"title": "z", "affected_cis": [CIFactory().pk]}).status_code
        == 400
    )
    assert post(desk["employee"], "/api/v1/incidents/", {"title": "z", "caller": desk["agent"].pk}).status_code == 403
    take(desk["agent"], pk, "cancel", {"cancel_reason": "mistake", "reason": "test"})
    before = (Incident.objects.count(), IncidentNote.objects.count())
    assert (
        post(desk["employee"], f"/api/v1/incidents/{pk}/notes/", {"kind": "comment", "body": "hello?"}).status_code
        == 400
    )
    assert (Incident.objects.count(), IncidentNote.objects.count()) == before


def test_functional_and_hierarchical_escalation(desk, mailoutbox, commits):
    pk = post(
        desk["agent"],
        "/api/v1/incidents/",
        {"title": "BGP flapping", "assignment_group": desk["group"].pk, "assignee": desk["agent"].pk},
    ).json()["id"]
    moved = api_as(desk["agent"]).patch(
        f"/api/v1/incidents/{pk}/", {"assignment_group": desk["other_group"].pk, "assignee": None}, format="json"
    )
    assert moved.status_code == 400 and "reason" in moved.json()
    moved = api_as(desk["agent"]).patch(
        f"/api/v1/incidents/{pk}/",
        {"assignment_group": desk["other_group"].pk, "assignee": None, "reason": "Network fault"},
        format="json",
    )
    assert moved.status_code == 200
    history = api_as(desk["agent"]).get(f"/api/v1/incidents/{pk}/history/").json()["results"]
    assert any("assignment_group_id" in h["changes"] for h in history)
    Incident.objects.filter(pk=pk).update(assignment_group=desk["group"])
    escalated = post(desk["agent"], f"/api/v1/incidents/{pk}/escalate/", {"reason": "P1 for 2 hours"})
    assert escalated.status_code == 201, escalated.json()
    sent = [(m.subject, m.to) for m in mailoutbox]
    assert any("lead@example.test" in to for _, to in sent), sent


def test_bulk_actions_are_all_or_nothing(desk):
    a, b = (post(desk["agent"], "/api/v1/incidents/", {"title": t}).json()["id"] for t in ("a", "b"))
    closed = IncidentFactory(caller=desk["employee"]).pk
    take(desk["agent"], closed, "cancel", {"cancel_reason": "mistake", "reason": "x"})
    response = post(
        desk["agent"],
        "/api/v1/incidents/bulk/",
        {
            "incidents": [a, b, closed],
            "action": "assign",
            "assignment_group": desk["group"].pk,
            "assignee": desk["agent"].pk,
        },
    )
    assert response.status_code in (400, 409)
    assert set(Incident.objects.filter(pk__in=[a, b]).values_list("status", flat=True)) == {"new"}
    assert Incident.objects.filter(pk__in=[a, b], assignee__isnull=False).count() == 0
    ok = post(
        desk["agent"],
        "/api/v1/incidents/bulk/",
        {"incidents": [a, b], "action": "set_priority", "impact": 1, "urgency": 1},
    )
    assert ok.status_code == 200 and {i["priority"] for i in ok.json()} == {1}
    master = IncidentFactory(caller=desk["employee"])
    dup = post(
        desk["agent"],
        "/api/v1/incidents/bulk/",
        {"incidents": [a, b], "action": "resolve_duplicate", "duplicate_of": master.pk},
    )
    assert dup.status_code == 200 and set(Incident.objects.filter(pk__in=[a, b]).values_list("status", flat=True)) == {
        "cancelled"
    }
    assert (
        post(
            desk["employee"],
            "/api/v1/incidents/bulk/",
            {"incidents": [master.pk], "action": "set_priority", "impact": 1, "urgency": 1},
        ).status_code
        == 403
    )


def test_a_major_incident_resolves_its_children_and_records_the_outage(desk, mailoutbox, commits):
    parent = post(
        desk["agent"],
        "/api/v1/incidents/",
        {"title": "Mail down", "assignment_group": desk["group"].pk, "assignee": desk["agent"].pk},
    ).json()["id"]
    child = post(desk["employee"], "/api/v1/incidents/", {"title": "No mail"}).json()["id"]
    assert (
        post(
            desk["agent"], f"/api/v1/incidents/{parent}/declare-major/", {"major_incident_manager": desk["lead"].pk}
        ).status_code
        == 403
    )
    declared = post(
        desk["lead"], f"/api/v1/incidents/{parent}/declare-major/", {"major_incident_manager": desk["lead"].pk}
    )
    assert declared.status_code == 200 and declared.json()["is_major"] and declared.json()["outage_start"]
    services.incident_link_child(
        actor=desk["agent"], parent=Incident.objects.get(pk=parent), child=Incident.objects.get(pk=child)
    )
    update = post(
        desk["lead"],
        f"/api/v1/incidents/{parent}/communications/",
        {"body": "Mail flow stopped; next update 10:30.", "recipients": ["cio@example.test"]},
    )
    assert update.status_code == 201
    assert any("cio@example.test" in m.to for m in mailoutbox)
    assert (
        post(
            desk["lead"], f"/api/v1/incidents/{parent}/communications/", {"body": "x", "recipients": ["not-an-address"]}
        ).status_code
        == 400
    )
    # A child resolves with its parent, not on its own.
    take(
        desk["agent"],
        parent,
        "resolve",
        {"resolution_code": "fixed", "resolution_notes": "Hub transport queue cleared."},
    )
    parent_obj, child_obj = Incident.objects.get(pk=parent), Incident.objects.get(pk=child)
    assert parent_obj.outage_end is not None
    assert child_obj.status == IncidentStatus.RESOLVED and "major incident" in child_obj.resolution_notes


def test_problem_lifecycle_is_resolved_by_the_fixing_change_closing(desk):
    from mof import review_gate
    from mof.choices import ReviewKind
    from tests.changes.factories import ChangeFactory

    incidents = [IncidentFactory(caller=desk["employee"], service=desk["mail"]).pk for _ in range(2)]
    created = post(
        desk["agent"],
        "/api/v1/problems/",
        {"title": "Outlook prompts for password", "incidents": incidents, "services": [desk["mail"].pk]},
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert sorted(created.json()["incidents"]) == sorted(incidents)
    assert post(desk["agent"], f"/api/v1/problems/{pk}/transitions/investigate/").json()["status"] == "investigating"
    assert post(desk["agent"], f"/api/v1/problems/{pk}/transitions/publish_known_error/").status_code == 400
    api_as(desk["agent"]).patch(
        f"/api/v1/problems/{pk}/",
        {"root_cause": "Expired Autodiscover certificate", "workaround": "Use OWA"},
        format="json",
    )
    assert (
        post(desk["agent"], f"/api/v1/problems/{pk}/transitions/publish_known_error/").json()["status"] == "known_error"
    )
    suggestions = (
        api_as(desk["agent"])
        .get(f"/api/v1/known-errors/?q=outlook password&service={desk['mail'].pk}")
        .json()["results"]
    )
    assert [k["workaround"] for k in suggestions] == ["Use OWA"]
    assert post(desk["agent"], f"/api/v1/problems/{pk}/transitions/start_fix/").status_code == 400  # needs an RFC
    change = ChangeFactory(requester=desk["agent"])
    api_as(desk["agent"]).patch(f"/api/v1/problems/{pk}/", {"fixing_changes": [change.pk]}, format="json")
    assert post(desk["agent"], f"/api/v1/problems/{pk}/transitions/start_fix/").json()["status"] == "fix_in_progress"
    assert post(desk["agent"], f"/api/v1/problems/{pk}/transitions/resolve/").status_code == 400  # not by hand
    # Walk the change to implemented, then close it at the Operations Review.
    from changes.models import RequestForChange

    RequestForChange.objects.filter(pk=change.pk).update(status=ChangeStatus.IMPLEMENTED)
    review_gate.record_decision(
        kind=ReviewKind.OPERATIONS,
        subject=RequestForChange.objects.get(pk=change.pk),
        decision="accept",
        actor=desk["lead"],
        fire="close",
    )
    assert Problem.objects.get(pk=pk).status == ProblemStatus.RESOLVED
    assert post(desk["agent"], f"/api/v1/problems/{pk}/transitions/close/").json()["status"] == "closed"
    assert KnownError.objects.get(problem_id=pk).active is False


def test_proactive_problem_management_proposes_once_per_cluster(desk, settings):
    settings.MOF_PROBLEM_CLUSTER_COUNT = 3
    router = CIFactory(name="edge-router")
    for _ in range(3):
        IncidentFactory(caller=desk["employee"]).affected_cis.set([router])
    IncidentFactory(caller=desk["employee"])
    first = services.propose_problems()
    assert [(p.scope, p.ci_id, p.incident_count) for p in first] == [("ci", router.pk, 3)]
    assert services.propose_problems() == []  # the database keeps one open proposal per cluster
    proposal = ProblemProposal.objects.get()
    assert post(desk["employee"], f"/api/v1/problem-proposals/{proposal.pk}/accept/").status_code in (403, 404)
    accepted = post(desk["agent"], f"/api/v1/problem-proposals/{proposal.pk}/accept/")
    assert accepted.status_code == 201 and len(accepted.json()["incidents"]) == 3
    assert post(desk["agent"], f"/api/v1/problem-proposals/{proposal.pk}/accept/").status_code == 400


def _major(desk):
    parent = IncidentFactory(caller=desk["employee"], assignment_group=desk["group"], assignee=desk["agent"])
    services.incident_declare_major(actor=desk["lead"], incident=parent, major_incident_manager=desk["lead"])
    return parent


def test_patching_parent_links_a_child_as_the_incident_page_does(desk):
    parent, child = _major(desk), IncidentFactory(caller=desk["employee"])
    linked = api_as(desk["agent"]).patch(f"/api/v1/incidents/{child.pk}/", {"parent": parent.pk}, format="json")
    assert linked.status_code == 200 and linked.json()["parent"] == parent.pk, linked.json()
    child.refresh_from_db()
    assert child.parent_id == parent.pk
    assert AuditEntry.objects.filter(
        model_label="incidents.incident", object_id=str(child.pk), action="update", changes__parent_id=[None, parent.pk]
    ).exists()
    # Sending back what was read is not a change.
    assert (
        api_as(desk["agent"])
        .patch(f"/api/v1/incidents/{child.pk}/", {"parent": parent.pk, "title": "Renamed"}, format="json")
        .status_code
        == 200
    )


def test_patching_parent_keeps_the_pages_rules(desk):
    not_major, child = IncidentFactory(caller=desk["employee"]), IncidentFactory(caller=desk["employee"])
    refused = api_as(desk["agent"]).patch(
        f"/api/v1/incidents/{child.pk}/", {"parent": not_major.pk, "title": "Changed too"}, format="json"
    )
    assert refused.status_code == 400 and "major" in refused.json()["parent"][0]
    child.refresh_from_db()
    assert child.parent_id is None and child.title != "Changed too"  # nothing half-written
    parent = _major(desk)
    assert (
        api_as(desk["agent"]).patch(f"/api/v1/incidents/{parent.pk}/", {"parent": parent.pk}, format="json").status_code
        == 400
    )
    services.incident_link_child(actor=desk["agent"], parent=parent, child=child)
    unlink = api_as(desk["agent"]).patch(f"/api/v1/incidents/{child.pk}/", {"parent": None}, format="json")
    assert unlink.status_code == 400 and Incident.objects.get(pk=child.pk).parent_id == parent.pk


def test_filing_with_a_parent_or_an_unknown_field_is_refused_not_ignored(desk):
    parent = _major(desk)
    for body in (
        {"title": "x", "parent": parent.pk},
        {"title": "x", "colour": "red"},
        {"title": "x", "status": "resolved"},
    ):
        response = post(desk["agent"], "/api/v1/incidents/", body)
        assert response.status_code == 400 and set(body) - {"title"} <= set(response.json()), (body, response.json())
    assert not Incident.objects.filter(title="x").exists()
    assert post(desk["agent"], "/api/v1/incidents/", {"title": "x", "parent": None}).status_code == 201


def test_patching_a_read_only_field_is_refused_unless_unchanged(desk):
    incident = IncidentFactory(caller=desk["employee"])
    read = api_as(desk["agent"]).get(f"/api/v1/incidents/{incident.pk}/").json()
    changed = api_as(desk["agent"]).patch(
        f"/api/v1/incidents/{incident.pk}/", {"status": "resolved", "priority": 1, "bogus": 1}, format="json"
    )
    assert changed.status_code == 400
    assert changed.json()["status"] == ["This field is read-only."] and changed.json()["bogus"][0].startswith(
        "Unknown field."
    )
    same = api_as(desk["agent"]).patch(
        f"/api/v1/incidents/{incident.pk}/",
        {k: read[k] for k in ("id", "number", "reference", "status", "created_at")} | {"title": "New title"},
        format="json",
    )
    assert same.status_code == 200 and same.json()["title"] == "New title", same.json()
    caller = api_as(desk["agent"]).patch(
        f"/api/v1/incidents/{incident.pk}/", {"caller": desk["agent"].pk}, format="json"
    )
    assert caller.status_code == 400 and "caller" in caller.json()


def test_a_reassignments_reason_is_in_its_audit_entry(desk):
    incident = IncidentFactory(caller=desk["employee"], assignment_group=desk["group"])
    moved = api_as(desk["agent"]).patch(
        f"/api/v1/incidents/{incident.pk}/",
        {"assignment_group": desk["other_group"].pk, "reason": "Router fault, not mail"},
        format="json",
    )
    assert moved.status_code == 200, moved.json()
    entry = AuditEntry.objects.filter(
        model_label="incidents.incident", object_id=str(incident.pk), action="update"
    ).latest("id")
    assert "assignment_group_id" in entry.changes and entry.reason == "Router fault, not mail"


def test_a_bulk_actions_reason_is_in_each_audit_entry(desk):
    a, b = IncidentFactory(caller=desk["employee"]), IncidentFactory(caller=desk["employee"])
    done = post(
        desk["agent"],
        "/api/v1/incidents/bulk/",
        {"incidents": [a.pk, b.pk], "action": "set_priority", "impact": 1, "urgency": 1, "reason": "Whole site down"},
    )
    assert done.status_code == 200, done.json()
    for incident in (a, b):
        entry = AuditEntry.objects.filter(
            model_label="incidents.incident", object_id=str(incident.pk), action="update"
        ).latest("id")
        assert entry.changes["priority"][1] == 1 and entry.reason == "Whole site down"
    group = post(
        desk["agent"],
        "/api/v1/incidents/bulk/",
        {
            "incidents": [a.pk, b.pk],
            "action": "assign",
            "assignment_group": desk["group"].pk,
            "assignee": desk["agent"].pk,
            "reason": "Mail team takes them",
        },
    )
    assert group.status_code == 200, group.json()
    entry = AuditEntry.objects.filter(
        model_label="incidents.incident", object_id=str(a.pk), action="update", changes__has_key="assignment_group_id"
    ).latest("id")
    assert entry.reason == "Mail team takes them"
    master = IncidentFactory(caller=desk["employee"])
    post(
        desk["agent"],
        "/api/v1/incidents/bulk/",
        {"incidents": [a.pk], "action": "resolve_duplicate", "duplicate_of": master.pk, "reason": "Same outage"},
    )
    cancel = AuditEntry.objects.filter(
        model_label="incidents.incident", object_id=str(a.pk), action="transition"
    ).latest("id")
    assert cancel.reason == f"Duplicate of {master.reference}: Same outage"
