"""In a real browser: an operator schedules a job, sees its flag and its failed run's
incident; a monitoring storm shows as one alert on the CI's events page; a manager
subscribes a webhook and sees its secret once."""

import datetime as dt
import os

import pytest
from django.utils import timezone

from mof.choices import RoleCluster
from tests.browser.conftest import log_in
from tests.factories import CIFactory, ServiceFactory, TeamFactory, UserFactory, ci_class

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_operator_schedules_a_job_and_sees_its_failed_run_open_an_incident(page, live_server, builtin_data):
    from operations import jobs
    from operations.models import Job

    operator = UserFactory(username="olga", roles=[RoleCluster.OPERATIONS])
    group = TeamFactory(name="Messaging Operations", role_cluster=RoleCluster.OPERATIONS, members=[operator])
    CIFactory(name="EX-MBX-01", ci_class=ci_class("server"), status="in_service")

    log_in(page, live_server, "olga")
    page.goto(f"{live_server.url}/operating/")
    page.click("text=Job schedule")
    page.click("text=New job")
    page.fill("input[name=name]", "Mailbox backup")
    page.select_option("select[name=kind]", "backup")
    page.fill("input[name=schedule]", "not a cron")
    page.fill("input[name=time_zone]", "Europe/London")
    page.fill("input[name=target_cis]", "EX-MBX-01")
    page.fill("input[name=expected_duration_minutes]", "60")
    page.select_option("select[name=owner_group]", str(group.pk))
    page.fill("input[name=backup_max_age_hours]", "26")
    page.click("main form button[type=submit]")
    assert "five fields" in page.locator(".errorlist, .error, [role=alert]").first.inner_text()
    assert not Job.objects.exists()  # a refused form writes nothing

    page.fill("input[name=schedule]", "30 1 * * *")
    page.click("main form button[type=submit]")
    page.wait_for_url(f"{live_server.url}/operating/jobs/*/")
    job = Job.objects.get(name="Mailbox backup")
    assert "Mailbox backup" in page.locator("h1").inner_text()

    run = jobs.run_start(actor=operator, job=job, started_at=timezone.now() - dt.timedelta(minutes=30))
    jobs.run_finish(actor=operator, run=run, data={"status": "failed", "log_excerpt": "VSS writer timed out"})
    page.reload()
    row = page.locator("main table tbody tr", has_text="Failed").first
    assert "INC-" in row.inner_text() and "bytes" not in row.inner_text()  # no figure reported, none shown
    assert "VSS writer timed out" in page.content()

    page.goto(f"{live_server.url}/operating/backups/")
    assert "EX-MBX-01" in page.locator("main").inner_text()


def test_an_event_storm_shows_as_one_alert_on_the_ci_events_page(page, live_server, builtin_data):
    from operations import events

    operator = UserFactory(username="olga", roles=[RoleCluster.OPERATIONS])
    mail = ServiceFactory(name="Exchange mail", criticality="critical")
    ci = CIFactory(name="EX-MBX-02", ci_class=ci_class("server"), status="in_service", services=[mail])
    for _ in range(4):
        events.ingest(
            actor=operator,
            payload=[
                {
                    "source": "scom",
                    "ci": "EX-MBX-02",
                    "severity": "critical",
                    "key": "EX-MBX-02/disk",
                    "message": "Disk full",
                }
            ]
            * 50,
        )

    log_in(page, live_server, "olga")
    page.goto(f"{live_server.url}/cmdb/cis/{ci.pk}/")
    page.click("a[href$='/operating/events/ci/%d/']" % ci.pk)
    page.wait_for_url(f"{live_server.url}/operating/events/ci/{ci.pk}/*")
    page.goto(f"{live_server.url}/operating/events/ci/{ci.pk}/?show=alerts")
    rows = page.locator("main table tbody tr")
    assert rows.count() == 1
    text = rows.first.inner_text()
    assert "EX-MBX-02/disk" in text and "200" in text and "INC-" in text


def test_manager_subscribes_a_webhook_and_sees_the_secret_once(page, live_server, builtin_data):
    from integrations.models import WebhookSubscription

    UserFactory(username="morgan", is_manager=True)
    log_in(page, live_server, "morgan")
    page.goto(f"{live_server.url}/integrations/webhooks/")
    page.click("text=New subscription")
    page.fill("input[name=name]", "Chat-ops")
    page.fill("input[name=url]", "ftp://example.com/hook")
    page.locator("input[name=event_types][value='incident.created']").check()
    page.click("main form button[type=submit]")
    assert "http" in page.locator("main").inner_text().lower()
    assert not WebhookSubscription.objects.exists()

    page.fill("input[name=url]", "https://chat.example.com/hook")
    page.click("main form button[type=submit]")
    sub = WebhookSubscription.objects.get(name="Chat-ops")
    assert sub.secret in page.content()  # shown once, on this page
    page.goto(f"{live_server.url}/integrations/webhooks/{sub.pk}/")
    assert sub.secret not in page.content()
