"""Each change type walked through its whole lifecycle via the API, with the review gates."""

import pytest
from django.conf import settings

from changes.choices import ChangeStatus, TemplateStatus
from changes.models import RequestForChange
from mof import review_gate
from mof.choices import ReviewKind
from mof.models import AuditEntry
from operations.models import FreezeStatus, FreezeWindow
from tests.changes.factories import PLANS, TemplateFactory, window
from tests.conftest import api_as
from tests.core.test_base_url import links
from tests.factories import (
    CIFactory,
    ManagerFactory,
    ServiceFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def cast(db):
    people = {
        "requester": UserFactory(username="req", roles=["release"]),
        "change_manager": UserFactory(username="cm", roles=["release"]),
        "developer": UserFactory(username="dev", roles=["infrastructure"]),
        "tester": UserFactory(username="qa", roles=["release"]),
        "implementer": UserFactory(username="ops", roles=["operations"]),
        "chair": ManagerFactory(username="chair"),
        "mail_owner": UserFactory(username="exchange-team", email="exchange@example.test", roles=["support"]),
    }
    TeamFactory(name="Network", members=[people["developer"]])
    TeamFactory(name="QA", members=[people["tester"]])
    router = CIFactory(name="core-router", status="in_service")
    hub = CIFactory(name="hub-transport", status="in_service")
    from tests.factories import RelationshipFactory

    RelationshipFactory(source=hub, target=router)
    mail = ServiceFactory(name="Exchange mail", criticality="critical", owner=people["mail_owner"])
    hub.services.set([mail])
    lab = CIFactory(name="lab-router", environment="test")
    return {**people, "router": router, "hub": hub, "mail": mail, "lab": lab}


def post(user, url, data=None):
    return api_as(user).post(url, data or {}, format="json")


def take(user, change_id, name, data=None):
    return post(user, f"/api/v1/changes/{change_id}/transitions/{name}/", data)


def decide(kind, change_id, decision, chair, fire, **detail):
    change = RequestForChange.objects.get(pk=change_id)
    review_gate.record_decision(
        kind=kind, subject=change, decision=decision, actor=chair, fire=fire, detail=detail, notes="decided"
    )


def file_change(cast, **extra):
    start, end = window()
    payload = {
        "title": "Router firmware 15.2",
        "type": "normal",
        "affected_cis": [cast["router"].pk],
        "change_manager": cast["change_manager"].pk,
        "developer": cast["developer"].pk,
        "tester": cast["tester"].pk,
        "implementer": cast["implementer"].pk,
        "planned_start": start.isoformat(),
        "planned_end": end.isoformat(),
        "cost_estimate": "1200.00",
        "expected_benefit": "Fixes a BGP memory leak",
        **PLANS,
        **extra,
    }
    response = post(cast["requester"], "/api/v1/changes/", payload)
    assert response.status_code == 201, response.json()
    return response.json()


def test_normal_change_walks_its_whole_lifecycle(cast, mailoutbox, django_capture_on_commit_callbacks):
    body = file_change(cast)
    cid = body["id"]
    assert (
        body["reference"].startswith("CHG-") and body["status"] == "draft" and body["requester"] == cast["requester"].pk
    )

    assert take(cast["requester"], cid, "submit").json()["status"] == "submitted"
    with django_capture_on_commit_callbacks(execute=True):
        assessed = post(cast["change_manager"], f"/api/v1/changes/{cid}/assess/", {"probability": 3, "impact": 4})
    assert assessed.status_code == 200, assessed.json()
    assessed = assessed.json()
    assert assessed["status"] == "assessed" and assessed["risk_level"] == "high" and assessed["approval_path"] == "cab"
    assert [s["path"] for s in assessed["affected_services"]] == [["core-router", "hub-transport", "Exchange mail"]]
    # The Exchange team is told, though nobody named them on the change.
    stakeholders = api_as(cast["requester"]).get(f"/api/v1/changes/{cid}/stakeholders/").json()
    assert [s["username"] for s in stakeholders] == ["exchange-team"]
    assert any("exchange@example.test" in m.to for m in mailoutbox)
    [told] = [m for m in mailoutbox if "may affect you" in m.subject]
    assert links(told.body) and all(
        link.startswith(f"{settings.MOF_BASE_URL}/") for link in links(told.body)
    )  # absolute links

    blocked = take(cast["chair"], cid, "approve", {"reason": "ok"})
    assert blocked.status_code == 400 and "Release Approved Review" in blocked.json()["reasons"][0]
    decide(ReviewKind.RELEASE_APPROVED, cid, "approve", cast["chair"], "approve")
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.APPROVED

    start, end = window(days=5)
    assert (
        take(
            cast["implementer"], cid, "schedule", {"planned_start": start.isoformat(), "planned_end": end.isoformat()}
        ).json()["status"]
        == "scheduled"
    )
    assert take(cast["developer"], cid, "start_development").json()["status"] == "in_development"
    assert take(cast["developer"], cid, "hand_over_to_test").json()["status"] == "in_test"
    no_evidence = take(cast["tester"], cid, "pass_tests")
    assert no_evidence.status_code == 400 and "test results" in no_evidence.json()["reasons"][0]
    evidence = api_as(cast["tester"]).patch(
        f"/api/v1/changes/{cid}/",
        {"test_results": "All green in the lab", "test_environment": [cast["lab"].pk]},
        format="json",
    )
    assert evidence.status_code == 200, evidence.json()
    assert take(cast["tester"], cid, "pass_tests").json()["status"] == "tested"

    assert take(cast["chair"], cid, "mark_ready", {"reason": "go"}).status_code == 400
    decide(ReviewKind.RELEASE_READINESS, cid, "go", cast["chair"], "mark_ready")
    assert take(cast["implementer"], cid, "start_implementation").json()["status"] == "implementing"
    done = take(cast["implementer"], cid, "complete", {"outcome": "successful"})
    assert done.json()["status"] == "implemented" and done.json()["outcome"] == "successful"

    assert take(cast["change_manager"], cid, "close", {"reason": "PIR"}).status_code == 400
    decide(ReviewKind.OPERATIONS, cid, "accept", cast["chair"], "close")
    final = api_as(cast["requester"]).get(f"/api/v1/changes/{cid}/").json()
    assert final["status"] == "closed" and final["actual_start"] and final["actual_end"]
    transitions = list(
        AuditEntry.objects.filter(model_label="changes.requestforchange", object_id=str(cid), action="transition")
        .order_by("id")
        .values_list("transition", flat=True)
    )
    assert transitions == [
        "submit",
        "assess",
        "approve",
        "schedule",
        "start_development",
        "hand_over_to_test",
        "pass_tests",
        "mark_ready",
        "start_implementation",
        "complete",
        "close",
    ]


def test_standard_change_is_pre_approved_and_still_recorded(cast):
    template = TemplateFactory(owner=cast["change_manager"])
    # A template is itself approved at a Release Approved Review.
    assert (
        api_as(cast["chair"])
        .post(f"/api/v1/change-templates/{template.pk}/transitions/approve/", {"reason": "x"}, format="json")
        .status_code
        == 400
    )
    review_gate.record_decision(
        kind=ReviewKind.RELEASE_APPROVED, subject=template, decision="approve", actor=cast["chair"], fire="approve"
    )
    template.refresh_from_db()
    assert template.status == TemplateStatus.APPROVED

    response = post(
        cast["requester"], "/api/v1/changes/", {"template": template.pk, "implementer": cast["implementer"].pk}
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["type"] == "standard" and body["title"] == template.name and body["implementation_plan"] == "iisreset"
    cid = body["id"]
    submitted = take(cast["requester"], cid, "submit").json()
    assert submitted["status"] == "approved" and submitted["approval_path"] == "pre_approved"
    start, end = window()
    assert (
        take(
            cast["implementer"], cid, "schedule", {"planned_start": start.isoformat(), "planned_end": end.isoformat()}
        ).json()["status"]
        == "scheduled"
    )
    assert take(cast["chair"], cid, "start_development").status_code == 400  # standard changes skip build and test
    assert take(cast["implementer"], cid, "implement_now").json()["status"] == "implementing"
    assert take(cast["implementer"], cid, "complete", {"outcome": "successful"}).json()["status"] == "implemented"
    assert take(cast["chair"], cid, "close", {"reason": "done"}).json()["status"] == "closed"
    transitions = list(
        AuditEntry.objects.filter(model_label="changes.requestforchange", object_id=str(cid), action="transition")
        .order_by("id")
        .values_list("transition", flat=True)
    )
    assert transitions == ["submit", "pre_approve", "schedule", "implement_now", "complete", "close"]


def test_emergency_change_needs_the_emergency_cab_may_enter_a_freeze_and_is_reviewed(cast):
    start, end = window(days=1)
    freeze = FreezeWindow.objects.create(name="Quarter end", start=start, end=end, proposed_by=cast["chair"])
    FreezeWindow.objects.filter(pk=freeze.pk).update(status=FreezeStatus.APPROVED)
    cid = file_change(cast, type="emergency", planned_start=start.isoformat(), planned_end=end.isoformat())["id"]
    take(cast["requester"], cid, "submit")
    assessed = post(cast["change_manager"], f"/api/v1/changes/{cid}/assess/", {"probability": 1, "impact": 1}).json()
    assert assessed["approval_path"] == "emergency_cab"
    # An ordinary CAB decision does not approve an emergency change.
    with pytest.raises(Exception):
        decide(ReviewKind.RELEASE_APPROVED, cid, "approve", cast["chair"], "approve")
    decide(ReviewKind.RELEASE_APPROVED, cid, "approve", cast["chair"], "approve", emergency=True)
    scheduled = take(
        cast["implementer"], cid, "schedule", {"planned_start": start.isoformat(), "planned_end": end.isoformat()}
    ).json()
    assert scheduled["status"] == "scheduled" and "Quarter end" in scheduled["freeze_warning"]
    take(cast["implementer"], cid, "implement_now")
    assert take(cast["implementer"], cid, "back_out", {"reason": "mail flow stopped"}).json()["outcome"] == "failed"
    assert take(cast["change_manager"], cid, "close", {"reason": "x"}).status_code == 400  # must pass the PIR
    decide(ReviewKind.OPERATIONS, cid, "accept", cast["chair"], "close")
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.CLOSED


def test_a_freeze_window_blocks_scheduling_a_normal_change(cast):
    start, end = window(days=2)
    freeze = FreezeWindow.objects.create(name="Quarter end", start=start, end=end, proposed_by=cast["chair"])
    FreezeWindow.objects.filter(pk=freeze.pk).update(status=FreezeStatus.APPROVED)
    cid = file_change(cast)["id"]
    take(cast["requester"], cid, "submit")
    post(cast["change_manager"], f"/api/v1/changes/{cid}/assess/", {"probability": 2, "impact": 3})
    decide(ReviewKind.RELEASE_APPROVED, cid, "approve", cast["chair"], "approve")
    refused = take(
        cast["implementer"], cid, "schedule", {"planned_start": start.isoformat(), "planned_end": end.isoformat()}
    )
    assert refused.status_code == 400 and "freeze" in refused.json()["reasons"][0]
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.APPROVED


def test_low_risk_change_may_be_approved_by_the_change_manager_alone(cast):
    cid = file_change(cast)["id"]
    take(cast["requester"], cid, "submit")
    assessed = post(cast["change_manager"], f"/api/v1/changes/{cid}/assess/", {"probability": 1, "impact": 2}).json()
    assert assessed["approval_path"] == "change_manager"
    assert take(cast["developer"], cid, "approve", {"reason": "x"}).status_code == 403
    approved = take(cast["change_manager"], cid, "approve", {"reason": "routine"})
    assert approved.status_code == 200 and approved.json()["approved_by"] == cast["change_manager"].pk


def test_critical_change_needs_a_quorum_of_managers(cast, settings):
    settings.MOF_CAB_QUORUM_MANAGERS = 3
    cid = file_change(cast)["id"]
    take(cast["requester"], cid, "submit")
    assert (
        post(cast["change_manager"], f"/api/v1/changes/{cid}/assess/", {"probability": 5, "impact": 5}).json()[
            "approval_path"
        ]
        == "cab_quorum"
    )
    with pytest.raises(Exception):
        decide(ReviewKind.RELEASE_APPROVED, cid, "approve", cast["chair"], "approve", managers_voting=2)
    decide(ReviewKind.RELEASE_APPROVED, cid, "approve", cast["chair"], "approve", managers_voting=3)
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.APPROVED


def test_rejection_and_cancellation(cast):
    cid = file_change(cast)["id"]
    take(cast["requester"], cid, "submit")
    post(cast["change_manager"], f"/api/v1/changes/{cid}/assess/", {"probability": 3, "impact": 3})
    decide(ReviewKind.RELEASE_APPROVED, cid, "reject", cast["chair"], "reject")
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.REJECTED
    other = file_change(cast, title="another")["id"]
    assert take(cast["requester"], other, "cancel").status_code == 400  # needs a reason
    assert take(cast["requester"], other, "cancel", {"reason": "superseded"}).json()["status"] == "cancelled"
    assert take(cast["requester"], other, "submit").status_code == 409


def test_a_standard_change_submitted_straight_through_the_door_is_pre_approved_too(cast):
    """The pre-approval is the door's cascade, not a wrapper a caller could skip."""
    from mof.transitions import perform_transition

    template = TemplateFactory(owner=cast["change_manager"])
    review_gate.record_decision(
        kind=ReviewKind.RELEASE_APPROVED, subject=template, decision="approve", actor=cast["chair"], fire="approve"
    )
    cid = post(
        cast["requester"], "/api/v1/changes/", {"template": template.pk, "implementer": cast["implementer"].pk}
    ).json()["id"]
    change = perform_transition(model=RequestForChange, pk=cid, name="submit", actor=cast["requester"])
    assert change.status == ChangeStatus.APPROVED and change.approval_path == "pre_approved"
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.APPROVED
