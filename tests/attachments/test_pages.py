"""Attachments on the incident (desk and self-service), problem and change pages, and the
download that serves them only to those who may see the ticket."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import services as incident_services
from incidents.models import Problem
from mof import attachments
from mof.models import Attachment
from tests.attachments.samples import EXE, LOG, PDF, png_bytes, upload
from tests.changes.factories import ChangeFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    return {
        "agent": UserFactory(username="agent", roles=["support"]),
        "caller": UserFactory(username="caller", first_name="Carla", last_name="Caller"),
        "employee": UserFactory(username="employee"),
        "partner": UserFactory(username="partner", roles=["partner"]),
    }


@pytest.fixture
def incident(people):
    return incident_services.incident_create(
        actor=people["caller"], caller=people["caller"], title="Outlook cannot connect"
    )


def _as(client, user):
    client.force_login(user)
    return client


def _download(client, attachment):
    return client.get(reverse("attachment_download", args=[attachment.pk]))


def test_a_caller_attaches_a_screenshot_from_the_self_service_detail(client, people, incident):
    _as(client, people["caller"])
    page = client.get(reverse("incident_detail", args=[incident.pk])).content.decode()
    assert 'id="attach-form"' in page and 'enctype="multipart/form-data"' in page
    assert "attach-internal" not in page  # a caller cannot mark a file internal
    data = png_bytes()
    response = client.post(
        reverse("incident_attach", args=[incident.pk]), {"file": upload("screenshot.png", data, "image/png")}
    )
    assert response.status_code == 302 and response["Location"].endswith("#attach")
    attachment = Attachment.objects.get()
    assert (
        attachment.uploaded_by == people["caller"]
        and attachment.content_type == "image/png"
        and not attachment.internal
    )
    page = client.get(reverse("incident_detail", args=[incident.pk])).content.decode()
    assert (
        "screenshot.png" in page
        and reverse("attachment_download", args=[attachment.pk]) in page
        and "Carla Caller" in page
    )


def test_a_refused_file_is_an_error_on_the_page_and_nothing_is_stored(client, people, incident):
    _as(client, people["caller"])
    response = client.post(
        reverse("incident_attach", args=[incident.pk]), {"file": upload("screenshot.png", EXE, "image/png")}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "application/x-msdownload are not accepted" in page and 'class="field has-error"' in page
    assert not Attachment.objects.exists()
    response = client.post(reverse("incident_attach", args=[incident.pk]), {})
    assert response.status_code == 400 and "This field is required." in response.content.decode()


def test_the_download_is_an_attachment_with_the_detected_type_and_nosniff(client, people, incident):
    data = png_bytes()
    attachment = attachments.attach_file(incident, upload("écran 1.png", data), by=people["caller"])
    response = _download(_as(client, people["agent"]), attachment)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert response["Content-Type"] == "image/png"
    assert (
        response["Content-Disposition"].startswith("attachment;")
        and "filename*=utf-8''%C3%A9cran%201.png" in response["Content-Disposition"]
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert client.head(reverse("attachment_download", args=[attachment.pk])).status_code == 200


def test_markup_is_never_served_as_a_page_even_if_the_settings_let_it_in(client, people, incident, settings):
    settings.MOF_ATTACHMENT_ALLOWED_TYPES = [*settings.MOF_ATTACHMENT_ALLOWED_TYPES, "text/html"]
    attachment = attachments.attach_file(
        incident, upload("page", b"<html><script>alert(1)</script></html>"), by=people["agent"]
    )
    assert attachment.content_type == "text/html"
    response = _download(_as(client, people["agent"]), attachment)
    assert response["Content-Type"] == "application/octet-stream" and response["Content-Disposition"].startswith(
        "attachment;"
    )


def test_a_caller_never_sees_or_downloads_an_internal_file(client, people, incident):
    shared = attachments.attach_file(incident, upload("steps.pdf", PDF), by=people["agent"])
    internal = attachments.attach_file(
        incident, upload("mailbox-db04-corrupt.log", LOG), by=people["agent"], internal=True
    )
    page = _as(client, people["caller"]).get(reverse("incident_detail", args=[incident.pk])).content.decode()
    assert "steps.pdf" in page and "mailbox-db04-corrupt.log" not in page
    assert _download(client, shared).status_code == 200
    assert _download(client, internal).status_code == 404
    desk_page = _as(client, people["agent"]).get(reverse("incident_detail", args=[incident.pk])).content.decode()
    assert "mailbox-db04-corrupt.log" in desk_page and "internal</span>" in desk_page
    assert _download(client, internal).status_code == 200


def test_another_employee_cannot_download_someone_else_s_incident_file(client, people, incident):
    attachment = attachments.attach_file(incident, upload("mine.log", LOG), by=people["caller"])
    assert _download(_as(client, people["employee"]), attachment).status_code == 404
    assert (
        client.post(reverse("incident_attach", args=[incident.pk]), {"file": upload("x.log", LOG)}).status_code == 404
    )
    client.logout()
    assert _download(client, attachment).status_code == 302  # to the sign-in page


def test_the_desk_marks_a_file_internal_from_the_page(client, people, incident):
    _as(client, people["agent"])
    response = client.post(
        reverse("incident_attach", args=[incident.pk]), {"file": upload("trace.log", LOG), "internal": "on"}
    )
    assert response.status_code == 302 and Attachment.objects.get().internal


def test_a_closed_incident_takes_no_more_files(client, people, incident):
    from incidents.models import Incident

    Incident.objects.filter(pk=incident.pk).update(status="closed")
    _as(client, people["caller"])
    assert 'id="attach-form"' not in client.get(reverse("incident_detail", args=[incident.pk])).content.decode()
    response = client.post(reverse("incident_attach", args=[incident.pk]), {"file": upload("late.log", LOG)})
    assert response.status_code == 400 and "nothing more can be attached" in response.content.decode()


def test_problem_page_upload_and_visibility(client, people):
    problem = Problem.objects.create(title="Mailbox database corruption")
    _as(client, people["agent"])
    response = client.post(reverse("problem_attach", args=[problem.pk]), {"file": upload("rca.pdf", PDF)})
    assert response.status_code == 302
    attachment = Attachment.objects.get()
    page = client.get(reverse("problem_detail", args=[problem.pk])).content.decode()
    assert attachment.ticket == problem and "rca.pdf" in page
    assert 'id="attach-form"' in page and "attach-internal" not in page  # a problem is internal as a whole
    refused = client.post(reverse("problem_attach", args=[problem.pk]), {"file": upload("rca.pdf", LOG)})
    assert refused.status_code == 400 and "The name says .pdf" in refused.content.decode()
    # Problems are internal: a caller has neither the page nor the file.
    _as(client, people["caller"])
    assert client.get(reverse("problem_detail", args=[problem.pk])).status_code == 404
    assert _download(client, attachment).status_code == 404


def test_change_page_upload_and_a_partner_party_sees_no_internal_file(client, people):
    change = ChangeFactory(requester=people["agent"], implementer=people["partner"])
    _as(client, people["partner"])
    assert client.post(reverse("change_attach", args=[change.pk]), {"file": upload("plan.pdf", PDF)}).status_code == 302
    _as(client, people["agent"])
    assert (
        client.post(
            reverse("change_attach", args=[change.pk]), {"file": upload("fw-rules.log", LOG), "internal": "on"}
        ).status_code
        == 302
    )
    plan, rules = Attachment.objects.order_by("pk")
    assert not plan.internal and rules.internal
    page = _as(client, people["partner"]).get(reverse("change_detail", args=[change.pk])).content.decode()
    assert "plan.pdf" in page and "fw-rules.log" not in page  # nor in the history (redacted)
    assert _download(client, plan).status_code == 200 and _download(client, rules).status_code == 404
    outsider = UserFactory(username="outsider", roles=["partner"])
    assert _download(_as(client, outsider), plan).status_code == 404


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx)


def test_detail_pages_read_their_files_in_a_constant_number_of_queries(client, people, incident):
    problem = Problem.objects.create(title="Mailbox database corruption")
    change = ChangeFactory(requester=people["agent"])
    _as(client, people["agent"])
    for ticket, url in (
        (incident, reverse("incident_detail", args=[incident.pk])),
        (problem, reverse("problem_detail", args=[problem.pk])),
        (change, reverse("change_detail", args=[change.pk])),
    ):
        attachments.attach_file(ticket, upload("one.log", LOG), by=people["agent"])
        _count(client, url)  # warm caches (content types, sessions)
        one = _count(client, url)
        # More files, from other uploaders (each a user to show): still the same queries.
        for i in range(4):
            uploader = UserFactory(username=f"up{i}-{type(ticket).__name__}", roles=["support"])
            attachments.attach_file(ticket, upload(f"more-{i}.log", LOG), by=uploader)
        assert _count(client, url) == one, url


def test_admins_list_attachments_in_the_admin_without_changing_them(client, people, incident):
    from tests.factories import AdminFactory

    attachments.attach_file(incident, upload("trace.log", LOG), by=people["caller"])
    admin_user = AdminFactory(username="root", is_staff=True)
    _as(client, admin_user)
    page = client.get("/admin/mof/attachment/")
    assert page.status_code == 200 and "trace.log" in page.content.decode()
    assert client.get("/admin/mof/attachment/add/").status_code == 403
    _as(client, people["agent"])
    assert client.get("/admin/mof/attachment/").status_code == 302  # not staff: to the admin's sign-in
