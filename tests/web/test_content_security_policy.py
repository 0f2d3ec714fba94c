"""Every answer carries the Content-Security-Policy, and no template needs inline script."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"


@pytest.mark.parametrize("path", ["/login/", "/", "/api/v1/cis/", "/api/v1/docs/", "/no-such-page/", "/admin/login/"])
def test_every_answer_has_a_strict_policy(client, path):
    client.force_login(UserFactory(username="csp"))
    policy = client.get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'" and directives["base-uri"] == "'self'"
    assert "unsafe-eval" not in policy and "unsafe-inline" not in directives["script-src"]


def test_the_docs_start_up_script_is_a_file_not_inline(client):
    client.force_login(UserFactory(username="csp-docs"))
    html = client.get("/api/v1/docs/").content.decode()
    assert not re.search(r"<script>(?!\s*</script>)", html)  # every <script> has a src


def test_no_template_has_inline_script_or_event_handler_attributes():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        if (
            re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text)
            or re.search(r"\son[a-z]+\s*=", text)
            or "javascript:" in text
        ):
            offenders.append(str(template.relative_to(TEMPLATES)))
    assert offenders == []


@override_settings(MOF_CONTENT_SECURITY_POLICY="default-src 'none'")
def test_the_policy_can_be_replaced_from_the_settings(client):
    assert client.get("/login/")["Content-Security-Policy"] == "default-src 'none'"
