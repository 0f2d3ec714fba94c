"""RFC pages: filing (normal, emergency, standard from a template), editing what the state
allows, assessing, impact, comments, test evidence; bad input is a clear form error and
writes nothing."""

import pytest
from django.urls import reverse

from changes import services
from changes.choices import ChangeStatus, TemplateStatus
from changes.models import ChangeComment, ChangeStakeholder, RequestForChange
from mof.models import AuditEntry, RiskAssessment
from mof.transitions import perform_transition
from tests.changes.factories import PLANS, TemplateFactory, window
from tests.factories import CIFactory, RelationshipFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

FMT = "%Y-%m-%dT%H:%M"


@pytest.fixture
def cast(db):
    requester = UserFactory(username="req", roles=["release"])
    change_manager = UserFactory(username="cm", roles=["release"])
    developer = UserFactory(username="dev", roles=["infrastructure"])
    tester = UserFactory(username="qa", roles=["release"])
    owner = UserFactory(username="exchange-team", roles=["support"])
    router = CIFactory(name="core-router", status="in_service")
    hub = CIFactory(name="hub-transport", status="in_service", owner=owner)
    RelationshipFactory(source=hub, target=router)
    hub.services.set([ServiceFactory(name="Exchange mail", criticality="critical", owner=owner)])
    lab = CIFactory(name="lab-router", environment="test")
    return {
        "requester": requester,
        "change_manager": change_manager,
        "developer": developer,
        "tester": tester,
        "owner": owner,
        "router": router,
        "hub": hub,
        "lab": lab,
    }


def filing(cast, **extra):
    start, end = window()
    return {
        "title": "Router firmware 15.2",
        "type": "normal",
        "description": "BGP memory leak",
        "business_justification": "Mail outages",
        "change_manager": cast["change_manager"].pk,
        "developer": cast["developer"].pk,
        "tester": cast["tester"].pk,
        "affected_cis": "core-router",
        "cost_estimate": "1200",
        "expected_benefit_value": "5000",
        "expected_benefit": "No more outages",
        "planned_start": start.strftime(FMT),
        "planned_end": end.strftime(FMT),
        **PLANS,
        **extra,
    }


def nothing_written(before):
    assert RequestForChange.objects.count() == before


def test_file_a_normal_change_with_all_its_fields(client, cast):
    client.force_login(cast["requester"])
    page = client.get(reverse("change_create"))
    assert page.status_code == 200 and 'list="ci-names"' in page.content.decode()
    response = client.post(reverse("change_create"), filing(cast))
    change = RequestForChange.objects.get()
    assert response.status_code == 302 and response["Location"] == change.get_absolute_url()
    assert change.requester == cast["requester"] and change.status == ChangeStatus.DRAFT and change.type == "normal"
    assert change.tester == cast["tester"] and str(change.cost_estimate) == "1200.00"
    assert list(change.affected_cis.all()) == [cast["router"]]
    content = client.get(change.get_absolute_url()).content.decode()
    for text in (
        "Router firmware 15.2",
        "Mail outages",
        "1200.00",
        "5000.00",
        "Benefit less cost",
        "3800.00",
        "core-router",
    ):
        assert text in content


def test_file_an_emergency_change(client, cast):
    client.force_login(cast["requester"])
    assert client.post(reverse("change_create"), filing(cast, type="emergency")).status_code == 302
    assert RequestForChange.objects.get().type == "emergency"


def test_people_pickers_offer_only_active_users(client, cast):
    UserFactory(username="gone", is_active=False)
    client.force_login(cast["requester"])
    content = client.get(reverse("change_create")).content.decode()
    assert "(qa)" in content and "(gone)" not in content
    gone = UserFactory(username="gone")
    gone.is_active = False
    gone.save()
    before = RequestForChange.objects.count()
    response = client.post(reverse("change_create"), filing(cast, tester=gone.pk))
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    nothing_written(before)


@pytest.mark.parametrize(
    "bad, field, message",
    [
        (
            {"planned_end": "2020-01-01T10:00", "planned_start": "2020-01-01T12:00"},
            "planned_end",
            "The end must be after the start.",
        ),
        (
            {"affected_cis": "core-router, no-such-ci"},
            "affected_cis",
            "No configuration item named &#x27;no-such-ci&#x27;",
        ),
        ({"affected_cis": "999999"}, "affected_cis", "No configuration item named &#x27;999999&#x27;"),
        ({"title": ""}, "title", "This field is required."),
        ({"cost_estimate": "lots"}, "cost_estimate", "Enter a number."),
        ({"type": "sideways"}, "type", "Select a valid choice."),
    ],
)
def test_bad_input_is_a_form_error_and_writes_nothing(client, cast, bad, field, message):
    client.force_login(cast["requester"])
    audit_before = AuditEntry.objects.count()
    response = client.post(reverse("change_create"), filing(cast, **bad))
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors
    assert message in response.content.decode()
    nothing_written(0)
    assert AuditEntry.objects.count() == audit_before


def test_only_staff_file_changes(client, cast, partner_user, employee):
    for who in (partner_user, employee):
        client.force_login(who)
        assert client.get(reverse("change_create")).status_code == 403
        assert client.post(reverse("change_create"), filing(cast)).status_code == 403
    assert not RequestForChange.objects.exists()


def test_a_template_with_another_type_is_a_form_error(client, cast):
    template = TemplateFactory(status=TemplateStatus.APPROVED)
    client.force_login(cast["requester"])
    response = client.post(reverse("change_create"), filing(cast, template=template.pk, type="normal"))
    assert response.status_code == 400
    assert (
        "A standard-change template files a standard change, not a normal one."
        in response.context["form"].errors["template"]
    )
    response = client.post(reverse("change_create"), filing(cast, type="standard"))
    assert response.status_code == 400 and "template" in response.context["form"].errors
    nothing_written(0)


def test_use_this_template_prefills_and_forces_standard(client, cast, manager):
    template = TemplateFactory(name="Restart IIS on CAS-01", status=TemplateStatus.APPROVED)
    client.force_login(cast["requester"])
    catalogue = client.get(reverse("change_template_list")).content.decode()
    use_url = reverse("change_create_from_template", args=[template.pk])
    assert use_url in catalogue
    assert use_url in client.get(template.get_absolute_url()).content.decode()
    page = client.get(use_url)
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial["title"] == "Restart IIS on CAS-01"
    assert "type" not in form.fields and "implementation_plan" not in form.fields
    start, end = window()
    response = client.post(
        use_url,
        {
            "title": "Restart IIS on CAS-01",
            "type": "normal",
            "implementation_plan": "rm -rf /",
            "affected_cis": "hub-transport",
            "planned_start": start.strftime(FMT),
            "planned_end": end.strftime(FMT),
        },
    )
    assert response.status_code == 302
    change = RequestForChange.objects.get()
    assert change.type == "standard" and change.template == template and change.implementation_plan == "iisreset"
    # Submitting it approves it: pre-approved.
    response = client.post(reverse("change_transition", args=[change.pk, "submit"]))
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED and change.approval_path == "pre_approved"


def test_a_proposed_template_cannot_be_used(client, cast):
    template = TemplateFactory()
    client.force_login(cast["requester"])
    use_url = reverse("change_create_from_template", args=[template.pk])
    assert use_url not in client.get(template.get_absolute_url()).content.decode()
    assert client.get(use_url).status_code == 302
    response = client.post(use_url, {"title": "x"})
    assert response.status_code == 400 and "not approved for use" in response.content.decode()
    nothing_written(0)


@pytest.fixture
def draft(cast):
    start, end = window()
    return services.change_create(
        actor=cast["requester"],
        title="Router firmware 15.2",
        type="normal",
        affected_cis=[cast["router"]],
        change_manager=cast["change_manager"],
        developer=cast["developer"],
        tester=cast["tester"],
        planned_start=start,
        planned_end=end,
        **PLANS,
    )


def edit_data(form):
    """What the edit page would post back: its initial values, as the browser sends them."""
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if hasattr(field, "prepare_value"):
            value = field.prepare_value(value)
        if value is None:
            value = ""
        elif hasattr(value, "strftime"):
            value = value.strftime(FMT)
        data[name] = value
    return data


def test_edit_a_draft(client, cast, draft):
    client.force_login(cast["requester"])
    page = client.get(reverse("change_edit", args=[draft.pk]))
    assert page.status_code == 200
    form = page.context["form"]
    assert "type" in form.fields and "affected_cis" in form.fields
    data = edit_data(form)
    assert data["affected_cis"] == "core-router"
    data.update(title="Router firmware 15.3", affected_cis="core-router, hub-transport")
    response = client.post(reverse("change_edit", args=[draft.pk]), data)
    assert response.status_code == 302, response.context["form"].errors
    draft.refresh_from_db()
    assert draft.title == "Router firmware 15.3"
    assert set(draft.affected_cis.values_list("name", flat=True)) == {"core-router", "hub-transport"}
    assert draft.planned_start is not None and draft.tester == cast["tester"]


def test_edit_after_approval_shows_only_what_may_still_change(client, cast, draft, manager):
    RequestForChange.objects.filter(pk=draft.pk).update(status=ChangeStatus.IN_DEVELOPMENT)
    client.force_login(cast["change_manager"])
    form = client.get(reverse("change_edit", args=[draft.pk])).context["form"]
    assert set(form.fields) == {
        "change_manager",
        "developer",
        "tester",
        "implementer",
        "test_results",
        "test_environment",
        "pir_notes",
    }
    data = edit_data(form)
    data.update(test_results="All green", test_environment="lab-router", title="Forged")
    assert client.post(reverse("change_edit", args=[draft.pk]), data).status_code == 302
    draft.refresh_from_db()
    assert draft.test_results == "All green" and draft.title == "Router firmware 15.2"


def test_edit_refused_and_invisible(client, cast, draft, support_user, employee):
    client.force_login(support_user)
    assert client.get(reverse("change_edit", args=[draft.pk])).status_code == 403
    client.force_login(employee)
    for name in ("change_edit", "change_detail"):
        assert client.get(reverse(name, args=[draft.pk])).status_code == 404
    for name in ("change_assess", "change_analyse_impact", "change_comment", "change_test_evidence"):
        assert (
            client.post(reverse(name, args=[draft.pk]), {"body": "x", "probability": 1, "impact": 1}).status_code == 404
        )
    assert not ChangeComment.objects.exists()


def test_edit_end_before_start_writes_nothing(client, cast, draft):
    client.force_login(cast["requester"])
    data = edit_data(client.get(reverse("change_edit", args=[draft.pk])).context["form"])
    data.update(title="Changed", planned_start="2030-01-02T10:00", planned_end="2030-01-01T10:00")
    response = client.post(reverse("change_edit", args=[draft.pk]), data)
    assert response.status_code == 400 and "The end must be after the start." in response.content.decode()
    draft.refresh_from_db()
    assert draft.title == "Router firmware 15.2"


@pytest.fixture
def submitted(cast, draft):
    return perform_transition(model=RequestForChange, actor=cast["requester"], pk=draft.pk, name="submit")


def test_assess_on_the_page(client, cast, submitted, django_capture_on_commit_callbacks):
    client.force_login(cast["change_manager"])
    page = client.get(submitted.get_absolute_url()).content.decode()
    assert 'id="assess"' in page and "4 · Likely" in page and "5 · Severe" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("change_assess", args=[submitted.pk]), {"probability": "3", "impact": "4", "notes": "BGP"}
        )
    assert response.status_code == 302
    change = RequestForChange.objects.get(pk=submitted.pk)
    assert (
        change.status == ChangeStatus.ASSESSED and change.risk_assessment.score == 12 and change.approval_path == "cab"
    )
    content = client.get(change.get_absolute_url()).content.decode()
    assert "score 12" in content and "CAB (Release Approved Review)" in content
    assert "core-router → hub-transport → Exchange mail" in content
    # Who was told, and who has responded.
    assert ChangeStakeholder.objects.filter(change=change, user=cast["owner"]).exists()
    assert "exchange-team" in content and "owner of service Exchange mail" in content and "no response" in content
    client.force_login(cast["owner"])
    assert (
        client.post(reverse("change_comment", args=[change.pk]), {"body": "Tell us the night before."}).status_code
        == 302
    )
    assert ChangeStakeholder.objects.get(change=change, user=cast["owner"]).responded_at is not None
    client.force_login(cast["change_manager"])
    content = client.get(change.get_absolute_url()).content.decode()
    assert "Tell us the night before." in content and "no response" not in content


@pytest.mark.parametrize(
    "data",
    [{"probability": "7", "impact": "3"}, {"probability": "3", "impact": "0"}, {"probability": "x", "impact": "3"}, {}],
)
def test_assess_bad_scale_is_a_form_error_and_writes_nothing(client, cast, submitted, data):
    client.force_login(cast["change_manager"])
    response = client.post(reverse("change_assess", args=[submitted.pk]), data)
    assert response.status_code == 400
    assert response.context["assess_form"].errors
    assert "Select a valid choice" in response.content.decode() or "This field is required" in response.content.decode()
    assert not RiskAssessment.objects.exists()
    assert RequestForChange.objects.get(pk=submitted.pk).status == ChangeStatus.SUBMITTED


def test_assess_a_draft_is_a_clear_error_and_writes_nothing(client, cast, draft):
    client.force_login(cast["change_manager"])
    response = client.post(reverse("change_assess", args=[draft.pk]), {"probability": "3", "impact": "4"})
    assert response.status_code == 409
    assert "not possible in the current state" in response.content.decode()
    assert not RiskAssessment.objects.exists()
    assert RequestForChange.objects.get(pk=draft.pk).risk_assessment_id is None


def test_assess_without_affected_cis_is_a_form_error(client, cast):
    change = services.change_create(
        actor=cast["requester"], title="No CIs", type="normal", change_manager=cast["change_manager"], **PLANS
    )
    perform_transition(model=RequestForChange, actor=cast["requester"], pk=change.pk, name="submit")
    client.force_login(cast["change_manager"])
    response = client.post(reverse("change_assess", args=[change.pk]), {"probability": "1", "impact": "1"})
    assert response.status_code == 400
    assert "Name the affected CIs before analysing the impact." in response.content.decode()
    assert not RiskAssessment.objects.exists()


def test_assess_refused_for_the_developer(client, cast, submitted):
    client.force_login(cast["developer"])
    assert 'id="assess"' not in client.get(submitted.get_absolute_url()).content.decode()
    assert (
        client.post(reverse("change_assess", args=[submitted.pk]), {"probability": "1", "impact": "1"}).status_code
        == 403
    )
    assert AuditEntry.objects.filter(action="refused", transition="change.transition.assess").exists()


def test_refresh_impact_analysis(client, cast, draft):
    client.force_login(cast["requester"])
    assert "Refresh impact analysis" in client.get(draft.get_absolute_url()).content.decode()
    response = client.post(reverse("change_analyse_impact", args=[draft.pk]))
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.impact_analysed_at is not None and [s["name"] for s in draft.affected_services] == ["Exchange mail"]
    client.force_login(cast["developer"])
    assert client.post(reverse("change_analyse_impact", args=[draft.pk])).status_code == 403


def test_comment_form_errors(client, cast, draft):
    client.force_login(cast["requester"])
    response = client.post(reverse("change_comment", args=[draft.pk]), {"body": ""})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    response = client.post(reverse("change_comment", args=[draft.pk]), {"body": "   "})
    assert response.status_code == 400
    assert not ChangeComment.objects.exists()
    RequestForChange.objects.filter(pk=draft.pk).update(status=ChangeStatus.CANCELLED)
    response = client.post(reverse("change_comment", args=[draft.pk]), {"body": "late"})
    assert response.status_code == 400 and "closed to comments" in response.content.decode()
    assert not ChangeComment.objects.exists()


def test_test_evidence_then_pass_tests(client, cast, draft):
    RequestForChange.objects.filter(pk=draft.pk).update(status=ChangeStatus.IN_TEST)
    client.force_login(cast["tester"])
    page = client.get(draft.get_absolute_url()).content.decode()
    assert 'id="test-evidence"' in page
    response = client.post(reverse("change_transition", args=[draft.pk, "pass_tests"]))
    assert response.status_code == 400 and "Passing the tests needs test results" in response.content.decode()
    response = client.post(
        reverse("change_test_evidence", args=[draft.pk]), {"test_results": "BGP up", "test_environment": "ghost-lab"}
    )
    assert response.status_code == 400 and "ghost-lab" in response.content.decode()
    assert RequestForChange.objects.get(pk=draft.pk).test_results == ""
    response = client.post(
        reverse("change_test_evidence", args=[draft.pk]),
        {"test_results": "BGP up, mail flows", "test_environment": "lab-router"},
    )
    assert response.status_code == 302
    content = client.get(draft.get_absolute_url()).content.decode()
    assert "BGP up, mail flows" in content and "lab-router" in content
    response = client.post(reverse("change_transition", args=[draft.pk, "pass_tests"]))
    assert response.status_code == 302
    assert RequestForChange.objects.get(pk=draft.pk).status == ChangeStatus.TESTED


def test_test_evidence_outside_development_and_test_is_refused(client, cast, draft):
    client.force_login(cast["tester"])
    assert 'id="test-evidence"' not in client.get(draft.get_absolute_url()).content.decode()
    response = client.post(
        reverse("change_test_evidence", args=[draft.pk]), {"test_results": "x", "test_environment": "lab-router"}
    )
    assert response.status_code == 403
    assert RequestForChange.objects.get(pk=draft.pk).test_results == ""


def test_unknown_transition_is_404(client, cast, draft):
    client.force_login(cast["requester"])
    assert client.post(reverse("change_transition", args=[draft.pk, "teleport"])).status_code == 404
    assert client.post(reverse("change_transition", args=[draft.pk, "_save"])).status_code == 404
    assert RequestForChange.objects.get(pk=draft.pk).status == ChangeStatus.DRAFT


def test_the_rfc_page_shows_the_whole_record(client, cast, draft, manager):
    from django.utils import timezone

    RequestForChange.objects.filter(pk=draft.pk).update(
        status=ChangeStatus.CLOSED,
        outcome="failed",
        actual_start=timezone.now(),
        actual_end=timezone.now(),
        pir_notes="Rolled back after 10 minutes.",
        freeze_warning="Scheduled inside freeze window(s): Quarter end",
        decision_reason="Urgent security fix",
        test_results="Lab passed",
    )
    client.force_login(manager)
    content = client.get(draft.get_absolute_url()).content.decode()
    for text in (
        "Failed, backed out",
        "Rolled back after 10 minutes.",
        "Quarter end",
        "Urgent security fix",
        "Lab passed",
        'id="history"',
        'id="transitions-panel"',
        "Approval path",
        "Requester",
    ):
        assert text in content, text
    assert (
        'id="assess"' not in content
        and "Refresh impact analysis" not in content
        and 'action="/changing/changes/' not in content.split('id="comments"')[1].split("</section>")[0]
    )


def test_the_rfc_page_shows_its_schedule_conflicts_and_free_slots(client, cast, draft):
    start, end = window()
    other = services.change_create(
        actor=cast["requester"],
        title="Core switch reboot",
        type="normal",
        affected_cis=[cast["router"]],
        planned_start=start,
        planned_end=end,
        **PLANS,
    )
    RequestForChange.objects.filter(pk=other.pk).update(status=ChangeStatus.SCHEDULED)
    client.force_login(cast["requester"])
    response = client.get(draft.get_absolute_url())
    content = response.content.decode()
    assert response.context["show_conflicts"] is True
    assert 'id="conflicts"' in content and other.reference in content
    assert "Next free slots" in content and response.context["free_slots"]
    # Once implemented, the schedule no longer matters.
    RequestForChange.objects.filter(pk=draft.pk).update(status=ChangeStatus.IMPLEMENTED)
    assert 'id="conflicts"' not in client.get(draft.get_absolute_url()).content.decode()


def test_conflicts_are_redacted_for_a_partner_party(client, cast, draft, partner_user):
    start, end = window()
    other = services.change_create(
        actor=cast["requester"],
        title="Core switch reboot",
        type="normal",
        affected_cis=[cast["router"]],
        planned_start=start,
        planned_end=end,
        **PLANS,
    )
    RequestForChange.objects.filter(pk=other.pk).update(status=ChangeStatus.SCHEDULED)
    RequestForChange.objects.filter(pk=draft.pk).update(implementer=partner_user)
    client.force_login(partner_user)
    content = client.get(draft.get_absolute_url()).content.decode()
    assert (
        'id="conflicts"' in content
        and other.reference not in content
        and "core-router" not in content.split('id="conflicts"')[1].split("</section>")[0]
    )


def test_change_list_queries_do_not_grow_with_the_rows(client, cast, manager):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.changes.factories import ChangeFactory

    assessment = RiskAssessment.objects.create(probability=2, impact=2, score=4, level="low", assessed_by=manager)
    for i in range(60):
        ChangeFactory(
            requester=cast["requester"] if i % 2 else cast["developer"],
            change_manager=cast["change_manager"],
            implementer=cast["tester"],
            risk_assessment=assessment if i % 3 else None,
        )
    client.force_login(manager)
    counts = {}
    for size in (5, 50):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(reverse("change_list"), {"page_size": size})
        assert response.status_code == 200 and len(response.context["page"].items) == size
        counts[size] = len(ctx.captured_queries)
    assert counts[5] == counts[50], counts
