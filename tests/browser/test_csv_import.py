"""In a real browser: upload a CSV, preview it, apply it. The previewed file travels back
in the page's form (a hidden textarea): what chromium posts must match the preview's
digest, also with CRLF line ends, a quoted multi-line cell and non-ASCII names."""

import os

import pytest

from mof.choices import RoleCluster
from mof.models import ConfigurationItem
from tests.browser.conftest import log_in
from tests.factories import UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

FILE = (
    "\ufeffname,class,environment,description\r\n"
    'zürich-sw-01,network-device,production,"Core switch\r\nsecond line, with a comma"\r\n'
    "genève-fw-01,firewall,dr,=not a formula\r\n"
).encode("utf-8")


def test_preview_then_apply_in_the_browser(page, live_server, builtin_data):
    UserFactory(username="cmdb-editor", roles=[RoleCluster.INFRASTRUCTURE])
    log_in(page, live_server, "cmdb-editor")
    page.goto(f"{live_server.url}/cmdb/cis/")
    page.click("text=Import CIs")
    page.set_input_files("input[name=file]", {"name": "cis.csv", "mimeType": "text/csv", "buffer": FILE})
    page.click("button:has-text('Preview')")
    preview = page.locator("#import-preview").locator("xpath=..")
    assert "2 to create, 0 to update, 0 unchanged" in preview.inner_text()
    assert not ConfigurationItem.objects.filter(name="zürich-sw-01").exists()

    page.click("button:has-text('Apply')")
    page.wait_for_url(f"{live_server.url}/cmdb/cis/")
    assert "2 created, 0 updated, 0 unchanged" in page.locator(".messages").inner_text()
    switch = ConfigurationItem.objects.get(name="zürich-sw-01")
    assert switch.description == "Core switch\nsecond line, with a comma"
    assert ConfigurationItem.objects.get(name="genève-fw-01").environment == "dr"


def test_a_bad_row_shows_row_and_field_in_the_browser(page, live_server, builtin_data):
    UserFactory(username="cmdb-editor", roles=[RoleCluster.INFRASTRUCTURE])
    log_in(page, live_server, "cmdb-editor")
    page.goto(f"{live_server.url}/cmdb/import/cis/")
    page.set_input_files(
        "input[name=file]",
        {"name": "cis.csv", "mimeType": "text/csv", "buffer": b"name,class\nok-1,server\nbad-1,toaster\n"},
    )
    page.click("button:has-text('Preview')")
    errors = page.locator("table.import-errors").inner_text()
    assert "3" in errors and "class" in errors and "toaster" in errors
    assert page.locator("button:has-text('Apply')").count() == 0
    assert not ConfigurationItem.objects.filter(name__in=["ok-1", "bad-1"]).exists()
