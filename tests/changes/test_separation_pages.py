"""Separation of duties through the pages: every rule refuses with its message, and every
refusal is in the audit trail with the rule's name in brackets."""

import pytest
from django.urls import reverse

from changes import services
from changes.choices import ApprovalPath, ChangeStatus
from changes.models import RequestForChange
from mof.models import AuditEntry
from tests.changes.factories import PLANS
from tests.changes.test_pages_changes import edit_data, filing
from tests.factories import CIFactory, ManagerFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

TESTER_RULE = "tester-is-not-developer"
APPROVER_RULE = "approver-is-not-requester"


def refusals(rule, change=None):
    qs = AuditEntry.objects.filter(action="refused", reason__contains=f"[{rule}]")
    if change is not None:
        qs = qs.filter(model_label="changes.requestforchange", object_id=str(change.pk))
    return qs


@pytest.fixture
def cast(db):
    people = {
        "requester": UserFactory(username="req", roles=["release"]),
        "change_manager": UserFactory(username="cm", roles=["release"]),
        "developer": UserFactory(username="dev", roles=["infrastructure"]),
        "teammate": UserFactory(username="dev2", roles=["infrastructure"]),
        "tester": UserFactory(username="qa", roles=["release"]),
    }
    TeamFactory(name="Network", members=[people["developer"], people["teammate"]])
    TeamFactory(name="QA", members=[people["tester"]])
    CIFactory(name="core-router", status="in_service")
    CIFactory(name="lab-router", environment="test")
    return people


@pytest.fixture
def change(cast):
    return services.change_create(
        actor=cast["requester"],
        title="Router firmware 15.2",
        type="normal",
        change_manager=cast["change_manager"],
        developer=cast["developer"],
        tester=cast["tester"],
        **PLANS,
    )


@pytest.mark.parametrize("who", ["developer", "teammate"])
def test_naming_the_developer_or_a_teammate_as_tester_on_the_edit_form(client, cast, change, who):
    client.force_login(cast["requester"])
    data = edit_data(client.get(reverse("change_edit", args=[change.pk])).context["form"])
    data.update(tester=cast[who].pk, title="Renamed too")
    response = client.post(reverse("change_edit", args=[change.pk]), data)
    assert response.status_code == 400
    errors = response.context["form"].errors["tester"]
    assert any(f"[{TESTER_RULE}]" in e and "not its developer, nor on the developer's team" in e for e in errors)
    assert f"[{TESTER_RULE}]" in response.content.decode()
    change.refresh_from_db()
    assert change.tester == cast["tester"] and change.title == "Router firmware 15.2"  # nothing written
    assert refusals(TESTER_RULE, change).count() == 1


def test_naming_the_developer_as_tester_when_filing(client, cast):
    client.force_login(cast["requester"])
    response = client.post(
        reverse("change_create"), filing(cast, developer=cast["developer"].pk, tester=cast["teammate"].pk)
    )
    assert response.status_code == 400
    assert any(f"[{TESTER_RULE}]" in e for e in response.context["form"].errors["tester"])
    assert not RequestForChange.objects.exists()
    assert refusals(TESTER_RULE).count() == 1


def test_naming_the_developer_as_tester_after_approval(client, cast, change):
    RequestForChange.objects.filter(pk=change.pk).update(status=ChangeStatus.IN_DEVELOPMENT)
    client.force_login(cast["change_manager"])
    data = edit_data(client.get(reverse("change_edit", args=[change.pk])).context["form"])
    data.update(tester=cast["teammate"].pk)
    response = client.post(reverse("change_edit", args=[change.pk]), data)
    assert response.status_code == 400 and f"[{TESTER_RULE}]" in response.content.decode()
    assert RequestForChange.objects.get(pk=change.pk).tester == cast["tester"]
    assert refusals(TESTER_RULE, change).exists()


@pytest.fixture
def in_test(cast, change):
    """In test with its evidence; the developer is also its change manager, so may take 'pass tests'."""
    RequestForChange.objects.filter(pk=change.pk).update(
        status=ChangeStatus.IN_TEST, test_results="All green", change_manager=cast["developer"]
    )
    change = RequestForChange.objects.get(pk=change.pk)
    change.test_environment.set([CIFactory(name="lab-switch", environment="test")])
    return change


def test_the_developer_passing_the_tests_on_the_page(client, cast, in_test):
    client.force_login(cast["developer"])
    page = client.get(in_test.get_absolute_url()).content.decode()
    assert "not its developer" in page  # the panel says why before anyone tries
    response = client.post(reverse("change_transition", args=[in_test.pk, "pass_tests"]))
    assert response.status_code == 400
    assert "The tester of a change is not its developer, nor on the developer&#x27;s team" in response.content.decode()
    assert RequestForChange.objects.get(pk=in_test.pk).status == ChangeStatus.IN_TEST
    assert refusals(TESTER_RULE, in_test).filter(transition="changes.requestforchange.pass_tests").count() == 1


def test_a_developer_teammate_passing_the_tests_with_htmx(client, cast, in_test):
    RequestForChange.objects.filter(pk=in_test.pk).update(change_manager=cast["teammate"])
    client.force_login(cast["teammate"])
    response = client.post(reverse("change_transition", args=[in_test.pk, "pass_tests"]), HTTP_HX_REQUEST="true")
    assert response.status_code == 400
    content = response.content.decode()
    assert 'id="transitions-panel"' in content and "the acting team is the developer" in content
    assert RequestForChange.objects.get(pk=in_test.pk).status == ChangeStatus.IN_TEST
    assert refusals(TESTER_RULE, in_test).exists()


def test_the_real_tester_passes(client, cast, in_test):
    client.force_login(cast["tester"])
    assert client.post(reverse("change_transition", args=[in_test.pk, "pass_tests"])).status_code == 302
    assert RequestForChange.objects.get(pk=in_test.pk).status == ChangeStatus.TESTED


@pytest.fixture
def boss_request(db):
    """A change filed by a manager, assessed, awaiting its decision."""
    boss = ManagerFactory(username="boss")
    change = services.change_create(actor=boss, title="Firewall rule", type="normal", change_manager=boss, **PLANS)
    RequestForChange.objects.filter(pk=change.pk).update(
        status=ChangeStatus.ASSESSED, approval_path=ApprovalPath.CHANGE_MANAGER
    )
    return boss, RequestForChange.objects.get(pk=change.pk)


@pytest.mark.parametrize("path", [ApprovalPath.CHANGE_MANAGER, ApprovalPath.CAB])
@pytest.mark.parametrize("name", ["approve", "reject"])
def test_the_requester_deciding_their_own_change(client, boss_request, path, name):
    boss, change = boss_request
    RequestForChange.objects.filter(pk=change.pk).update(approval_path=path)
    client.force_login(boss)
    response = client.post(reverse("change_transition", args=[change.pk, name]), {"reason": "looks fine to me"})
    assert response.status_code == 400
    assert "Whoever approves a change is not its requester" in response.content.decode()
    change.refresh_from_db()
    assert change.status == ChangeStatus.ASSESSED and change.approved_by is None
    entry = refusals(APPROVER_RULE, change).get()
    assert entry.actor_name == "boss" and entry.transition == f"changes.requestforchange.{name}"


def test_another_manager_may_decide_on_the_change_manager_path(client, boss_request):
    _, change = boss_request
    other = ManagerFactory(username="other-boss")
    client.force_login(other)
    response = client.post(reverse("change_transition", args=[change.pk, "approve"]), {"reason": "low risk, fine"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED and change.approved_by == other
