"""Separation of duties and bad input through the API: 400 with the reason, nothing written."""

import pytest

from changes.choices import ChangeStatus, ReleaseStatus
from changes.models import Release, RequestForChange
from mof import review_gate
from mof.choices import ReviewKind
from mof.models import AuditEntry, SeparationRule
from tests.changes.factories import PLANS, TemplateFactory, window
from tests.changes.test_lifecycle_api import cast, decide, file_change, post, take  # noqa: F401
from tests.conftest import api_as
from tests.factories import ManagerFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def to_state(cast, cid, state):
    """Walk a normal change to `state` with the right people."""
    take(cast["requester"], cid, "submit")
    if state == "submitted":
        return
    post(cast["change_manager"], f"/api/v1/changes/{cid}/assess/", {"probability": 3, "impact": 3})
    if state == "assessed":
        return
    decide(ReviewKind.RELEASE_APPROVED, cid, "approve", cast["chair"], "approve")
    start, end = window(days=6)
    take(cast["implementer"], cid, "schedule", {"planned_start": start.isoformat(), "planned_end": end.isoformat()})
    take(cast["developer"], cid, "start_development")
    take(cast["developer"], cid, "hand_over_to_test")
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.IN_TEST


def refusals():
    return list(AuditEntry.objects.filter(action="refused").values_list("reason", flat=True))


def test_naming_the_developer_as_tester_is_refused_with_the_rule(cast):
    cid = file_change(cast)["id"]
    response = api_as(cast["requester"]).patch(
        f"/api/v1/changes/{cid}/", {"tester": cast["developer"].pk}, format="json"
    )
    assert response.status_code == 400
    assert "tester-is-not-developer" in str(response.json())
    assert RequestForChange.objects.get(pk=cid).tester == cast["tester"]
    assert any("[tester-is-not-developer]" in r for r in refusals())


def test_the_tester_is_not_on_the_developers_team(cast):
    colleague = UserFactory(username="dev2", roles=["infrastructure"])
    TeamFactory(name="Network team", members=[cast["developer"], colleague])
    cid = file_change(cast)["id"]
    response = api_as(cast["requester"]).patch(f"/api/v1/changes/{cid}/", {"tester": colleague.pk}, format="json")
    assert response.status_code == 400 and "team" in str(response.json())


def test_the_developer_cannot_pass_their_own_tests(cast):
    cid = file_change(cast)["id"]
    to_state(cast, cid, "in_test")
    api_as(cast["tester"]).patch(
        f"/api/v1/changes/{cid}/", {"test_results": "ok", "test_environment": [cast["lab"].pk]}, format="json"
    )
    # The developer gets the test duty's permission by being change manager too: the rule still refuses.
    RequestForChange.objects.filter(pk=cid).update(change_manager=cast["developer"])
    response = take(cast["developer"], cid, "pass_tests")
    assert response.status_code == 400
    assert response.json()["rules"] == ["tester-is-not-developer"]
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.IN_TEST
    assert any("[tester-is-not-developer]" in r for r in refusals())


def test_whoever_approves_is_not_the_requester(cast):
    boss = ManagerFactory(username="boss-requester")
    cid = file_change({**cast, "requester": boss})["id"]
    to_state({**cast, "requester": boss}, cid, "assessed")
    with pytest.raises(Exception):
        decide(ReviewKind.RELEASE_APPROVED, cid, "approve", boss, "approve")
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.ASSESSED
    assert review_gate.latest_decision(ReviewKind.RELEASE_APPROVED, RequestForChange.objects.get(pk=cid)) is None
    assert any("[approver-is-not-requester]" in r for r in refusals())


def test_a_low_risk_requester_who_is_change_manager_cannot_approve_alone(cast):
    cid = file_change(cast, change_manager=cast["requester"].pk)["id"]
    take(cast["requester"], cid, "submit")
    assert (
        post(cast["chair"], f"/api/v1/changes/{cid}/assess/", {"probability": 1, "impact": 1}).json()["approval_path"]
        == "change_manager"
    )
    response = take(cast["requester"], cid, "approve", {"reason": "mine"})
    assert response.status_code == 400 and response.json()["rules"] == ["approver-is-not-requester"]


def test_a_configured_rule_the_implementer_is_not_the_approver(cast):
    SeparationRule.objects.create(
        name="implementer-is-not-approver",
        description="The implementer of a change did not approve it",
        model_label="changes.requestforchange",
        transitions="start_implementation,implement_now",
        party="approved_by",
    )
    cid = file_change(cast, type="emergency", implementer=cast["chair"].pk)["id"]
    take(cast["requester"], cid, "submit")
    post(cast["change_manager"], f"/api/v1/changes/{cid}/assess/", {"probability": 2, "impact": 2})
    decide(ReviewKind.RELEASE_APPROVED, cid, "approve", cast["chair"], "approve", emergency=True)
    start, end = window(days=1)
    take(cast["chair"], cid, "schedule", {"planned_start": start.isoformat(), "planned_end": end.isoformat()})
    response = take(cast["chair"], cid, "implement_now")
    assert response.status_code == 400 and response.json()["rules"] == ["implementer-is-not-approver"]


def test_approval_is_impossible_without_a_review_decision(cast):
    cid = file_change(cast)["id"]
    to_state(cast, cid, "assessed")
    response = take(cast["chair"], cid, "approve", {"reason": "just do it"})
    assert response.status_code == 400
    # Status is read-only on the resource.
    api_as(cast["chair"]).patch(f"/api/v1/changes/{cid}/", {"status": "approved"}, format="json")
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.ASSESSED


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"planned_start": "2026-12-02T10:00:00Z", "planned_end": "2026-12-02T09:00:00Z"}, "planned_end"),
        ({"affected_cis": [987654]}, "affected_cis"),
        ({"type": "sometimes"}, "type"),
        ({"planned_start": "next tuesday"}, "planned_start"),
        ({"cost_estimate": "lots"}, "cost_estimate"),
        ({"type": "standard"}, "template"),
        ({"title": ""}, "title"),
    ],
)
def test_bad_change_input_is_refused_and_writes_nothing(cast, payload, field):
    before = (RequestForChange.objects.count(), AuditEntry.objects.count())
    response = post(cast["requester"], "/api/v1/changes/", {"title": "x", **PLANS, **payload})
    assert response.status_code == 400 and field in response.json(), response.json()
    assert (RequestForChange.objects.count(), AuditEntry.objects.count()) == before


def test_a_template_cannot_file_another_type(cast):
    template = TemplateFactory(status="approved")
    response = post(cast["requester"], "/api/v1/changes/", {"template": template.pk, "type": "normal"})
    assert response.status_code == 400 and "template" in response.json()
    unapproved = TemplateFactory()
    response = post(cast["requester"], "/api/v1/changes/", {"template": unapproved.pk})
    assert response.status_code == 400 and "template" in response.json()


def test_unknown_transition_and_invisible_change(cast):
    cid = file_change(cast)["id"]
    assert take(cast["requester"], cid, "teleport").status_code == 404
    outsider = UserFactory(username="outsider")  # no role: sees only changes they are party to
    assert api_as(outsider).get(f"/api/v1/changes/{cid}/").status_code == 404
    assert take(outsider, cid, "cancel", {"reason": "x"}).status_code == 404
    assert api_as(outsider).get("/api/v1/changes/").json()["results"] == []


def test_schedule_end_before_start_is_a_field_error(cast):
    cid = file_change(cast)["id"]
    to_state(cast, cid, "assessed")
    decide(ReviewKind.RELEASE_APPROVED, cid, "approve", cast["chair"], "approve")
    start, end = window()
    response = take(
        cast["implementer"], cid, "schedule", {"planned_start": end.isoformat(), "planned_end": start.isoformat()}
    )
    assert response.status_code == 400 and "planned_end" in response.json()
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.APPROVED


def test_comments_mark_stakeholders_as_responded(cast):
    cid = file_change(cast)["id"]
    to_state(cast, cid, "assessed")
    owner = cast["mail_owner"]
    assert (
        post(owner, f"/api/v1/changes/{cid}/comments/", {"body": "Please avoid Monday morning: mail peak."}).status_code
        == 201
    )
    [stakeholder] = api_as(cast["requester"]).get(f"/api/v1/changes/{cid}/stakeholders/").json()
    assert stakeholder["username"] == "exchange-team" and stakeholder["responded_at"]
    assert post(owner, f"/api/v1/changes/{cid}/comments/", {"body": "  "}).status_code == 400


def test_a_release_moves_its_changes_on_together(cast):
    cid = file_change(cast)["id"]
    to_state(cast, cid, "in_test")
    api_as(cast["tester"]).patch(
        f"/api/v1/changes/{cid}/", {"test_results": "ok", "test_environment": [cast["lab"].pk]}, format="json"
    )
    take(cast["tester"], cid, "pass_tests")
    manager = cast["chair"]
    created = post(manager, "/api/v1/releases/", {"name": "Router firmware wave 1", "changes": [cid]})
    assert created.status_code == 201, created.json()
    rid = created.json()["id"]
    assert post(manager, f"/api/v1/releases/{rid}/transitions/mark_built/").status_code == 400  # no artifacts yet
    artifact = {
        "name": "ios-xe",
        "version": "17.9.4",
        "checksum": "sha256:ab12",
        "location": "dsl://network/ios-xe/17.9.4",
    }
    assert post(manager, f"/api/v1/releases/{rid}/artifacts/", artifact).status_code == 201
    assert post(manager, f"/api/v1/releases/{rid}/artifacts/", artifact).status_code == 400  # same version twice
    assert post(manager, f"/api/v1/releases/{rid}/transitions/mark_built/").json()["status"] == "built"
    assert post(manager, f"/api/v1/releases/{rid}/transitions/mark_tested/").json()["status"] == "tested"
    release = Release.objects.get(pk=rid)
    other = ManagerFactory(username="cab-chair-2")
    review_gate.record_decision(
        kind=ReviewKind.RELEASE_READINESS, subject=release, decision="go", actor=other, fire="mark_ready"
    )
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.READY
    assert post(manager, f"/api/v1/releases/{rid}/transitions/deploy/").json()["status"] == "deployed"
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.IMPLEMENTED
    review_gate.record_decision(
        kind=ReviewKind.OPERATIONS, subject=Release.objects.get(pk=rid), decision="accept", actor=other, fire="close"
    )
    assert Release.objects.get(pk=rid).status == ReleaseStatus.CLOSED
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.CLOSED


def test_changes_of_a_release_roll_back_together(cast):
    """If one change cannot move, the release does not move either."""
    cid = file_change(cast)["id"]
    to_state(cast, cid, "in_test")
    api_as(cast["tester"]).patch(
        f"/api/v1/changes/{cid}/", {"test_results": "ok", "test_environment": [cast["lab"].pk]}, format="json"
    )
    take(cast["tester"], cid, "pass_tests")
    release = post(cast["chair"], "/api/v1/releases/", {"name": "wave", "changes": [cid]}).json()
    post(
        cast["chair"],
        f"/api/v1/releases/{release['id']}/artifacts/",
        {"name": "a", "version": "1", "checksum": "c", "location": "l"},
    )
    post(cast["chair"], f"/api/v1/releases/{release['id']}/transitions/mark_built/")
    post(cast["chair"], f"/api/v1/releases/{release['id']}/transitions/mark_tested/")
    # The chair requested nothing, but here the change's requester chairs: the change's go is refused.
    RequestForChange.objects.filter(pk=cid).update(requester=cast["chair"])
    SeparationRule.objects.create(
        name="readiness-not-by-requester",
        description="The requester does not declare their own change ready",
        model_label="changes.requestforchange",
        transitions="mark_ready",
        party="requester",
    )
    with pytest.raises(Exception):
        review_gate.record_decision(
            kind=ReviewKind.RELEASE_READINESS,
            subject=Release.objects.get(pk=release["id"]),
            decision="go",
            actor=cast["chair"],
            fire="mark_ready",
        )
    assert Release.objects.get(pk=release["id"]).status == ReleaseStatus.TESTED
    assert RequestForChange.objects.get(pk=cid).status == ChangeStatus.TESTED


def test_duplicate_template_name_is_a_field_error(cast):
    TemplateFactory(name="Restart IIS")
    response = post(
        cast["chair"],
        "/api/v1/change-templates/",
        {"name": "Restart IIS", "implementation_plan": "a", "backout_plan": "b", "test_plan": "c"},
    )
    assert response.status_code == 400 and "name" in response.json()


def test_a_standard_change_keeps_its_templates_plans(cast):
    template = TemplateFactory(status="approved")
    cid = post(cast["requester"], "/api/v1/changes/", {"template": template.pk}).json()["id"]
    response = api_as(cast["requester"]).patch(f"/api/v1/changes/{cid}/", {"backout_plan": "none"}, format="json")
    assert response.status_code == 400 and "implementation_plan" in response.json()
