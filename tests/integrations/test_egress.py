"""Webhooks reach public addresses only (server-side request forgery): an internal target is
refused when subscribing and again at each delivery (DNS rebinding), unless
MOF_WEBHOOK_ALLOWED_NETWORKS names it; a delivery connects to the address it checked; the
log keeps only the status and a short, sanitised excerpt of the answer."""

import pytest
from django.core.exceptions import ValidationError

from integrations import egress, outbox, services
from integrations.choices import EventType
from integrations.models import DeliveryAttempt, WebhookSubscription
from tests.conftest import api_as
from tests.integrations.factories import SubscriptionFactory

pytestmark = pytest.mark.django_db

GOOD = {"name": "Chat-ops bridge", "event_types": ["incident.created"]}
PUBLIC = "93.184.216.34"  # a public address: only ever checked, never connected to by these tests


@pytest.fixture(autouse=True)
def no_allow_list(settings):
    settings.MOF_WEBHOOK_ALLOWED_NETWORKS = []
    settings.MOF_WEBHOOK_MAX_ATTEMPTS = 1  # one attempt per delivery: no retry to tell apart
    return settings


INTERNAL = [
    ("http://127.0.0.1:8000/hook", "loopback"),
    ("http://127.9.9.9/hook", "loopback"),
    ("http://[::1]:8000/hook", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://10.0.0.5/hook", "private"),
    ("http://172.16.3.4/hook", "private"),
    ("http://192.168.1.1/hook", "private"),
    ("http://[fc00::1]/hook", "private"),
    ("http://[fd12:3456::1]/hook", "private"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://[ff02::1]/hook", "multicast"),
    ("http://240.0.0.1/hook", "reserved"),
    ("http://0.0.0.0:8000/hook", "unspecified"),
    ("http://[::]/hook", "unspecified"),
    ("http://100.64.1.2/hook", "CGNAT"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),  # IPv4-mapped IPv6
    ("http://[::ffff:10.1.2.3]/hook", "private"),
    ("http://[::ffff:169.254.169.254]/hook", "link-local"),
    ("http://[64:ff9b::a9fe:a9fe]/hook", "link-local"),  # NAT64 of 169.254.169.254
    ("http://[2002:7f00:1::]/hook", "loopback"),  # 6to4 of 127.0.0.1
]


@pytest.mark.parametrize("url, kind", INTERNAL)
def test_an_internal_address_is_refused_at_subscription(manager, url, kind):
    response = api_as(manager).post("/api/v1/webhooks/", {**GOOD, "url": url}, format="json")
    assert response.status_code == 400
    message = response.json()["url"][0]
    assert kind in message and "public addresses" in message and "MOF_WEBHOOK_ALLOWED_NETWORKS" in message
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/hook",
        "http://2130706433/hook",  # 127.0.0.1 as one number
        "http://0x7f.1/hook",
        "http://127.1/hook",
        "http://intranet.example.test/hook",  # a name of a private address
        "http://mixed.example.test/hook",  # one public and one private address: every one counts
        "http://metadata.example.test/computeMetadata/v1/",
    ],
)
def test_a_name_or_spelling_of_an_internal_address_is_refused_at_subscription(manager, fake_dns, url):
    fake_dns.answers.update(
        {
            "intranet.example.test": ["10.1.2.3"],
            "mixed.example.test": [PUBLIC, "192.168.0.10"],
            "metadata.example.test": ["169.254.169.254"],
        }
    )
    with pytest.raises(ValidationError) as caught:
        services.subscription_create(actor=manager, **GOOD, url=url)
    assert (
        "internal address" in caught.value.message_dict["url"][0] or "address:" in caught.value.message_dict["url"][0]
    )
    assert "10.1.2.3" not in str(caught.value)  # the form does not tell what internal names resolve to


def test_the_page_refuses_an_internal_address_with_a_form_error(client, manager):
    client.force_login(manager)
    response = client.post(
        "/integrations/webhooks/new/",
        {"name": "Metadata", "url": "http://169.254.169.254/latest/", "event_types": ["incident.created"]},
    )
    assert response.status_code == 400
    assert "link-local address" in response.content.decode()
    assert not WebhookSubscription.objects.exists()


def test_editing_to_an_internal_address_is_refused(manager, fake_dns):
    fake_dns.answers["hooks.example.test"] = [PUBLIC]
    subscription = services.subscription_create(actor=manager, **GOOD, url="https://hooks.example.test/in")
    response = api_as(manager).patch(f"/api/v1/webhooks/{subscription.pk}/", {"url": "http://[::1]/in"}, format="json")
    assert response.status_code == 400 and "loopback" in response.json()["url"][0]
    subscription.refresh_from_db()
    assert subscription.url == "https://hooks.example.test/in"


def test_a_public_address_and_a_name_that_does_not_resolve_yet_are_accepted(manager, fake_dns):
    fake_dns.answers["hooks.example.test"] = [PUBLIC, "2606:2800:220:1:248:1893:25c8:1946"]
    assert services.subscription_create(actor=manager, **GOOD, url="https://hooks.example.test/in").pk
    assert services.subscription_create(actor=manager, **GOOD, url=f"http://{PUBLIC}:8080/in").pk
    # Not resolvable now (not deployed yet, or known only to the workers' DNS): each delivery checks it.
    assert services.subscription_create(actor=manager, **GOOD, url="http://not-yet.example.test/in").pk


def test_the_allow_list_lets_named_networks_and_hosts_through(manager, fake_dns, settings):
    fake_dns.answers.update({"bridge": ["10.20.0.7"], "other.internal.test": ["10.30.0.1"]})
    settings.MOF_WEBHOOK_ALLOWED_NETWORKS = (
        "127.0.0.0/8, 10.20.0.0/16 ,fd00::/8,bridge"  # a string as in the environment
    )
    for url in ("http://127.0.0.1:8080/hook", "http://bridge:9000/in", "http://10.20.3.4/in", "http://[fd00::5]/in"):
        assert services.subscription_create(actor=manager, **GOOD, url=url).url == url
    for url in ("http://10.30.0.1/in", "http://other.internal.test/in", "http://169.254.169.254/"):
        with pytest.raises(ValidationError):
            services.subscription_create(actor=manager, **GOOD, url=url)


def test_the_allow_list_setting_is_read_from_the_environment():
    from tests.core.test_settings_config import run_python

    result = run_python(
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from integrations import egress\n"
        "print(settings.MOF_WEBHOOK_ALLOWED_NETWORKS, egress.check_allowed_setting())\n",
        DJANGO_SETTINGS_MODULE="mof.settings",
        DEBUG="1",
        MOF_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8, bridge,",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['127.0.0.0/8', 'bridge'] []"


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "not a host", "10.0.0.300", "http://x/"])
def test_a_mistyped_allow_list_entry_is_reported_by_the_system_check(settings, entry):
    settings.MOF_WEBHOOK_ALLOWED_NETWORKS = [entry]
    [error] = egress.check_allowed_setting()
    assert error.id == "integrations.E001" and "MOF_WEBHOOK_ALLOWED_NETWORKS" in error.msg


# --- at delivery ------------------------------------------------------------------------------


def deliver_one(capture):
    with capture(execute=True):
        outbox.publish(EventType.INCIDENT_CREATED, {"title": "Mail queue stuck"})
    return DeliveryAttempt.objects.order_by("-pk").first()


def test_a_name_that_resolves_to_loopback_at_delivery_is_refused(
    manager, receiver, fake_dns, settings, django_capture_on_commit_callbacks
):
    """DNS rebinding: public when subscribing, 127.0.0.1 when delivering."""
    fake_dns.answers["hooks.example.test"] = [PUBLIC]
    url = f"http://hooks.example.test:{receiver.server.server_address[1]}/hooks/mof"
    services.subscription_create(actor=manager, **GOOD, url=url)
    fake_dns.answers["hooks.example.test"] = ["127.0.0.1"]
    settings.MOF_WEBHOOK_ALLOWED_NETWORKS = []  # the receiver fixture allowed the loopback: not here

    attempt = deliver_one(django_capture_on_commit_callbacks)

    assert receiver.requests == []  # nothing reached the internal address
    assert attempt.response_status is None and not attempt.succeeded
    assert attempt.error.startswith("Refused: hooks.example.test resolves to an internal address")


def test_the_allow_list_lets_that_delivery_through_to_the_checked_address(
    manager, receiver, fake_dns, django_capture_on_commit_callbacks
):
    """Allowed (the receiver fixture allows 127.0.0.0/8), the delivery goes to the address that
    was checked: the name is looked up once, and a second lookup's different answer
    (127.0.0.2, where nothing listens) is never used. The Host header keeps the name."""
    answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]])
    fake_dns.answers["hooks.example.test"] = lambda: next(answers)
    port = receiver.server.server_address[1]
    subscription = SubscriptionFactory(
        url=f"http://hooks.example.test:{port}/hooks/mof?x=1", event_types=["incident.created"]
    )
    receiver.secret = subscription.secret

    attempt = deliver_one(django_capture_on_commit_callbacks)

    assert attempt.succeeded and attempt.response_status == 200 and attempt.error == ""
    [request] = receiver.requests
    assert request.verified and request.path == "/hooks/mof?x=1"
    assert request.headers["host"] == f"hooks.example.test:{port}"
    assert fake_dns.lookups.count("hooks.example.test") == 1


def test_a_name_that_no_longer_resolves_is_a_failed_attempt(manager, fake_dns, django_capture_on_commit_callbacks):
    SubscriptionFactory(url="https://gone.example.test/in", event_types=["incident.created"])
    attempt = deliver_one(django_capture_on_commit_callbacks)
    assert not attempt.succeeded and attempt.error.startswith("Could not resolve the host")


def test_a_literal_internal_address_stored_before_the_check_is_refused_at_delivery(
    receiver, settings, django_capture_on_commit_callbacks
):
    SubscriptionFactory(url=receiver.url, event_types=["incident.created"])  # e.g. saved before this release
    settings.MOF_WEBHOOK_ALLOWED_NETWORKS = []
    attempt = deliver_one(django_capture_on_commit_callbacks)
    assert (
        receiver.requests == []
        and attempt.error == "Refused: 127.0.0.1 is a loopback address: webhooks may only reach public addresses."
    )


def test_only_the_status_and_a_bounded_sanitised_excerpt_are_stored(receiver, django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(url=receiver.url, event_types=["incident.created"])
    receiver.secret = subscription.secret
    receiver.statuses = [418]
    receiver.reason = "Teapot \x1b[2J"
    receiver.reply_headers = {"X-Internal-Token": "internal-secret-123", "Set-Cookie": "session=internal-secret-456"}
    receiver.reply = ("\x1b[31mred\x1b[0m\r\nline\ttwo\x00\x07 \u202eevil\u202c " + "é" * 3000).encode()

    attempt = deliver_one(django_capture_on_commit_callbacks)

    assert attempt.response_status == 418 and attempt.error == "HTTP 418 I'm a Teapot"
    excerpt = attempt.response_excerpt
    assert len(excerpt) == services.EXCERPT_CHARS
    assert excerpt.startswith("[31mred[0m  line two evil éé")
    assert not any(c in excerpt for c in "\x1b\r\n\t\x00\x07\u202e\u202c")
    stored = f"{attempt.response_excerpt} {attempt.error}"
    assert "internal-secret" not in stored and "\x1b" not in stored


def test_a_redirect_is_not_followed(receiver, django_capture_on_commit_callbacks):
    subscription = SubscriptionFactory(url=receiver.url, event_types=["incident.created"])
    receiver.secret = subscription.secret
    receiver.statuses = [302]
    receiver.reply_headers = {"Location": "http://169.254.169.254/latest/meta-data/"}
    attempt = deliver_one(django_capture_on_commit_callbacks)
    assert len(receiver.requests) == 1 and attempt.response_status == 302 and attempt.error == "HTTP 302 Found"


def test_internal_kind_classifies_addresses():
    import ipaddress

    assert egress.internal_kind(ipaddress.ip_address(PUBLIC)) is None
    assert egress.internal_kind(ipaddress.ip_address("2606:2800:220:1:248:1893:25c8:1946")) is None
    assert egress.internal_kind(ipaddress.ip_address("::ffff:8.8.8.8")) is None  # mapped public: public
    assert egress.internal_kind(ipaddress.ip_address("198.18.0.1")) == "private"  # benchmarking
    assert egress.internal_kind(ipaddress.ip_address("192.0.2.1")) == "private"  # documentation


def test_https_connects_to_the_checked_address_and_verifies_the_certificate_for_the_name(receiver):
    """The TLS server name (SNI) and the certificate check use the host name, the TCP
    connection the checked address; the default context verifies certificates."""
    import ssl

    seen = []

    class Recording(ssl.SSLContext):
        def wrap_socket(self, sock, server_hostname=None, **kwargs):
            seen.append((sock.getpeername()[0], server_hostname))
            raise ssl.SSLError("stop here: the handshake is not what this test is about")

    port = receiver.server.server_address[1]
    target = egress.Target(scheme="https", host="hooks.example.test", port=port, path="/", addresses=("127.0.0.1",))
    conn = egress.PinnedHTTPSConnection(
        target.host, target.port, timeout=2, addresses=target.addresses, context=Recording(ssl.PROTOCOL_TLS_CLIENT)
    )
    with pytest.raises(ssl.SSLError):
        conn.connect()
    conn.close()
    assert seen == [("127.0.0.1", "hooks.example.test")]
    default = egress.connection(target, timeout=2)
    assert default._context.check_hostname and default._context.verify_mode == ssl.CERT_REQUIRED
