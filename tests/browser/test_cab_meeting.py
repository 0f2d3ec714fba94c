"""In a real browser: a manager opens a CAB meeting, approves a change in meeting mode with
one click and sees it approved at once; the requester cannot open meeting mode or decide."""

import os

import pytest

from changes.choices import ChangeStatus
from changes.models import RequestForChange
from mof.choices import RoleCluster
from tests.browser.conftest import log_in
from tests.factories import ManagerFactory, UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def cab_in_session(builtin_data):
    from reviews import services
    from tests.reviews.conftest import change_in, make_meeting, vote_all

    people = {
        "chair": ManagerFactory(username="chair", roles=[RoleCluster.OPERATIONS]),
        "deputy": ManagerFactory(username="deputy", roles=[RoleCluster.SECURITY]),
        "rel": UserFactory(username="rel", roles=[RoleCluster.RELEASE]),
        "infra": UserFactory(username="infra-voter", roles=[RoleCluster.INFRASTRUCTURE]),
        "ops": UserFactory(username="ops-voter", roles=[RoleCluster.OPERATIONS]),
        "requester": UserFactory(username="requester", roles=[RoleCluster.RELEASE]),
    }
    meeting = make_meeting(people)
    change = change_in(
        requester=people["requester"],
        title="Core router firmware 15.2",
        cost_estimate="1200.00",
        expected_benefit_value="5000.00",
    )
    [item] = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    vote_all(item, people)
    return {"meeting": meeting, "change": change, "item": item, **people}


def test_manager_approves_in_meeting_mode(page, live_server, cab_in_session):
    meeting, change = cab_in_session["meeting"], cab_in_session["change"]
    log_in(page, live_server, "chair")
    page.goto(f"{live_server.url}/reviews/meetings/{meeting.pk}/")
    assert change.reference in page.locator("[data-list=agenda]").inner_text()
    page.click("a[data-action=meeting-mode]")
    page.wait_for_url(f"**/mode/{cab_in_session['item'].pk}/")
    item = page.locator("#mode-item")
    assert "Core router firmware 15.2" in item.inner_text() and "3 of 3 needed" in item.inner_text()
    page.fill("#mode-item textarea[name=reason]", "Fixes the BGP memory leak")
    page.click("#mode-item button[data-decision=approve]")
    page.locator("#mode-item [data-result]").wait_for()
    assert "Approved" in page.locator("#mode-item [data-subject-state]").inner_text()
    assert "approve" in page.locator("#mode-item [data-outcome]").inner_text()
    assert page.url.endswith(f"/mode/{cab_in_session['item'].pk}/")  # htmx: no page load
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.APPROVED
    page.goto(f"{live_server.url}/changing/changes/{change.pk}/")
    assert "Approved" in page.locator("h1").inner_text()


def test_requester_cannot_open_meeting_mode_or_decide(page, live_server, cab_in_session):
    meeting, item, change = cab_in_session["meeting"], cab_in_session["item"], cab_in_session["change"]
    log_in(page, live_server, "requester")
    page.goto(f"{live_server.url}/reviews/meetings/{meeting.pk}/")
    assert page.locator("a[data-action=meeting-mode]").count() == 0
    response = page.goto(f"{live_server.url}/reviews/meetings/{meeting.pk}/mode/{item.pk}/")
    assert response.status == 403
    # A forged decision POST from the requester's session is refused too.
    status, text = page.evaluate(
        """async (url) => {
            const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken='))?.split('=')[1] || '';
            const r = await fetch(url, {method: 'POST', headers: {'X-CSRFToken': token, 'Content-Type': 'application/x-www-form-urlencoded'}, body: 'decision=approve'});
            return [r.status, await r.text()];
        }""",
        f"{live_server.url}/reviews/meetings/{meeting.pk}/items/{item.pk}/decide/",
    )
    assert status == 403 and "CSRF verification failed" not in text and "You may not review decide" in text
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED
