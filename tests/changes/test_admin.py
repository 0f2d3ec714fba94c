"""The Changing admin passes the same doors: state read-only, writes through the services,
transitions only through change_transition, so nothing approves a change without its decision."""

import pytest

from changes import services
from changes.choices import ApprovalPath, ChangeStatus, TemplateStatus
from changes.models import ChangeComment, Release, ReleaseArtifact, RequestForChange, StandardChangeTemplate
from mof import review_gate
from mof.choices import ReviewKind
from mof.models import AuditEntry
from tests.changes.factories import PLANS, TemplateFactory
from tests.factories import CIFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

RFC_URL = "/admin/changes/requestforchange/"


@pytest.fixture
def boss(db):
    return UserFactory(username="boss", is_manager=True, is_staff=True)


@pytest.fixture
def requester(db):
    return UserFactory(username="req", roles=["release"], is_staff=True)


@pytest.fixture
def change(requester, boss):
    change = services.change_create(
        actor=requester, title="Router firmware 15.2", type="normal", change_manager=boss, **PLANS
    )
    return change


def assessed(change, path=ApprovalPath.CAB):
    RequestForChange.objects.filter(pk=change.pk).update(status=ChangeStatus.ASSESSED, approval_path=path)
    return RequestForChange.objects.get(pk=change.pk)


def draft_post(change, **extra):
    data = {name: "" for name in services.CHANGE_FIELDS if name != "type"}
    data.update(
        title=change.title, change_manager=change.change_manager_id or "", affected_cis="", test_environment="", **PLANS
    )
    data.update(extra)
    return data


def test_state_and_snapshot_are_read_only(client, boss, change):
    client.force_login(boss)
    page = client.get(f"{RFC_URL}{change.pk}/change/")
    assert page.status_code == 200
    content = page.content.decode()
    for name in ("status", "approval_path", "approved_by", "affected_services", "risk_assessment", "requester", "type"):
        assert f'name="{name}"' not in content, name
    assert 'name="title"' in content
    assert client.get(f"{RFC_URL}add/").status_code == 403


def test_an_admin_post_that_sets_status_does_nothing_to_the_status(client, boss, change):
    client.force_login(boss)
    response = client.post(
        f"{RFC_URL}{change.pk}/change/",
        draft_post(
            change,
            title="Router firmware 15.3",
            status="approved",
            approval_path="pre_approved",
            approved_by=boss.pk,
            approved_at="2026-01-01 10:00",
            decision_reason="forged",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    change.refresh_from_db()
    assert change.title == "Router firmware 15.3"  # an editable field, saved through change_update
    assert (
        change.status == ChangeStatus.DRAFT
        and change.approval_path == ""
        and change.approved_by is None
        and change.decision_reason == ""
    )
    entry = AuditEntry.objects.filter(
        model_label="changes.requestforchange", object_id=str(change.pk), action="update"
    ).latest("id")
    assert entry.via == "admin" and entry.actor_name == "boss" and set(entry.changes) == {"title"}


def test_admin_approve_action_is_blocked_by_the_gate(client, boss, change):
    change = assessed(change)
    client.force_login(boss)
    response = client.post(RFC_URL, {"action": "approve_selected", "_selected_action": [change.pk]}, follow=True)
    assert response.status_code == 200
    assert "Awaiting an &#x27;approve&#x27; decision of the Release Approved Review" in response.content.decode()
    change.refresh_from_db()
    assert change.status == ChangeStatus.ASSESSED and change.approved_by is None
    assert not AuditEntry.objects.filter(transition="approve", action="transition").exists()


def test_admin_approve_action_passes_only_after_the_review_decided(client, boss, change):
    change = assessed(change)
    review_gate.record_decision(
        kind=ReviewKind.RELEASE_APPROVED, subject=change, decision="approve", actor=boss, notes="CAB 12"
    )
    client.force_login(boss)
    client.post(RFC_URL, {"action": "approve_selected", "_selected_action": [change.pk]}, follow=True)
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED and change.approved_by == boss
    assert AuditEntry.objects.get(transition="approve", action="transition").via == "admin"


def test_admin_approve_action_keeps_separation_of_duties(client, requester, change):
    requester.is_manager = True
    requester.save()
    change = assessed(change, ApprovalPath.CHANGE_MANAGER)
    client.force_login(requester)
    response = client.post(RFC_URL, {"action": "approve_selected", "_selected_action": [change.pk]}, follow=True)
    assert "Whoever approves a change is not its requester" in response.content.decode()
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED
    assert AuditEntry.objects.filter(
        action="refused", reason__contains="[approver-is-not-requester]", via="admin"
    ).exists()


def test_admin_approve_action_refused_without_the_permission(client, requester, change):
    change = assessed(change)
    client.force_login(requester)
    client.post(RFC_URL, {"action": "approve_selected", "_selected_action": [change.pk]}, follow=True)
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED
    assert AuditEntry.objects.filter(action="refused", transition="changes.requestforchange.approve").exists()


def test_admin_submit_action_goes_through_the_service(client, boss, change):
    client.force_login(boss)
    client.post(RFC_URL, {"action": "submit_selected", "_selected_action": [change.pk]}, follow=True)
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.SUBMITTED
    assert AuditEntry.objects.get(transition="submit", action="transition").actor_name == "boss"


def test_admin_edit_keeps_separation_of_duties_and_writes_nothing(client, boss, change):
    dev, mate = UserFactory(username="dev"), UserFactory(username="dev2")
    TeamFactory(members=[dev, mate])
    client.force_login(boss)
    response = client.post(
        f"{RFC_URL}{change.pk}/change/",
        draft_post(change, title="Renamed", developer=dev.pk, tester=mate.pk),
        follow=True,
    )
    assert response.status_code == 200
    assert "Not saved" in response.content.decode() and "[tester-is-not-developer]" in response.content.decode()
    change.refresh_from_db()
    assert change.title == "Router firmware 15.2" and change.tester is None
    assert AuditEntry.objects.filter(action="refused", reason__contains="[tester-is-not-developer]").exists()


def test_admin_after_approval_edits_only_what_may_change(client, boss, change):
    RequestForChange.objects.filter(pk=change.pk).update(status=ChangeStatus.IN_TEST)
    client.force_login(boss)
    content = client.get(f"{RFC_URL}{change.pk}/change/").content.decode()
    assert 'name="title"' not in content and 'name="test_results"' in content
    lab = CIFactory(name="lab-router", environment="test")
    response = client.post(
        f"{RFC_URL}{change.pk}/change/",
        {
            "change_manager": boss.pk,
            "developer": "",
            "tester": "",
            "implementer": "",
            "test_results": "green",
            "pir_notes": "",
            "test_environment": str(lab.pk),
            "title": "Forged",
        },
    )
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.test_results == "green" and change.title == "Router firmware 15.2"
    assert list(change.test_environment.all()) == [lab]


def test_invisible_changes_are_not_in_the_admin(client, change):
    partner = UserFactory(username="partner", roles=["partner"], is_staff=True)
    client.force_login(partner)
    assert client.get(f"{RFC_URL}{change.pk}/change/").status_code in (302, 403, 404)


def test_comments_are_read_only(client, boss, change, requester):
    comment = services.change_comment(actor=requester, change=change, body="Please check BGP")
    client.force_login(boss)
    assert client.get(f"/admin/changes/changecomment/{comment.pk}/change/").status_code == 200
    assert client.post(f"/admin/changes/changecomment/{comment.pk}/change/", {"body": "forged"}).status_code == 403
    assert client.post(f"/admin/changes/changecomment/{comment.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ChangeComment.objects.get(pk=comment.pk).body == "Please check BGP"


def test_template_added_in_the_admin_is_proposed_and_owned_by_the_actor(client, boss):
    client.force_login(boss)
    response = client.post(
        "/admin/changes/standardchangetemplate/add/",
        {
            "name": "Restart IIS",
            "description": "",
            "implementation_plan": "iisreset",
            "backout_plan": "none",
            "test_plan": "OWA login",
            "risk_probability": 1,
            "risk_impact": 1,
            "status": "approved",
        },
    )
    assert response.status_code == 302
    template = StandardChangeTemplate.objects.get()
    assert template.status == TemplateStatus.PROPOSED and template.owner == boss
    approved = TemplateFactory(status=TemplateStatus.APPROVED, owner=boss)
    page = client.get(f"/admin/changes/standardchangetemplate/{approved.pk}/change/").content.decode()
    assert 'name="_save"' not in page


def test_release_with_artifacts_inline_through_the_service(client, boss, change):
    release = services.release_create(actor=boss, name="Exchange SP3", changes=[change])
    client.force_login(boss)
    url = f"/admin/changes/release/{release.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and 'name="status"' not in page.content.decode()
    prefix_old, prefix_new = "artifacts", "artifacts-2"
    data = {
        "name": "Exchange SP3",
        "description": "",
        "planned_start_0": "",
        "planned_start_1": "",
        "planned_end_0": "",
        "planned_end_1": "",
        "changes": str(change.pk),
        "status": "deployed",
        f"{prefix_old}-TOTAL_FORMS": "0",
        f"{prefix_old}-INITIAL_FORMS": "0",
        f"{prefix_old}-MIN_NUM_FORMS": "0",
        f"{prefix_old}-MAX_NUM_FORMS": "1000",
        f"{prefix_new}-TOTAL_FORMS": "1",
        f"{prefix_new}-INITIAL_FORMS": "0",
        f"{prefix_new}-MIN_NUM_FORMS": "0",
        f"{prefix_new}-MAX_NUM_FORMS": "1000",
        f"{prefix_new}-0-name": "setup.exe",
        f"{prefix_new}-0-version": "8.3.83.6",
        f"{prefix_new}-0-checksum": "sha256:abc",
        f"{prefix_new}-0-location": "dsl://exchange/sp3/setup.exe",
    }
    response = client.post(url, data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    release.refresh_from_db()
    assert release.status == "planning"
    artifact = ReleaseArtifact.objects.get(release=release)
    assert artifact.location == "dsl://exchange/sp3/setup.exe"
    assert AuditEntry.objects.filter(model_label="changes.releaseartifact", action="create", actor_name="boss").exists()
    assert Release.objects.get(pk=release.pk).changes.get() == change
