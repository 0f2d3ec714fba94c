"""Standard-change template and release pages: create and edit through the services,
artifacts of the definitive software library, the template's approval status."""

import pytest
from django.urls import reverse

from changes import services
from changes.choices import ChangeStatus, TemplateStatus
from changes.models import Release, ReleaseArtifact, RequestForChange, StandardChangeTemplate
from mof import review_gate
from mof.choices import ReviewKind
from tests.changes.factories import PLANS, TemplateFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TEMPLATE = {
    "name": "Restart IIS on a CAS server",
    "description": "When OWA hangs",
    "implementation_plan": "iisreset",
    "backout_plan": "none needed",
    "test_plan": "OWA login",
    "risk_probability": "1",
    "risk_impact": "2",
}


@pytest.fixture
def releaser(db):
    return UserFactory(username="rel", roles=["release"])


def test_create_a_template_and_see_it_await_the_review(client, releaser, manager):
    client.force_login(releaser)
    assert reverse("change_template_create") in client.get(reverse("change_template_list")).content.decode()
    response = client.post(reverse("change_template_create"), TEMPLATE)
    template = StandardChangeTemplate.objects.get()
    assert response.status_code == 302 and response["Location"] == template.get_absolute_url()
    assert template.owner == releaser and template.status == TemplateStatus.PROPOSED
    content = client.get(template.get_absolute_url()).content.decode()
    assert "awaiting the Release Approved Review" in content
    assert reverse("change_create_from_template", args=[template.pk]) not in content
    # The review decides; then it is approved and can be used.
    review_gate.record_decision(
        kind=ReviewKind.RELEASE_APPROVED, subject=template, decision="approve", actor=manager, fire="approve"
    )
    content = client.get(template.get_absolute_url()).content.decode()
    assert "awaiting the Release Approved Review" not in content and "Use this template" in content


def test_template_form_errors_write_nothing(client, releaser):
    client.force_login(releaser)
    response = client.post(
        reverse("change_template_create"), {**TEMPLATE, "risk_probability": "7", "implementation_plan": ""}
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "risk_probability" in errors and "implementation_plan" in errors
    TemplateFactory(name="Taken")
    response = client.post(reverse("change_template_create"), {**TEMPLATE, "name": "Taken"})
    assert response.status_code == 400 and "name" in response.context["form"].errors
    assert StandardChangeTemplate.objects.count() == 1


def test_only_the_release_role_and_managers_propose_templates(client, support_user):
    client.force_login(support_user)
    assert reverse("change_template_create") not in client.get(reverse("change_template_list")).content.decode()
    assert client.get(reverse("change_template_create")).status_code == 403
    assert client.post(reverse("change_template_create"), TEMPLATE).status_code == 403
    assert not StandardChangeTemplate.objects.exists()


def test_edit_a_proposed_template_but_not_an_approved_one(client, releaser, manager):
    template = TemplateFactory(owner=releaser)
    client.force_login(releaser)
    response = client.post(
        reverse("change_template_edit", args=[template.pk]), {**TEMPLATE, "test_plan": "OWA and EAS login"}
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.test_plan == "OWA and EAS login"
    StandardChangeTemplate.objects.filter(pk=template.pk).update(status=TemplateStatus.APPROVED)
    assert (
        reverse("change_template_edit", args=[template.pk])
        not in client.get(template.get_absolute_url()).content.decode()
    )
    client.force_login(manager)
    response = client.post(reverse("change_template_edit", args=[template.pk]), {**TEMPLATE, "test_plan": "nothing"})
    assert response.status_code == 400 and "changed by proposing a new one" in response.content.decode()
    assert StandardChangeTemplate.objects.get(pk=template.pk).test_plan == "OWA and EAS login"
    other = UserFactory(username="other", roles=["release"])
    client.force_login(other)
    assert client.get(reverse("change_template_edit", args=[template.pk])).status_code == 403


def test_template_invisible_to_an_employee(client, employee):
    template = TemplateFactory(status=TemplateStatus.APPROVED)
    client.force_login(employee)
    for name in ("change_template_detail", "change_template_edit", "change_create_from_template"):
        assert client.get(reverse(name, args=[template.pk])).status_code in (403, 404)


@pytest.fixture
def changes(releaser):
    return [
        services.change_create(actor=releaser, title=f"Exchange SP3 part {i}", type="normal", **PLANS) for i in (1, 2)
    ]


def test_create_and_edit_a_release(client, releaser, changes):
    first, second = changes
    client.force_login(releaser)
    page = client.get(reverse("release_create")).content.decode()
    assert f'<option value="{first.reference}">' in page
    response = client.post(
        reverse("release_create"),
        {
            "name": "Exchange SP3",
            "changes": f"{first.reference}, {second.number}",
            "planned_start": "2030-01-01T20:00",
            "planned_end": "2030-01-01T23:00",
        },
    )
    release = Release.objects.get()
    assert response.status_code == 302 and response["Location"] == release.get_absolute_url()
    assert release.release_manager == releaser and set(release.changes.all()) == {first, second}
    content = client.get(release.get_absolute_url()).content.decode()
    assert (
        "Exchange SP3 part 1" in content
        and 'id="add-artifact"' in content
        and 'data-transition="mark_built"' in content
    )
    edit = reverse("release_edit", args=[release.pk])
    assert edit in content
    form = client.get(edit).context["form"]
    assert form["changes"].value() == f"{first.reference}, {second.reference}"
    response = client.post(edit, {"name": "Exchange SP3 rollout", "changes": first.reference})
    assert response.status_code == 302
    release.refresh_from_db()
    assert release.name == "Exchange SP3 rollout" and list(release.changes.all()) == [first]


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "R", "changes": "CHG-999"}, "changes"),
        ({"name": "R", "changes": "banana"}, "changes"),
        ({"name": "R", "planned_start": "2030-01-02T10:00", "planned_end": "2030-01-01T10:00"}, "planned_end"),
        ({"name": ""}, "name"),
    ],
)
def test_release_bad_input(client, releaser, changes, data, field):
    client.force_login(releaser)
    response = client.post(reverse("release_create"), data)
    assert response.status_code == 400 and field in response.context["form"].errors
    assert not Release.objects.exists()


def test_release_cannot_bundle_a_change_its_planner_cannot_see(client, releaser, partner_user):
    hidden = services.change_create(actor=releaser, title="Secret", type="normal")
    client.force_login(partner_user)
    assert client.get(reverse("release_create")).status_code == 403
    assert client.post(reverse("release_create"), {"name": "R", "changes": hidden.reference}).status_code == 403
    assert not Release.objects.exists()


def test_add_artifacts(client, releaser, changes):
    release = services.release_create(actor=releaser, name="Exchange SP3", changes=changes)
    client.force_login(releaser)
    url = reverse("release_artifact_add", args=[release.pk])
    artifact = {
        "name": "setup.exe",
        "version": "8.3.83.6",
        "checksum": "sha256:ab12",
        "location": "dsl://exchange/sp3/setup.exe",
    }
    assert client.post(url, artifact).status_code == 302
    content = client.get(release.get_absolute_url()).content.decode()
    assert "dsl://exchange/sp3/setup.exe" in content and "sha256:ab12" in content
    response = client.post(url, artifact)
    assert response.status_code == 400, response.context["artifact_form"].errors
    assert "already exists" in response.content.decode()
    response = client.post(url, {**artifact, "version": "", "checksum": ""})
    assert response.status_code == 400 and set(response.context["artifact_form"].errors) >= {"version", "checksum"}
    assert ReleaseArtifact.objects.count() == 1
    # Built: no more artifacts.
    response = client.post(reverse("release_transition", args=[release.pk, "mark_built"]))
    assert response.status_code == 302
    assert 'id="add-artifact"' not in client.get(release.get_absolute_url()).content.decode()
    response = client.post(url, {**artifact, "version": "8.3.83.7"})
    assert response.status_code == 400 and "added while the release is being planned" in response.content.decode()
    assert ReleaseArtifact.objects.count() == 1


def test_release_transition_blocked_without_artifacts(client, releaser, changes):
    release = services.release_create(actor=releaser, name="Exchange SP3", changes=changes)
    client.force_login(releaser)
    response = client.post(reverse("release_transition", args=[release.pk, "mark_built"]))
    assert response.status_code == 400 and "Every artifact needs a version" in response.content.decode()
    assert client.post(reverse("release_transition", args=[release.pk, "explode"])).status_code == 404


def test_release_pages_refused_to_others(client, releaser, support_user, employee, changes):
    release = services.release_create(actor=releaser, name="Exchange SP3", changes=changes)
    client.force_login(support_user)
    assert client.get(reverse("release_edit", args=[release.pk])).status_code == 403
    assert (
        client.post(
            reverse("release_artifact_add", args=[release.pk]),
            {"name": "x", "version": "1", "checksum": "c", "location": "l"},
        ).status_code
        == 403
    )
    client.force_login(employee)
    assert client.get(reverse("release_detail", args=[release.pk])).status_code == 404
    assert not ReleaseArtifact.objects.exists()


def test_a_tested_release_keeps_its_changes(client, releaser, changes):
    release = services.release_create(actor=releaser, name="Exchange SP3", changes=changes)
    Release.objects.filter(pk=release.pk).update(status="tested")
    client.force_login(releaser)
    assert reverse("release_edit", args=[release.pk]) not in client.get(release.get_absolute_url()).content.decode()
    response = client.post(
        reverse("release_edit", args=[release.pk]), {"name": "Renamed", "changes": changes[0].reference}
    )
    assert response.status_code == 400 and "A tested release is changed by cancelling it" in response.content.decode()
    assert Release.objects.get(pk=release.pk).changes.count() == 2
    assert RequestForChange.objects.filter(status=ChangeStatus.DRAFT).count() == 2
