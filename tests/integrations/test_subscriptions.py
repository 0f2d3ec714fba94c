"""Subscriptions: http(s) URLs only, known event types, a secret shown once, managers only
(pages, API, policy), the active <-> disabled lifecycle, and lists in constant queries."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations import outbox, services
from integrations.choices import EventType, SubscriptionStatus
from integrations.models import WebhookDelivery, WebhookSubscription
from mof import policy
from mof.models import AuditEntry
from mof.services import system_user
from mof.transitions import perform_transition
from tests.conftest import api_as
from tests.integrations.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

GOOD = {
    "name": "Chat-ops bridge",
    "url": "https://chat.example.com/hooks/mof",
    "event_types": ["incident.created", "change.approved"],
}


@pytest.mark.parametrize(
    "url",
    [
        "ftp://files.example.com/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://example.com/",
        "example.com/hook",
        "http://",
        "https:///path-only",
        "http://user:secret@example.com/hook",
        "http://example.com:99999/hook",
        "http://exa mple.com/hook",
        "http://[::1/hook",
        "http://example.com/\x00",
        "",
    ],
)
def test_only_http_and_https_urls_with_a_host_are_accepted(manager, url):
    with pytest.raises(ValidationError) as caught:
        services.subscription_create(actor=manager, **{**GOOD, "url": url})
    assert "url" in caught.value.message_dict
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url", ["https://chat.example.com/hooks/mof", "http://bridge:9000/in", "HTTPS://Example.com/x?y=1"]
)
def test_http_and_https_urls_are_accepted(manager, url, fake_dns):
    assert services.subscription_create(actor=manager, **{**GOOD, "url": url}).url == url


def test_a_refused_scheme_names_the_rule(manager):
    response = api_as(manager).post("/api/v1/webhooks/", {**GOOD, "url": "ftp://files.example.com/hook"}, format="json")
    assert response.status_code == 400
    assert "Only http and https URLs" in response.json()["url"][0]


@pytest.mark.parametrize(
    "event_types, message", [([], "at least one"), (["ping"], "ping"), (["incident.exploded"], "not a valid choice")]
)
def test_event_types_must_be_known_and_subscribable(manager, event_types, message):
    response = api_as(manager).post("/api/v1/webhooks/", {**GOOD, "event_types": event_types}, format="json")
    assert response.status_code == 400 and message in str(response.json()["event_types"])
    with pytest.raises(ValidationError):
        services.subscription_create(actor=manager, **{**GOOD, "event_types": event_types})


def test_the_secret_is_shown_once_and_kept_out_of_the_audit_trail(manager):
    api = api_as(manager)
    created = api.post("/api/v1/webhooks/", GOOD, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert body["owner"] == manager.pk and body["status"] == "active"
    assert body["event_types"] == ["change.approved", "incident.created"]  # the catalogue's order
    shown = api.get(f"/api/v1/webhooks/{body['id']}/").json()
    assert "secret" not in shown
    assert all("secret" not in r for r in api.get("/api/v1/webhooks/").json()["results"])
    assert WebhookSubscription.objects.get(pk=body["id"]).secret == secret
    rotated = api.post(f"/api/v1/webhooks/{body['id']}/rotate-secret/").json()["secret"]
    assert rotated != secret and WebhookSubscription.objects.get(pk=body["id"]).secret == rotated
    trail = list(
        AuditEntry.objects.filter(model_label="integrations.webhooksubscription").values_list("changes", flat=True)
    )
    assert len(trail) == 2  # created, rotated (the time of it)
    assert secret not in str(trail) and rotated not in str(trail)


def test_editing_a_subscription_validates_like_creating(manager):
    subscription = SubscriptionFactory(owner=manager)
    api = api_as(manager)
    assert (
        api.patch(f"/api/v1/webhooks/{subscription.pk}/", {"url": "file:///etc/passwd"}, format="json").status_code
        == 400
    )
    ok = api.patch(
        f"/api/v1/webhooks/{subscription.pk}/",
        {"url": "https://new.example.com/h", "event_types": ["sla.breached"]},
        format="json",
    )
    assert (
        ok.status_code == 200
        and ok.json()["url"] == "https://new.example.com/h"
        and ok.json()["event_types"] == ["sla.breached"]
    )
    refused = api.patch(
        f"/api/v1/webhooks/{subscription.pk}/", {"status": "disabled"}, format="json"
    )  # state moves by transitions
    assert refused.status_code == 400 and refused.json() == {"status": ["This field is read-only."]}
    assert api.get(f"/api/v1/webhooks/{subscription.pk}/").json()["status"] == "active"


# --- who may ------------------------------------------------------------------------


def test_only_managers_see_and_manage_webhooks_in_the_api(infra_user, support_user, partner_user):
    subscription = SubscriptionFactory()
    event = outbox.build(EventType.PING, {}, subscription=subscription)
    event.save()
    delivery = WebhookDelivery.objects.create(subscription=subscription, event=event)
    for user in (infra_user, support_user, partner_user):
        api = api_as(user)
        assert api.get("/api/v1/webhooks/").status_code == 403
        assert api.post("/api/v1/webhooks/", GOOD, format="json").status_code == 403
        assert api.get(f"/api/v1/webhooks/{subscription.pk}/").status_code == 403
        assert api.post(f"/api/v1/webhooks/{subscription.pk}/rotate-secret/").status_code == 403
        assert api.post(f"/api/v1/webhooks/{subscription.pk}/ping/").status_code == 403
        assert (
            api.post(
                f"/api/v1/webhooks/{subscription.pk}/transitions/disable/", {"reason": "x"}, format="json"
            ).status_code
            == 403
        )
        assert api.get("/api/v1/webhook-deliveries/").status_code == 403
        assert api.post(f"/api/v1/webhook-deliveries/{delivery.pk}/replay/").status_code == 403
    assert api_as(None).get("/api/v1/webhooks/").status_code == 401
    assert not WebhookSubscription.objects.exclude(pk=subscription.pk).exists()
    assert AuditEntry.objects.filter(action="refused", transition="webhook.view").exists()


def test_only_managers_reach_the_pages(client, infra_user, manager):
    subscription = SubscriptionFactory()
    urls = ["/integrations/webhooks/", "/integrations/webhooks/new/", "/integrations/webhooks/deliveries/"]
    for url in urls:
        assert client.get(url).status_code == 302  # to the login page
    client.force_login(infra_user)
    for url in urls:
        assert client.get(url).status_code == 403
    assert client.get(f"/integrations/webhooks/{subscription.pk}/").status_code == 404
    assert client.post(f"/integrations/webhooks/{subscription.pk}/rotate-secret/").status_code == 404
    client.force_login(manager)
    for url in urls:
        assert client.get(url).status_code == 200


def test_the_portal_may_disable_but_only_a_manager_enables(manager):
    subscription = SubscriptionFactory(consecutive_failures=0)
    system = system_user()
    assert policy.can(system, "webhook.transition.disable", subscription)
    assert not policy.can(system, "webhook.transition.enable", subscription)
    assert not policy.can(system, "webhook.add")
    perform_transition(
        model=WebhookSubscription,
        pk=subscription.pk,
        name="disable",
        actor=manager,
        data={"reason": "Receiver retired"},
    )
    WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=5)
    with pytest.raises(policy.Refused):
        perform_transition(model=WebhookSubscription, pk=subscription.pk, name="enable", actor=system)


def test_disable_needs_a_reason_and_enable_starts_afresh(manager):
    subscription = SubscriptionFactory(owner=manager)
    api = api_as(manager)
    assert api.post(f"/api/v1/webhooks/{subscription.pk}/transitions/disable/", {}, format="json").status_code == 400
    disabled = api.post(
        f"/api/v1/webhooks/{subscription.pk}/transitions/disable/",
        {"reason": "Receiver under maintenance"},
        format="json",
    )
    assert (
        disabled.status_code == 200
        and disabled.json()["status"] == "disabled"
        and disabled.json()["disabled_reason"] == "Receiver under maintenance"
    )
    assert (
        api.post(
            f"/api/v1/webhooks/{subscription.pk}/transitions/disable/", {"reason": "again"}, format="json"
        ).status_code
        == 409
    )
    WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=4)
    enabled = api.post(f"/api/v1/webhooks/{subscription.pk}/transitions/enable/", {}, format="json").json()
    assert enabled["status"] == "active" and enabled["consecutive_failures"] == 0 and enabled["disabled_reason"] == ""


# --- pages ----------------------------------------------------------------------------


def test_a_manager_subscribes_on_the_page_and_sees_the_secret_once(client, manager):
    client.force_login(manager)
    refused = client.post(
        "/integrations/webhooks/new/",
        {"name": "Bridge", "url": "file:///etc/passwd", "event_types": ["incident.created"]},
    )
    assert refused.status_code == 400 and "Only http and https URLs" in refused.content.decode()
    response = client.post(
        "/integrations/webhooks/new/",
        {"name": "Bridge", "url": "https://bridge.example.com/in", "event_types": ["incident.created", "sla.breached"]},
    )
    assert response.status_code == 200
    subscription = WebhookSubscription.objects.get()
    assert subscription.secret in response.content.decode() and "shown this once" in response.content.decode()
    detail = client.get(subscription.get_absolute_url()).content.decode()
    assert subscription.secret not in detail and "SLA breached" in detail
    rotated = client.post(f"/integrations/webhooks/{subscription.pk}/rotate-secret/")
    subscription.refresh_from_db()
    assert subscription.secret in rotated.content.decode()
    edited = client.post(
        f"/integrations/webhooks/{subscription.pk}/edit/",
        {"name": "Bridge 2", "url": "https://bridge.example.com/v2", "event_types": ["incident.resolved"]},
    )
    assert edited.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.name, subscription.event_types) == ("Bridge 2", ["incident.resolved"])


def test_disable_and_enable_from_the_page(client, manager):
    subscription = SubscriptionFactory(owner=manager)
    client.force_login(manager)
    assert (
        client.post(
            f"/integrations/webhooks/{subscription.pk}/transitions/disable/", {"reason": "Maintenance"}
        ).status_code
        == 302
    )
    assert WebhookSubscription.objects.get(pk=subscription.pk).status == SubscriptionStatus.DISABLED
    assert "Maintenance" in client.get(subscription.get_absolute_url()).content.decode()
    assert client.post(f"/integrations/webhooks/{subscription.pk}/transitions/enable/").status_code == 302
    assert WebhookSubscription.objects.get(pk=subscription.pk).status == SubscriptionStatus.ACTIVE


def test_the_delivery_log_filters(client, manager):
    a, b = SubscriptionFactory(name="A"), SubscriptionFactory(name="B")
    for subscription, event_type, status in (
        (a, EventType.INCIDENT_CREATED, "delivered"),
        (a, EventType.SLA_BREACHED, "failed"),
        (b, EventType.INCIDENT_CREATED, "pending"),
    ):
        event = outbox.build(event_type, {})
        event.save()
        WebhookDelivery.objects.create(subscription=subscription, event=event, status=status)
    client.force_login(manager)
    page = client.get(f"/integrations/webhooks/deliveries/?subscription={a.pk}&status=failed").context["page"]
    assert [(d.subscription.name, d.event.event_type) for d in page.items] == [("A", "sla.breached")]
    api = api_as(manager)
    assert api.get("/api/v1/webhook-deliveries/?event_type=incident.created").json()["count"] == 2
    assert api.get(f"/api/v1/webhook-deliveries/?subscription={b.pk}").json()["results"][0]["status"] == "pending"
    assert api.get("/api/v1/webhook-deliveries/?status=exploded").status_code == 400
    sparse = api.get(f"/api/v1/webhook-deliveries/?subscription={b.pk}&fields=id,status").json()["results"]
    assert sparse == [{"id": sparse[0]["id"], "status": "pending"}]
    assert set(api.get(f"/api/v1/webhooks/{a.pk}/?fields=name,status").json()) == {"name", "status"}
    assert client.get("/integrations/webhooks/deliveries/?status=exploded&page=abc").status_code == 200


# --- constant queries on the lists ----------------------------------------------------


def _deliveries(n):
    subscriptions = [SubscriptionFactory() for _ in range(3)]
    for i in range(n):
        event = outbox.build(EventType.INCIDENT_CREATED, {"i": i})
        event.save()
        WebhookDelivery.objects.create(subscription=subscriptions[i % 3], event=event)


def _queries(call):
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code == 200
    return len(captured)


def test_delivery_and_subscription_lists_take_constant_queries(manager, client):
    api = api_as(manager)
    client.force_login(manager)
    calls = [
        lambda: api.get("/api/v1/webhook-deliveries/?page_size=100"),
        lambda: api.get("/api/v1/webhooks/?page_size=100"),
        lambda: client.get("/integrations/webhooks/deliveries/?page_size=100"),
        lambda: client.get("/integrations/webhooks/"),
    ]
    _deliveries(3)
    few = [_queries(call) for call in calls]
    _deliveries(30)
    for _ in range(10):
        SubscriptionFactory()
    many = [_queries(call) for call in calls]
    assert few == many
