"""In a real browser: a refused htmx action shows its reasons inline, in the page's style,
and never swaps a bare or whole page into the page; a successful one refreshes what it changed."""

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
def cab_without_votes(builtin_data):
    from reviews import services
    from tests.reviews.conftest import change_in, make_meeting

    people = {
        "chair": ManagerFactory(username="chair", roles=[RoleCluster.OPERATIONS]),
        "deputy": ManagerFactory(username="deputy", roles=[RoleCluster.SECURITY]),
        "rel": UserFactory(username="rel", roles=[RoleCluster.RELEASE]),
        "infra": UserFactory(username="infra-voter", roles=[RoleCluster.INFRASTRUCTURE]),
        "ops": UserFactory(username="ops-voter", roles=[RoleCluster.OPERATIONS]),
        "requester": UserFactory(username="requester", roles=[RoleCluster.RELEASE]),
    }
    meeting = make_meeting(people)
    change = change_in(requester=people["requester"], title="Core router firmware 15.2")
    [item] = services.agenda_refresh(actor=people["chair"], meeting=meeting)
    return {"meeting": meeting, "change": change, "item": item, **people}


def _is_styled(page, selector):
    """The element is laid out by the portal's CSS (an alert has a border and padding)."""
    return page.evaluate(
        """(sel) => { const el = document.querySelector(sel); if (!el) return false;
            const s = getComputedStyle(el); return parseFloat(s.paddingLeft) > 0 && s.borderLeftStyle !== 'none'; }""",
        selector,
    )


def test_approving_before_quorum_in_meeting_mode_is_refused_inline_and_styled(page, live_server, cab_without_votes):
    meeting, item, change = cab_without_votes["meeting"], cab_without_votes["item"], cab_without_votes["change"]
    log_in(page, live_server, "chair")
    page.goto(f"{live_server.url}/reviews/meetings/{meeting.pk}/mode/{item.pk}/")
    page.fill("#mode-item textarea[name=reason]", "Too early")
    page.click("#mode-item button[data-decision=approve]")
    alert = page.locator("#mode-item [data-failed]")
    alert.wait_for()
    os.makedirs("var/screenshots", exist_ok=True)
    page.screenshot(path="var/screenshots/meeting-mode-refused.png", full_page=True)
    assert "quorum" in alert.inner_text().lower() or "vote" in alert.inner_text().lower()
    assert _is_styled(page, "#mode-item [data-failed]")
    # One page: no document nested in the page, the header and navigation still there once.
    assert page.locator("header.topbar").count() == 1 and page.locator("h1").count() == 1
    assert page.url.endswith(f"/mode/{item.pk}/")
    assert RequestForChange.objects.get(pk=change.pk).status == ChangeStatus.ASSESSED


def test_a_refusal_answered_with_a_whole_page_is_shown_inline_not_nested(page, live_server, cab_without_votes):
    """A stale form (the CSRF cookie changed, e.g. signed in again in another tab) gets the
    portal's 403 page: its message is shown as an alert above the item, the page stays one page."""
    meeting, item = cab_without_votes["meeting"], cab_without_votes["item"]
    log_in(page, live_server, "chair")
    page.goto(f"{live_server.url}/reviews/meetings/{meeting.pk}/mode/{item.pk}/")
    page.context.add_cookies([{"name": "csrftoken", "value": "x" * 32, "url": live_server.url}])
    page.click("#mode-item button[data-decision=defer]")
    alert = page.locator(".htmx-alert")
    alert.wait_for()
    page.screenshot(path="var/screenshots/meeting-mode-stale-form.png", full_page=True)
    assert alert.get_attribute("data-status") == "403"
    assert "Not permitted" in alert.inner_text() and "Reload the page" in alert.inner_text()
    assert _is_styled(page, ".htmx-alert")
    assert page.locator("header.topbar").count() == 1 and page.locator("#mode-item").count() == 1
    assert "CSRF verification failed" not in page.content()


def test_a_successful_transition_refreshes_the_header_and_history(page, live_server, builtin_data):
    """After an htmx transition the page's header shows the new state and the history the move."""
    from tests.factories import CIFactory

    owner = UserFactory(username="ci-owner", roles=[RoleCluster.INFRASTRUCTURE])
    ci = CIFactory(owner=owner, name="edge-router-7")
    log_in(page, live_server, "ci-owner")
    page.goto(f"{live_server.url}{ci.get_absolute_url()}")
    with page.expect_navigation():
        page.click("form[data-transition=commission] button[type=submit]")
    assert "Put into service done." in page.locator(".messages").inner_text()
    assert "In service" in page.locator("#transitions-panel .current-state").inner_text()
    assert "Reload the page" not in page.content()
