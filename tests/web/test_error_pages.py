"""Error answers are the portal's styled pages, also with DEBUG on, and a CSRF failure
is not Django's bare page; a successful htmx transition refreshes the whole page."""

import pytest
from django.test import Client, override_settings

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@override_settings(DEBUG=True)
def test_a_404_with_debug_on_is_the_styled_page_not_the_technical_one(client):
    client.force_login(UserFactory())
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    content = response.content.decode()
    assert "error-page" in content and "Not found (404)" in content and "portal.css" in content
    assert "DEBUG = True" not in content and "URLconf" not in content


@override_settings(DEBUG=True)
def test_a_404_raised_by_a_view_with_debug_on_is_styled(client):
    client.force_login(UserFactory())
    response = client.get("/changing/changes/999999/")
    assert response.status_code == 404 and "Not found (404)" in response.content.decode()


@override_settings(DEBUG=True)
def test_the_api_keeps_its_json_404_with_debug_on(client):
    client.force_login(UserFactory())
    response = client.get("/api/v1/no-such-endpoint/")
    assert response.status_code == 404 and "error-page" not in response.content.decode()


@pytest.mark.urls("tests.core.boom_urls")
@override_settings(DEBUG=True)
def test_a_500_with_debug_on_is_the_styled_page_with_the_traceback_folded():
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory())
    response = client.get("/boom/")
    assert response.status_code == 500
    content = response.content.decode()
    assert "Server error (500)" in content and "portal.css" in content and response["X-Request-ID"] in content
    assert "<details>" in content and "RuntimeError: the page broke" in content


@pytest.mark.urls("tests.core.boom_urls")
@override_settings(DEBUG=False)
def test_a_500_with_debug_off_never_shows_the_traceback():
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory())
    response = client.get("/boom/")
    assert response.status_code == 500 and "RuntimeError" not in response.content.decode()


def test_a_csrf_failure_is_the_styled_403_page():
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory())
    response = client.post("/logout/")
    assert response.status_code == 403
    content = response.content.decode()
    assert "Not permitted (403)" in content and "portal.css" in content and "Reload the page" in content
    assert "CSRF verification failed" not in content
