"""Local passwords: on for everyone by default, only for break-glass administrators with
MOF_LOCAL_LOGIN=break-glass; password reset by mail for local accounts (Django's views)."""

import re

import pytest
from django.contrib.auth import authenticate
from django.core import mail
from django.test import Client, override_settings

from mof.identity.models import BreakGlassAccount
from tests.factories import PASSWORD, AdminFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_local_passwords_work_for_everyone_by_default():
    person = UserFactory()
    assert authenticate(username=person.username, password=PASSWORD) == person


@override_settings(MOF_LOCAL_LOGIN="break-glass")
def test_break_glass_mode_refuses_local_passwords_except_for_break_glass_admins():
    person, admin, glass = UserFactory(), AdminFactory(), AdminFactory()
    BreakGlassAccount.objects.create(user=glass, reason="directory outage")
    assert authenticate(username=person.username, password=PASSWORD) is None
    assert authenticate(username=admin.username, password=PASSWORD) is None  # an admin, but not break-glass
    assert authenticate(username=glass.username, password=PASSWORD) == glass
    response = Client().post("/login/", {"username": person.username, "password": PASSWORD})
    assert response.status_code == 200 and "break-glass" in response.content.decode()
    client = Client()
    assert client.post("/login/", {"username": glass.username, "password": PASSWORD}).status_code == 302


@override_settings(MOF_LOCAL_LOGIN="break-glass")
def test_break_glass_mode_ends_existing_local_sessions_of_other_people():
    person = UserFactory()
    client = Client()
    with override_settings(MOF_LOCAL_LOGIN="on"):
        client.force_login(person, backend="mof.auth_backends.PortalBackend")
    assert client.get("/").status_code == 302  # back to the sign-in page


def test_api_tokens_are_unaffected_by_break_glass_mode():
    from mof import tokens

    person = UserFactory()
    _, key = tokens.token_issue(actor=person, owner=person, name="script")
    with override_settings(MOF_LOCAL_LOGIN="break-glass"):
        assert Client().get("/api/v1/incidents/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
        assert Client().get("/api/v1/incidents/").status_code == 401


def test_password_reset_mails_an_absolute_link_that_sets_a_new_password(settings):
    settings.MOF_BASE_URL = "https://portal.example.com"
    person = UserFactory(email="pat@example.test")
    client = Client()
    response = client.post("/password-reset/", {"email": "pat@example.test"})
    assert response.status_code == 302 and response.url == "/password-reset/sent/"
    [message] = mail.outbox
    link = re.search(r"https://portal\.example\.com(/password-reset/\S+/)", message.body).group(1)
    response = client.get(link, follow=True)
    assert b"Choose a new password" in response.content
    response = client.post(
        response.redirect_chain[-1][0], {"new_password1": "a-brand-new-pw-42", "new_password2": "a-brand-new-pw-42"}
    )
    assert response.status_code == 302 and response.url == "/password-reset/done/"
    assert authenticate(username=person.username, password="a-brand-new-pw-42") == person


def test_no_reset_mail_for_directory_people_or_service_accounts():
    directory_person = UserFactory(email="dir@example.test")
    directory_person.set_unusable_password()
    directory_person.save()
    service = UserFactory(email="svc@example.test")
    type(service).objects.filter(pk=service.pk).update(is_service_account=True)
    for address in ("dir@example.test", "svc@example.test"):
        assert Client().post("/password-reset/", {"email": address}).status_code == 302
    assert mail.outbox == []


@override_settings(MOF_LOCAL_LOGIN="break-glass")
def test_in_break_glass_mode_only_break_glass_admins_get_a_reset_mail():
    UserFactory(email="pat@example.test")
    glass = AdminFactory(email="glass@example.test")
    BreakGlassAccount.objects.create(user=glass)
    Client().post("/password-reset/", {"email": "pat@example.test"})
    Client().post("/password-reset/", {"email": "glass@example.test"})
    assert [m.to for m in mail.outbox] == [["glass@example.test"]]


def test_single_sign_on_pages_are_absent_until_configured():
    client = Client()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
    assert b"sso-sign-in" not in client.get("/login/").content
