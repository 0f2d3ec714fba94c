"""/metrics: off unless a token or networks are set, then served only to them; request metrics
labelled by URL pattern (bounded), business figures computed at scrape time."""

import pytest
from django.test import override_settings
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from mof import health
from mof.metrics import UNMATCHED
from tests.integration.stack import free_port

TOKEN = "s3cret-scrape-token"
BEARER = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True)
def fresh_process_state():
    health._migrations_applied.clear()
    health._redis_clients.clear()
    yield
    health._redis_clients.clear()


def scrape(client, **extra) -> dict:
    response = client.get("/metrics", HTTP_HOST="10.0.0.9", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def samples(families, name) -> dict:
    return {tuple(sorted(s.labels.items())): s.value for s in families[name].samples if s.name == name}


def test_metrics_are_off_without_a_token_or_networks(client, db):
    assert client.get("/metrics").status_code == 404


@override_settings(MOF_METRICS_TOKEN=TOKEN)
def test_metrics_need_the_bearer_token(client, db):
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 403
    scrape(client, **BEARER)


@override_settings(MOF_METRICS_ALLOWED_NETWORKS=["10.20.0.0/16"])
def test_metrics_for_an_allowed_network_only(client, db):
    assert client.get("/metrics", REMOTE_ADDR="10.21.0.5").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    # X-Forwarded-For is not the connection's address.
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="10.20.3.4").status_code == 403


@override_settings(MOF_METRICS_TOKEN=TOKEN)
def test_the_metric_names_are_present(client, db):
    client.get("/healthz")
    families = scrape(client, **BEARER)
    for name in (
        "mof_http_requests",
        "mof_http_request_duration_seconds",
        "mof_ready_check",
        "mof_celery_broker_up",
        "mof_celery_queue_length",
        "mof_sla_sweep_lag_seconds",
        "mof_sla_clocks_open",
        "mof_webhook_outbox_pending",
        "mof_webhook_outbox_oldest_seconds",
        "mof_webhook_deliveries_pending",
        "mof_mail_outbox_pending",
        "mof_mail_outbox_oldest_seconds",
        "mof_incidents_open",
        "mof_worker_heartbeat_age_seconds",
        "mof_beat_heartbeat_age_seconds",
    ):
        assert name in families, name
    assert set(samples(families, "mof_ready_check")) == {(("check", name),) for name in health.CHECKS}
    assert set(samples(families, "mof_incidents_open")) == {(("priority", str(p)),) for p in range(1, 6)}
    assert set(samples(families, "mof_sla_clocks_open")) == {
        (("condition", c),) for c in ("breached", "warning", "due_soon")
    }


def test_a_request_increments_its_routes_counter(client, db):
    def count():
        return (
            REGISTRY.get_sample_value("mof_http_requests_total", {"method": "GET", "route": "healthz", "status": "200"})
            or 0
        )

    before = count()
    client.get("/healthz")
    client.get("/healthz")
    assert count() == before + 2
    assert (
        REGISTRY.get_sample_value("mof_http_request_duration_seconds_count", {"method": "GET", "route": "healthz"}) >= 2
    )


def test_route_labels_are_url_patterns_not_paths(client, admin_user):
    client.force_login(admin_user)
    for pk in (101, 202, 303):
        client.get(f"/api/v1/incidents/{pk}/")
    for junk in ("/no/such/page-1", "/no/such/page-2"):
        client.get(junk)
    client.get("/api/v1/incidents/", {"search": "x" * 30})
    routes = {
        s.labels["route"] for family in REGISTRY.collect() if family.name == "mof_http_requests" for s in family.samples
    }
    assert not [r for r in routes if "101" in r or "202" in r or "page-1" in r or "xxx" in r], routes
    assert UNMATCHED in routes
    # The registry is the process's: earlier tests may have counted other incident routes too.
    assert "api/v1/incidents/<pk>/" in routes, routes
    assert (
        REGISTRY.get_sample_value(
            "mof_http_requests_total", {"method": "GET", "route": "api/v1/incidents/<pk>/", "status": "404"}
        )
        >= 3
    )


@override_settings(MOF_METRICS_TOKEN=TOKEN)
def test_queue_depths_fail_soft_when_the_broker_is_down(client, db):
    with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0", MOF_READY_TIMEOUT_SECONDS=0.3):
        families = scrape(client, **BEARER)
    assert samples(families, "mof_celery_broker_up") == {(): 0}
    assert samples(families, "mof_celery_queue_length") == {}
    assert samples(families, "mof_ready_check")[(("check", "redis"),)] == 0


@override_settings(MOF_METRICS_TOKEN=TOKEN)
def test_backlogs_and_incidents_are_counted(client, db):
    from integrations.models import OutboxEvent
    from mof.models import OutgoingMail

    OutboxEvent.objects.create(
        event_type="incident.created", body={}, occurred_at=timezone.now() - timezone.timedelta(minutes=3)
    )
    OutgoingMail.objects.create(message_id="<m@test>", kind="test", to_email="a@example.org", subject="s", body="b")
    families = scrape(client, **BEARER)
    assert samples(families, "mof_webhook_outbox_pending") == {(): 1}
    assert samples(families, "mof_webhook_outbox_oldest_seconds")[()] >= 170
    assert samples(families, "mof_mail_outbox_pending") == {(): 1}
    assert samples(families, "mof_sla_sweep_lag_seconds") == {(): 0}


@override_settings(MOF_METRICS_TOKEN=TOKEN)
def test_the_example_alert_rules_use_only_exported_metrics(client, db):
    import re
    from pathlib import Path

    import yaml

    rules = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs/monitoring/alerts.yml").read_text())
    expressions = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    client.get("/healthz")
    families = scrape(client, **BEARER)
    # Sample names (mof_http_requests_total, ..._bucket), and families that may have no sample yet.
    exported = {s.name for family in families.values() for s in family.samples} | set(families)
    used = {name for expr in expressions for name in re.findall(r"\bmof_[a-z0-9_]+", expr)}
    assert used and used <= exported, sorted(used - exported)
    assert {"MofNotReady", "MofSlaSweepLagging", "MofWebhookOutboxGrowing", "MofSlaBreaching", "MofHigh5xxRate"} <= {
        rule["alert"] for group in rules["groups"] for rule in group["rules"]
    }
