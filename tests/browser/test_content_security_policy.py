"""In a real browser, under the portal's Content-Security-Policy: the login page, the
start page, the incident form (htmx suggestions, the known-error link button), an
incident's htmx transition panel and the API docs (Swagger UI) work and report no
violation."""

import os

import pytest

from incidents.models import KnownError, Problem
from mof.choices import RoleCluster
from tests.browser.conftest import log_in
from tests.factories import ServiceFactory, TeamFactory, UserFactory
from tests.incidents.factories import IncidentFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Records every violation the page reports (an init script runs whatever the policy says).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


def violations(page, console):
    return page.evaluate("window.__cspViolations") + [m for m in console if "Content Security Policy" in m]


def test_key_pages_run_under_the_policy_without_violations(browser, live_server, builtin_data):
    agent = UserFactory(username="csp-agent", roles=[RoleCluster.SUPPORT])
    TeamFactory(name="Messaging", role_cluster=RoleCluster.SUPPORT, members=[agent])
    mail = ServiceFactory(name="Exchange mail")
    problem = Problem.objects.create(title="Outlook password prompts")
    KnownError.objects.create(
        problem=problem,
        title="Outlook password prompt loop",
        root_cause="token cache",
        workaround="Clear the token cache.",
    )
    context = browser.new_context()
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    console = []
    page.on("console", lambda message: console.append(message.text))

    response = page.goto(f"{live_server.url}/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-eval" not in policy
    assert violations(page, console) == []
    log_in(page, live_server, "csp-agent")
    assert violations(page, console) == []

    # The filing form: typing asks htmx for known-error suggestions; linking one runs portal.js.
    page.goto(f"{live_server.url}/supporting/incidents/new/")
    with page.expect_response(lambda r: "suggest" in r.url or "known" in r.url):
        page.fill("#id_title", "Outlook password prompt")
        page.press("#id_title", "t")
    page.locator("button.link-known-error").first.click()
    assert page.locator("#known-error-chosen").inner_text() == "Linked: Outlook password prompt loop"
    assert page.locator("input[name=known_error]").input_value() == str(problem.known_error.pk)
    assert violations(page, console) == []

    # An incident's transition panel is htmx: taking it refreshes the page, which says so.
    incident = IncidentFactory(title="Mail is slow", service=mail)
    page.goto(f"{live_server.url}/supporting/incidents/{incident.pk}/")
    page.click("#take-it")
    page.wait_for_load_state()
    with page.expect_response(lambda r: "/transitions/start_work/" in r.url):
        page.click("#transitions-panel form[data-transition=start_work] button[type=submit]")
    page.locator(".messages .message-success", has_text="Start work done").wait_for()
    assert violations(page, console) == []

    # The API docs (Swagger UI from the sidecar) render under the same policy.
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.locator("#swagger-ui .info .title").wait_for()
    assert "MOF Portal API" in page.locator("#swagger-ui .info .title").inner_text()
    assert violations(page, console) == []
    context.close()
