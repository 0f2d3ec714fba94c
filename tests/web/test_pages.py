"""Pages render for the right people, and only for them."""

import pytest
from django.urls import reverse

from mof.models import AuditEntry, ReviewDecisionRecord
from tests.factories import CIFactory, RelationshipFactory, ServiceFactory

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "url_name",
    [
        "home",
        "changing",
        "operating",
        "supporting",
        "optimizing",
        "reviews",
        "ci_list",
        "ci_class_list",
        "service_list",
        "risk_matrix",
    ],
)
def test_pages_require_login(client, url_name):
    response = client.get(reverse(url_name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_page_renders_and_logs_in(client, infra_user):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Sign in" in response.content
    response = client.post(reverse("login"), {"username": "infra", "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_logout_is_a_post_with_csrf(client, infra_user):
    login(client, infra_user)
    page = client.get(reverse("home")).content.decode()
    assert f'action="{reverse("logout")}"' in page
    assert "csrfmiddlewaretoken" in page
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.parametrize(
    "url_name",
    [
        "home",
        "changing",
        "operating",
        "supporting",
        "optimizing",
        "reviews",
        "ci_list",
        "ci_class_list",
        "service_list",
        "risk_matrix",
    ],
)
@pytest.mark.parametrize("who", ["admin_user", "manager", "infra_user", "support_user", "partner_user", "employee"])
def test_pages_render_for_everyone_signed_in(client, request, url_name, who):
    login(client, request.getfixturevalue(who))
    response = client.get(reverse(url_name))
    assert response.status_code == 200
    content = response.content.decode()
    for quadrant in ("Changing", "Operating", "Supporting", "Optimizing", "Reviews"):
        assert quadrant in content


def test_home_counts_are_real(client, infra_user, manager):
    CIFactory.create_batch(3)
    CIFactory.create_batch(2, status="in_service")
    ReviewDecisionRecord.objects.create(
        kind="sla", model_label="slas.sla", object_id="1", decision="approved", decided_by=manager
    )
    login(client, infra_user)
    content = client.get(reverse("home")).content.decode()
    assert "<svg" in content
    assert "3 CIs planned" in content
    assert "2 CIs in service" in content
    assert "1 decision recorded" in content
    for review in ("Release Readiness Review", "Operations Review", "SLA Review", "Release Approved Review"):
        assert review in content
    for url_name in ("changing", "operating", "supporting", "optimizing"):
        assert f'href="{reverse(url_name)}"' in content


def test_home_counts_only_what_the_reader_may_see(client, partner_user):
    CIFactory.create_batch(3)
    CIFactory(owner=partner_user)
    login(client, partner_user)
    content = client.get(reverse("home")).content.decode()
    assert "1 CI planned" in content


def test_quadrant_pages_list_their_smfs_and_links(client, infra_user):
    login(client, infra_user)
    changing = client.get(reverse("changing")).content.decode()
    assert (
        "Configuration management" in changing and "Change management" in changing and "Release management" in changing
    )
    assert reverse("ci_list") in changing and reverse("ci_class_list") in changing
    assert "Release Readiness Review" in changing
    operating = client.get(reverse("operating")).content.decode()
    assert reverse("service_list") in operating and "Job scheduling" in operating and "Operations Review" in operating
    supporting = client.get(reverse("supporting")).content.decode()
    assert "Incident management" in supporting and "SLA Review" in supporting
    optimizing = client.get(reverse("optimizing")).content.decode()
    assert reverse("risk_matrix") in optimizing and "Capacity management" in optimizing
    assert "Release Approved Review" in optimizing
    reviews = client.get(reverse("reviews")).content.decode()
    for text in (
        "Release Approved Review",
        "Release Readiness Review",
        "Operations Review",
        "SLA Review",
        "assessed to approved",
        "draft to active",
    ):
        assert text in reviews
    for page in (changing, operating, supporting, optimizing, reviews):
        assert "coming soon" not in page.lower()


def test_navigation_marks_the_active_quadrant(client, infra_user):
    login(client, infra_user)
    content = client.get(reverse("ci_list")).content.decode()
    assert 'class="nav-changing active"' in content
    content = client.get(reverse("risk_matrix")).content.decode()
    assert 'class="nav-optimizing active"' in content


def test_risk_matrix_is_coloured_by_level(client, support_user):
    login(client, support_user)
    content = client.get(reverse("risk_matrix")).content.decode()
    assert content.count('class="risk risk-') == 25
    assert "risk-critical" in content and "risk-low" in content
    assert "Release Approved Review" in content


def test_risk_matrix_follows_the_configured_thresholds(client, support_user):
    from mof.models import RiskThreshold

    RiskThreshold.objects.filter(level="critical").update(min_score=25)
    login(client, support_user)
    content = client.get(reverse("risk_matrix")).content.decode()
    assert content.count('class="risk risk-critical"') == 1


def test_unknown_page_is_a_404_with_the_layout(client, infra_user, settings):
    settings.DEBUG = False
    login(client, infra_user)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Not found" in response.content and b"Changing" in response.content


def test_service_pages(client, manager, support_user):
    service = ServiceFactory(name="Exchange mail", hours_of_service="24x7")
    ci = CIFactory(name="hub transport", services=[service])
    login(client, support_user)
    content = client.get(reverse("service_list")).content.decode()
    assert "Exchange mail" in content and reverse("service_create") not in content
    content = client.get(reverse("service_detail", args=[service.pk])).content.decode()
    assert "hub transport" in content and "24x7" in content
    assert reverse("service_edit", args=[service.pk]) not in content
    assert client.get(reverse("service_create")).status_code == 403
    login(client, manager)
    assert reverse("service_create") in client.get(reverse("service_list")).content.decode()
    assert client.get(reverse("service_edit", args=[service.pk])).status_code == 200
    assert client.get(reverse("service_detail", args=[999999])).status_code == 404
    assert ci.pk


def test_ci_detail_shows_record_relationships_and_history(client, infra_user):
    service = ServiceFactory(name="Exchange mail")
    router = CIFactory(name="router", attributes={"firmware": "15.2"}, owner=infra_user)
    firewall = CIFactory(name="firewall", services=[service])
    RelationshipFactory(source=firewall, target=router)
    login(client, infra_user)
    content = client.get(reverse("ci_detail", args=[router.pk])).content.decode()
    assert "firmware" in content and "15.2" in content
    assert "firewall" in content and "Exchange mail" in content
    assert 'id="transitions-panel"' in content and "Put into service" in content
    assert "History" in content


def test_ci_class_list_counts(client, infra_user):
    CIFactory.create_batch(2)
    login(client, infra_user)
    content = client.get(reverse("ci_class_list")).content.decode()
    assert "Server" in content and "?ci_class=server" in content


def test_history_lists_field_changes(client, infra_user):
    from mof import services

    ci = services.ci_create(
        actor=infra_user,
        name="sw-01",
        ci_class=__import__("tests.factories", fromlist=["ci_class"]).ci_class(),
        environment="production",
    )
    services.ci_update(actor=infra_user, ci=ci, description="core switch")
    assert AuditEntry.objects.filter(object_id=str(ci.pk)).count() >= 2
    login(client, infra_user)
    content = client.get(reverse("ci_detail", args=[ci.pk])).content.decode()
    assert "core switch" in content and "infra" in content


def test_history_names_services_added(client, infra_user):
    from mof import services
    from tests.factories import ci_class

    mail = ServiceFactory(name="Exchange mail")
    ci = services.ci_create(
        actor=infra_user, services=[mail], name="hub-01", ci_class=ci_class(), environment="production"
    )
    login(client, infra_user)
    content = client.get(reverse("ci_detail", args=[ci.pk])).content.decode()
    assert "added Exchange mail" in content
