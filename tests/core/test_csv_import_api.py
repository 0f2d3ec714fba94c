"""The CMDB's CSV import over the API: POST /api/v1/cis/import/ and
/api/v1/relationships/import/, a multipart file or a text/csv body, ?dry_run=true to
preview; 400 with {"errors": [{"row", "field", "message"}]} and nothing written."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from mof.models import AuditEntry, CIRelationship, ConfigurationItem
from tests.conftest import api_as
from tests.factories import CIFactory

pytestmark = pytest.mark.django_db

CIS = "/api/v1/cis/import/"
RELATIONSHIPS = "/api/v1/relationships/import/"
GOOD = b"name,class,environment\napi-01,server,production\napi-02,storage,test\n"
ONE_BAD = b"name,class,environment\napi-01,server,production\napi-02,storage,moon\napi-03,server,\n"


def post_csv(client, url, body: bytes, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return client.post(f"{url}?{query}" if query else url, data=body, content_type="text/csv")


def post_file(client, url, body: bytes, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    upload = SimpleUploadedFile("cis.csv", body, content_type="text/csv")
    return client.post(f"{url}?{query}" if query else url, data={"file": upload}, format="multipart")


def test_one_bad_row_is_a_400_naming_row_and_field_and_nothing_is_written(infra_user):
    count = AuditEntry.objects.count()
    response = post_csv(api_as(infra_user), CIS, ONE_BAD)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"row": 3, "field": "environment", "message": response.json()["errors"][0]["message"]}
    ]
    assert "moon" in response.json()["errors"][0]["message"]
    assert not ConfigurationItem.objects.filter(name__startswith="api-").exists()
    assert AuditEntry.objects.count() == count


def test_dry_run_previews_and_writes_nothing_then_apply_writes(infra_user):
    client = api_as(infra_user)
    preview = post_file(client, CIS, GOOD, dry_run="true")
    assert preview.status_code == 200, preview.content
    body = preview.json()
    assert body["dry_run"] is True and body["applied"] is False
    assert body["summary"] == {"rows": 2, "create": 2, "update": 0, "unchanged": 0, "errors": 0}
    assert [(r["row"], r["action"], r["label"]) for r in body["rows"]] == [
        (2, "create", "api-01"),
        (3, "create", "api-02"),
    ]
    assert not ConfigurationItem.objects.filter(name__startswith="api-").exists()

    applied = post_file(client, CIS, GOOD, sha256=body["sha256"])
    assert applied.status_code == 200 and applied.json()["applied"] is True
    assert set(ConfigurationItem.objects.filter(name__startswith="api-").values_list("name", "environment")) == {
        ("api-01", "production"),
        ("api-02", "test"),
    }
    again = post_csv(client, CIS, GOOD)
    assert again.json()["summary"]["unchanged"] == 2


def test_dry_run_with_errors_is_a_400_with_every_error(infra_user):
    response = post_csv(api_as(infra_user), CIS, b"name,class\n,server\nx,nope\n", dry_run="1")
    assert response.status_code == 400
    assert [(e["row"], e["field"]) for e in response.json()["errors"]] == [(2, "name"), (3, "class")]


def test_apply_of_another_file_than_the_previewed_one_is_refused(infra_user):
    response = post_csv(api_as(infra_user), CIS, GOOD, sha256="0" * 64)
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "file"
    assert not ConfigurationItem.objects.filter(name__startswith="api-").exists()


def test_relationships_import_over_the_api(infra_user):
    CIFactory(name="web-01"), CIFactory(name="vm-01")
    response = post_csv(api_as(infra_user), RELATIONSHIPS, b"source,type,target\nweb-01,runs_on,vm-01\n")
    assert response.status_code == 200, response.content
    assert CIRelationship.objects.filter(source__name="web-01", target__name="vm-01", type="runs_on").exists()
    bad = post_csv(api_as(infra_user), RELATIONSHIPS, b"source,type,target\nweb-01,runs_on,nowhere\n")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "target"


@pytest.mark.parametrize("url", [CIS, RELATIONSHIPS])
def test_who_may_not_edit_the_cmdb_gets_403_and_anonymous_401(support_user, url):
    assert post_csv(api_as(support_user), url, GOOD).status_code == 403
    assert post_csv(api_as(None), url, GOOD).status_code == 401
    assert not ConfigurationItem.objects.filter(name__startswith="api-").exists()


@override_settings(MOF_IMPORT_MAX_BYTES=50)
def test_a_file_over_the_limit_is_refused(infra_user):
    for send in (post_csv, post_file):
        response = send(api_as(infra_user), CIS, GOOD + b"x" * 100)
        assert response.status_code == 400 and response.json()["errors"][0]["row"] is None


def test_missing_file_and_bad_encoding_are_400s_never_500s(infra_user):
    client = api_as(infra_user)
    missing = client.post(CIS, data={}, format="multipart")
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "file"
    latin = post_csv(client, CIS, "name,class\ncafé,server\n".encode("latin-1"))
    assert latin.status_code == 400 and "UTF-8" in latin.json()["errors"][0]["message"]
    binary = post_csv(client, CIS, b"\x00\x01\x02")
    assert binary.status_code == 400
