"""/api/v1/{incidents|problems|changes}/{id}/attachments/: list, multipart upload, details and
download, with the pages' visibility rules and 400s naming `file`."""

import pytest
from django.test import override_settings

from incidents import services as incident_services
from incidents.models import Problem
from mof import attachments
from mof.models import Attachment, AuditEntry
from tests.attachments.samples import EXE, HTML, LOG, PDF, png_bytes, upload
from tests.changes.factories import ChangeFactory
from tests.conftest import api_as
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    return {
        "agent": UserFactory(username="agent", roles=["support"]),
        "caller": UserFactory(username="caller"),
        "employee": UserFactory(username="employee"),
    }


@pytest.fixture
def incident(people):
    return incident_services.incident_create(
        actor=people["caller"], caller=people["caller"], title="Outlook cannot connect"
    )


def _url(incident, *rest):
    return "/".join([f"/api/v1/incidents/{incident.pk}/attachments", *map(str, rest)]) + "/"


def test_upload_list_and_download_through_the_api(people, incident):
    client = api_as(people["caller"])
    data = png_bytes()
    response = client.post(_url(incident), {"file": upload("screen.png", data, "text/html")}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    attachment = Attachment.objects.get()
    assert body["id"] == attachment.pk and body["name"] == "screen.png" and body["size"] == len(data)
    assert (
        body["content_type"] == "image/png" and body["internal"] is False and body["uploaded_by"] == people["caller"].pk
    )
    assert (
        body["download_url"]
        == f"http://testserver/api/v1/incidents/{incident.pk}/attachments/{attachment.pk}/download/"
    )
    listed = client.get(_url(incident)).json()
    assert listed["count"] == 1 and listed["results"] == [body]
    assert client.get(_url(incident, attachment.pk)).json() == body
    download = client.get(body["download_url"], HTTP_ACCEPT="image/png")
    assert download.status_code == 200 and b"".join(download.streaming_content) == data
    assert download["Content-Type"] == "image/png" and download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"] == 'attachment; filename="screen.png"'
    assert AuditEntry.objects.filter(
        model_label="mof.attachment", object_id=str(attachment.pk), action="create", via="api"
    ).exists()


@pytest.mark.parametrize(
    "name,data,message",
    [
        ("screen.png", EXE, "Files of type application/x-msdownload are not accepted"),
        ("screen.png", HTML, "Files of type text/html are not accepted"),
        ("screen.png", LOG, "The name says .png (image/png) but the content is text/plain."),
    ],
)
def test_a_file_of_the_wrong_type_is_a_400_naming_file(people, incident, name, data, message):
    response = api_as(people["agent"]).post(
        _url(incident), {"file": upload(name, data, "image/png")}, format="multipart"
    )
    assert response.status_code == 400 and message in response.json()["file"][0]
    assert not Attachment.objects.exists()


def test_too_large_too_many_missing_and_unknown_fields_are_400s(people, incident):
    client = api_as(people["agent"])
    with override_settings(MOF_ATTACHMENT_MAX_BYTES=10):
        response = client.post(_url(incident), {"file": upload("a.log", LOG)}, format="multipart")
    assert response.status_code == 400 and "at most 10\xa0bytes may be attached" in response.json()["file"][0]
    with override_settings(MOF_ATTACHMENT_MAX_PER_TICKET=1):
        assert client.post(_url(incident), {"file": upload("a.log", LOG)}, format="multipart").status_code == 201
        response = client.post(_url(incident), {"file": upload("b.log", LOG)}, format="multipart")
    assert response.status_code == 400 and response.json()["file"] == [
        "This incident already has 1 files, the most one may have."
    ]
    response = client.post(_url(incident), {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()
    response = client.post(_url(incident), {"file": upload("c.log", LOG), "colour": "red"}, format="multipart")
    assert response.status_code == 400 and "colour" in response.json()
    # JSON is not a file upload.
    assert client.post(_url(incident), {"file": "aGVsbG8="}, format="json").status_code == 415


def test_a_caller_never_sees_internal_files_in_the_api(people, incident):
    shared = attachments.attach_file(incident, upload("steps.pdf", PDF), by=people["agent"])
    internal = attachments.attach_file(incident, upload("db.log", LOG), by=people["agent"], internal=True)
    caller = api_as(people["caller"])
    assert [a["id"] for a in caller.get(_url(incident)).json()["results"]] == [shared.pk]
    assert caller.get(_url(incident, internal.pk)).status_code == 404
    assert caller.get(_url(incident, internal.pk, "download")).status_code == 404
    assert caller.get(_url(incident, shared.pk, "download")).status_code == 200
    # Nor may a caller mark one internal.
    refused = caller.post(_url(incident), {"file": upload("x.log", LOG), "internal": "true"}, format="multipart")
    assert refused.status_code == 403
    agent = api_as(people["agent"])
    assert [a["id"] for a in agent.get(_url(incident)).json()["results"]] == [shared.pk, internal.pk]
    made = agent.post(_url(incident), {"file": upload("y.log", LOG), "internal": "true"}, format="multipart")
    assert made.status_code == 201 and made.json()["internal"] is True


def test_another_employee_gets_404_for_someone_else_s_incident_files(people, incident):
    attachment = attachments.attach_file(incident, upload("mine.log", LOG), by=people["caller"])
    other = api_as(people["employee"])
    assert other.get(_url(incident)).status_code == 404
    assert other.get(_url(incident, attachment.pk)).status_code == 404
    download = other.get(_url(incident, attachment.pk, "download"), HTTP_ACCEPT="application/octet-stream")
    assert download.status_code == 404 and download["Content-Type"] == "application/json"
    assert other.post(_url(incident), {"file": upload("x.log", LOG)}, format="multipart").status_code == 404
    assert api_as(None).get(_url(incident, attachment.pk, "download")).status_code == 401


def test_a_file_is_only_reachable_under_its_own_ticket(people, incident):
    attachment = attachments.attach_file(incident, upload("mine.log", LOG), by=people["caller"])
    other = incident_services.incident_create(actor=people["caller"], caller=people["caller"], title="Another")
    client = api_as(people["caller"])
    assert client.get(_url(other, attachment.pk)).status_code == 404
    assert client.get(_url(other, attachment.pk, "download")).status_code == 404


def test_the_list_takes_cursor_pagination_and_sparse_fields(people, incident):
    for i in range(3):
        attachments.attach_file(incident, upload(f"{i}.log", LOG), by=people["agent"])
    client = api_as(people["agent"])
    first = client.get(_url(incident), {"cursor": "", "page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    rest = client.get(first["next"]).json()
    assert [r["name"] for r in first["results"] + rest["results"]] == ["0.log", "1.log", "2.log"]
    assert client.get(_url(incident), {"fields": "id,name"}).json()["results"][0].keys() == {"id", "name"}
    assert client.get(_url(incident), {"fields": "colour"}).status_code == 400


def test_problems_and_changes_have_the_same_endpoints(people):
    problem = Problem.objects.create(title="Mailbox database corruption")
    agent = api_as(people["agent"])
    response = agent.post(
        f"/api/v1/problems/{problem.pk}/attachments/", {"file": upload("rca.pdf", PDF)}, format="multipart"
    )
    assert response.status_code == 201
    download = agent.get(response.json()["download_url"])
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert api_as(people["caller"]).get(f"/api/v1/problems/{problem.pk}/attachments/").status_code == 404

    change = ChangeFactory(requester=people["employee"])  # a party who is not IT staff
    requester = api_as(people["employee"])
    response = requester.post(
        f"/api/v1/changes/{change.pk}/attachments/", {"file": upload("plan.pdf", PDF)}, format="multipart"
    )
    assert response.status_code == 201
    assert requester.get(f"/api/v1/changes/{change.pk}/attachments/").json()["count"] == 1
    assert requester.get(response.json()["download_url"]).status_code == 200
    assert api_as(people["caller"]).get(f"/api/v1/changes/{change.pk}/attachments/").status_code == 404
