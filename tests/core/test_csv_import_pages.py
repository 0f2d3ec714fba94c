"""The CMDB's import pages: upload, preview with every error by row and field, apply all
or nothing from the previewed content; who may use them; the template CSV."""

import csv
import io
import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from mof import cmdb_import
from mof.models import AuditEntry, CIRelationship, ConfigurationItem
from tests.factories import CIFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

CI_PAGE = reverse("csv_import", args=["cis"])
REL_PAGE = reverse("csv_import", args=["relationships"])


def upload(client, url, body: bytes):
    return client.post(
        url, {"step": "preview", "file": SimpleUploadedFile("import.csv", body, content_type="text/csv")}
    )


def apply_form(page: str) -> dict:
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', page).group(1)
    content = unescape(re.search(r'<textarea name="content"[^>]*>\n(.*?)</textarea>', page, re.S).group(1))
    return {"step": "apply", "digest": digest, "content": content}


@pytest.fixture
def infra_client(client, infra_user):
    client.force_login(infra_user)
    return client


def test_one_bad_row_on_the_page_writes_nothing_and_names_row_and_field(infra_client):
    response = upload(infra_client, CI_PAGE, b"name,class,owner\npg-01,server,\npg-02,server,nobody\n")
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'<td class="num">3</td><td class="mono">owner</td><td>No active user', page)
    assert 'name="step" value="apply"' not in page  # nothing to apply while a row fails
    assert not ConfigurationItem.objects.filter(name__startswith="pg-").exists()


def test_preview_then_apply_creates_updates_and_records_one_summary(infra_client, infra_user):
    CIFactory(name="pg-old", description="before")
    body = b"name,class,description\r\npg-new,server,fresh\r\npg-old,,after\r\n"
    preview = upload(infra_client, CI_PAGE, body)
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "1 to create, 1 to update, 0 unchanged" in page
    assert not ConfigurationItem.objects.filter(name="pg-new").exists()

    # Browsers send the textarea back with CRLF line ends: the digest does not mind.
    form = apply_form(page)
    form["content"] = form["content"].replace("\n", "\r\n")
    applied = infra_client.post(CI_PAGE, form, follow=True)
    assert applied.redirect_chain[-1][0] == reverse("ci_list")
    assert "1 created, 1 updated, 0 unchanged" in applied.content.decode()
    assert ConfigurationItem.objects.get(name="pg-new").description == "fresh"
    assert ConfigurationItem.objects.get(name="pg-old").description == "after"
    assert (
        AuditEntry.objects.filter(
            object_id="", model_label="mof.configurationitem", actor_name=infra_user.username
        ).count()
        == 1
    )


def test_apply_with_content_other_than_the_preview_writes_nothing(infra_client):
    form = apply_form(upload(infra_client, CI_PAGE, b"name,class\npg-a,server\n").content.decode())
    form["content"] = "name,class\npg-b,server\n"
    response = infra_client.post(CI_PAGE, form)
    assert response.status_code == 400 and "not the file that was previewed" in response.content.decode()
    assert not ConfigurationItem.objects.filter(name__in=["pg-a", "pg-b"]).exists()


def test_apply_rechecks_the_file_against_the_cmdb_as_it_is_now(infra_client):
    CIFactory(name="pg-x"), CIFactory(name="pg-y")
    form = apply_form(upload(infra_client, REL_PAGE, b"source,target\npg-x,pg-y\n").content.decode())
    ConfigurationItem.objects.filter(name="pg-y").delete()  # gone between preview and apply
    response = infra_client.post(REL_PAGE, form)
    assert response.status_code == 400 and "pg-y" in unescape(response.content.decode())
    assert not CIRelationship.objects.exists()


@override_settings(MOF_IMPORT_MAX_BYTES=20)
def test_a_file_over_the_limit_is_a_form_error(infra_client):
    response = upload(infra_client, CI_PAGE, b"name,class\n" + b"a" * 50 + b",server\n")
    assert response.status_code == 400 and "at most 20" in response.content.decode()


def test_missing_file_is_a_form_error(infra_client):
    response = infra_client.post(CI_PAGE, {"step": "preview"})
    assert response.status_code == 400 and "This field is required" in response.content.decode()


@pytest.mark.parametrize("page", [CI_PAGE, REL_PAGE])
def test_only_cmdb_editors_and_managers_may_import(client, support_user, partner_user, manager, page):
    for user, status in ((support_user, 403), (partner_user, 403), (manager, 200)):
        client.force_login(user)
        assert client.get(page).status_code == status
    client.force_login(support_user)
    assert upload(client, page, b"name,class\npg-z,server\n").status_code == 403
    assert client.get(reverse("csv_import_template", args=["cis"])).status_code == 403
    assert not ConfigurationItem.objects.filter(name="pg-z").exists()


def test_unknown_import_is_404(infra_client):
    assert infra_client.get(reverse("csv_import", args=["incidents"])).status_code == 404


def test_the_list_offers_import_only_to_who_may_import(client, infra_user, support_user):
    client.force_login(infra_user)
    assert CI_PAGE in client.get(reverse("ci_list")).content.decode()
    client.force_login(support_user)
    assert CI_PAGE not in client.get(reverse("ci_list")).content.decode()


def test_the_template_csv_imports_as_it_is(infra_client, infra_user):
    (
        ServiceFactory(name="Exchange mail"),
        ServiceFactory(name="Outlook Web Access"),
        ServiceFactory(name="Storage (SAN)"),
    )
    UserFactory(username="infra")
    for kind, plan in (("cis", cmdb_import.plan_ci_import), ("relationships", cmdb_import.plan_relationship_import)):
        response = infra_client.get(reverse("csv_import_template", args=[kind]))
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0] == list(cmdb_import.CI_COLUMNS if kind == "cis" else cmdb_import.RELATIONSHIP_COLUMNS)
        if kind == "cis":
            assert plan(actor=infra_user, data=response.content).errors == []
            cmdb_import.apply_ci_import(actor=infra_user, data=response.content)
        else:
            assert plan(actor=infra_user, data=response.content).errors == []
