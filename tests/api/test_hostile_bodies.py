"""Oversized and odd bodies are refused cleanly: a body over DATA_UPLOAD_MAX_MEMORY_SIZE
is a 413 (JSON from the API, a page elsewhere), deeply nested JSON and numbers no id
can be (1e309, NaN, Infinity, 1.5, 99999999999999999999999) are 400s, never 500s."""

import json

import pytest
from django.test import Client, override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from mof.models import ConfigurationItem
from tests.factories import ServiceFactory, ci_class

pytestmark = pytest.mark.django_db

LIMIT = 10_000


@pytest.fixture
def api(infra_user):
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(infra_user)
    return client


def post_json(client, text, path="/api/v1/cis/"):
    return client.generic("POST", path, text, content_type="application/json")


def ci_body(**fields):
    body = {"name": "mbx-01", "ci_class": "mailbox-server"}
    body.update(fields)
    return body


@pytest.mark.parametrize("debug", [True, False])
def test_an_oversized_api_body_is_413_json(api, debug):
    with override_settings(DEBUG=debug, DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT):
        response = post_json(api, json.dumps(ci_body(description="x" * (LIMIT + 1))))
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "request_too_large" and "10,000 bytes" in response.json()["detail"]
    assert not ConfigurationItem.objects.exists()


@override_settings(DEBUG=False, DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT)
def test_an_oversized_form_body_to_the_api_is_413_json(infra_user):
    client = Client(raise_request_exception=False)
    client.force_login(infra_user)
    response = client.post("/api/v1/cis/", {"name": "x", "description": "x" * (LIMIT + 1)})
    assert response.status_code == 413 and response.json()["code"] == "request_too_large"


@override_settings(DEBUG=False, DATA_UPLOAD_MAX_MEMORY_SIZE=LIMIT)
def test_an_oversized_web_form_post_is_a_413_page(infra_user):
    client = Client(raise_request_exception=False)
    client.force_login(infra_user)
    response = client.post(reverse("ci_create"), {"name": "x", "description": "x" * (LIMIT + 1)})
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html") and "Too large (413)" in response.content.decode()
    assert response["X-Request-ID"] in response.content.decode()
    assert not ConfigurationItem.objects.exists()


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 5_000 + "1" + "}" * 5_000,
        json.dumps(ci_body(attributes=json.loads("[" * 70 + "]" * 70))),
    ],
)
def test_deeply_nested_json_is_400(api, text):
    response = post_json(api, text)
    assert response.status_code == 400, response.content[:200]
    assert "Nested deeper than 64 levels" in response.json()["detail"]


def test_moderately_nested_attributes_are_still_accepted(api):
    attributes = {"a": {"b": {"c": [1, 2, {"d": 1.5}]}}}
    response = post_json(api, json.dumps(ci_body(attributes=attributes)))
    assert response.status_code == 201, response.json()
    assert response.json()["attributes"] == attributes


@pytest.mark.parametrize("literal", ["1e309", "-1e309", "1e400", "NaN", "Infinity", "-Infinity"])
def test_numbers_no_json_value_may_be_are_400(api, literal):
    for text in (
        f'{{"name": "a", "ci_class": "mailbox-server", "owner": {literal}}}',
        f'{{"name": "a", "ci_class": "mailbox-server", "services": [{literal}]}}',
        f'{{"name": "a", "ci_class": "mailbox-server", "attributes": {{"x": {literal}}}}}',
    ):
        response = post_json(api, text)
        assert response.status_code == 400, (text, response.content[:200])
        assert response.json()["detail"].startswith("JSON parse error")
    assert not ConfigurationItem.objects.exists()


@pytest.mark.parametrize(
    "value,message",
    [
        (1.5, "received float"),
        (2.0, "received float"),
        (True, "received bool"),
        (99999999999999999999999, "does not exist"),
        ("1e309", "received str"),
    ],
)
def test_an_id_that_is_not_an_integer_is_a_field_error(api, infra_user, value, message):
    response = post_json(api, json.dumps(ci_body(owner=value)))
    assert response.status_code == 400
    assert message in response.json()["owner"][0]
    response = post_json(api, json.dumps(ci_body(services=[value])))
    assert response.status_code == 400 and "services" in response.json()
    assert not ConfigurationItem.objects.exists()


def test_a_whole_number_id_is_still_accepted(api, infra_user):
    service = ServiceFactory()
    response = post_json(api, json.dumps(ci_body(owner=infra_user.pk, services=[service.pk])))
    assert response.status_code == 201 and response.json()["owner"] == infra_user.pk


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cis/?owner=1e309",
        "/api/v1/cis/?owner=99999999999999999999999",
        "/api/v1/cis/?services=1.5",
        "/api/v1/cis/99999999999999999999999/",
        "/api/v1/cis/1e309/",
    ],
)
def test_odd_ids_in_filters_and_paths_are_never_500(api, path):
    assert api.get(path).status_code in (400, 404)


@pytest.mark.parametrize("attributes", ['{"x": NaN}', '{"x": 1e309}', "[" * 5000 + "]" * 5000])
def test_the_ci_form_refuses_odd_json_attributes_with_a_message(client, infra_user, attributes):
    client.force_login(infra_user)
    data = {
        "name": "edge-router-01",
        "ci_class": ci_class("network-device").pk,
        "owner": "",
        "environment": "production",
        "attributes": attributes,
        "description": "",
    }
    response = client.post(reverse("ci_create"), data)
    assert response.status_code == 400 and "Enter a valid JSON" in response.content.decode()
    assert not ConfigurationItem.objects.exists()
