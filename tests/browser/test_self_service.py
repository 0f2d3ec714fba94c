"""In a real browser: an employee files an incident on the self-service page; an agent
takes it from the queue, starts work, puts it on hold awaiting the caller and resolves
it; the employee sees the resolution and reopens it."""

import os

import pytest

from incidents.models import Incident, IncidentNote
from mof.choices import RoleCluster
from tests.browser.conftest import log_in
from tests.factories import ServiceFactory, TeamFactory, UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


LABELS = {"start_work": "Start work", "hold": "Put on hold", "resolve": "Resolve", "reopen": "Reopen"}


def open_action(page, name):
    """Open the form of a transition that takes input (its button opens it in place)."""
    page.click(f"#transitions-panel [data-action={name}] > details > summary")
    return page.locator(f"#transitions-panel form[data-transition={name}]")


def take(page, name):
    """Take a transition in the htmx panel: the page then refreshes and confirms this one."""
    with page.expect_navigation():
        page.click(f"#transitions-panel form[data-transition={name}] button[type=submit]")
    page.locator(".messages .message-success", has_text=f"{LABELS[name]} done").wait_for()


def test_employee_files_agent_holds_and_resolves_employee_reopens(browser, live_server, builtin_data):
    employee = UserFactory(username="employee", first_name="Erin", last_name="Employee")
    agent = UserFactory(username="agent", first_name="Alex", last_name="Agent", roles=[RoleCluster.SUPPORT])
    TeamFactory(name="Messaging", role_cluster=RoleCluster.SUPPORT, members=[agent])
    mail = ServiceFactory(name="Exchange mail")

    # The employee reports the fault in plain words.
    employee_page = browser.new_context().new_page()
    employee_page.set_default_timeout(15_000)
    log_in(employee_page, live_server, "employee")
    employee_page.goto(f"{live_server.url}/supporting/self-service/")
    employee_page.fill("#id_title", "Outlook keeps asking for my password")
    employee_page.fill("#id_description", "Since this morning, every few minutes.")
    employee_page.select_option("#id_service", str(mail.pk))
    employee_page.check("input[name=urgency][value='2']")
    employee_page.click("#self-service-form button[type=submit]")
    employee_page.locator("#incident-status").wait_for()
    incident = Incident.objects.get()
    assert incident.caller == employee and incident.service == mail and incident.status == "new"
    assert "New" in employee_page.locator("#incident-status").inner_text()

    # The agent takes it from the queue: assign to self, start work, hold awaiting the caller, resolve.
    agent_page = browser.new_context().new_page()
    agent_page.set_default_timeout(15_000)
    log_in(agent_page, live_server, "agent")
    agent_page.goto(f"{live_server.url}/supporting/incidents/?queue=triage")
    agent_page.click(f"text={incident.reference}")
    agent_page.wait_for_url(f"{live_server.url}/supporting/incidents/{incident.pk}/")
    agent_page.click("#take-it")
    agent_page.wait_for_load_state()
    assert "Alex Agent" in agent_page.locator("#incident-assignee").inner_text()
    take(agent_page, "start_work")
    assert "In progress" in agent_page.locator("#transitions-panel .current-state").inner_text()
    hold = open_action(agent_page, "hold")
    hold.locator("select[name=hold_reason]").select_option("awaiting_caller")
    hold.locator(".optional-fields > summary").click()  # the note is optional: folded
    hold.locator("textarea[name=reason]").fill("Asked Erin for the exact error text.")
    take(agent_page, "hold")
    assert "On hold" in agent_page.locator("#transitions-panel .current-state").inner_text()
    agent_page.goto(f"{live_server.url}/supporting/incidents/?queue=on_hold")
    assert incident.reference in agent_page.locator("table.queue-table").inner_text()
    agent_page.goto(f"{live_server.url}/supporting/incidents/{incident.pk}/")
    agent_page.fill("#note-form textarea[name=body]", "INTERNAL: token cache corrupt on her laptop")
    agent_page.select_option("#note-form select[name=kind]", "work_note")
    agent_page.click("#note-form button[type=submit]")
    agent_page.wait_for_load_state()
    resolve = open_action(agent_page, "resolve")
    resolve.locator("select[name=resolution_code]").select_option("fixed")
    resolve.locator("textarea[name=resolution_notes]").fill("Cleared the cached credentials; sign in once more.")
    take(agent_page, "resolve")
    incident.refresh_from_db()
    assert incident.status == "resolved" and incident.hold_reason == ""

    # The employee sees the resolution (never the work note) and reopens it.
    employee_page.goto(f"{live_server.url}/supporting/incidents/{incident.pk}/")
    assert "Cleared the cached credentials" in employee_page.locator("#resolution").inner_text()
    assert "INTERNAL" not in employee_page.content()
    assert IncidentNote.objects.filter(incident=incident, kind="work_note").exists()
    reopen = open_action(employee_page, "reopen")
    reopen.locator("textarea[name=reason]").fill("It asks again since lunch.")
    take(employee_page, "reopen")
    assert "In progress" in employee_page.locator("#transitions-panel .current-state").inner_text()
    incident.refresh_from_db()
    assert incident.status == "in_progress" and incident.reopen_count == 1

    # And follows it on the self-service page.
    employee_page.goto(f"{live_server.url}/supporting/self-service/")
    assert incident.reference in employee_page.locator("#my-incidents").inner_text()
    agent_page.context.close()
    employee_page.context.close()
