"""?fields= on every list and detail endpoint: only the named fields, unknown names a 400,
pruned before serializing, never on writes. The route walk fails for any viewset someone
routes without mof.api.fields.SparseFieldsMixin."""
import re

import pytest
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.schemas.generators import EndpointEnumerator
from rest_framework.test import APIRequestFactory

from mof.api.fields import SparseFieldsMixin, prune_fields
from mof.models import Service
from tests.api.seed import seed_portal
from tests.conftest import api_as
from tests.factories import ServiceFactory, UserFactory

BOGUS = "no_such_field"


def _routes(action):
    """(path, viewset class) of every routed API endpoint whose GET is `action`."""
    found = {}
    for path, method, callback in EndpointEnumerator().get_api_endpoints():
        actions = getattr(callback, "actions", None) or {}
        if path.startswith("/api/") and method == "GET" and actions.get("get") == action:
            found[path] = callback.cls
    return sorted(found.items())


@pytest.fixture
def seeded(db):
    return seed_portal()


def test_every_routed_list_and_detail_viewset_takes_sparse_fields():
    routes = _routes("list") + _routes("retrieve")
    missing = sorted({f"{cls.__module__}.{cls.__name__}" for _, cls in routes if not issubclass(cls, SparseFieldsMixin)})
    assert len(routes) > 20
    assert not missing, f"Add mof.api.fields.SparseFieldsMixin to: {', '.join(missing)}"


def _one_field(row):
    return "id" if "id" in row else next(iter(row))


def _check_list(client, path):
    """What is wrong with ?fields= on this list endpoint (None: nothing)."""
    full = client.get(path)
    if full.status_code != 200:
        return f"{full.status_code} without ?fields="
    body = full.json()
    rows = body["results"] if isinstance(body, dict) else body

    refused = client.get(path, {"fields": BOGUS})
    if refused.status_code != 400:
        return f"?fields={BOGUS} answered {refused.status_code}, not 400 (no SparseFieldsMixin?)"
    message = refused.json()["fields"][0]
    if BOGUS not in message or "Allowed:" not in message:
        return f"unclear message {message!r}"
    if not rows:
        return f"no rows to check: seed some in tests/api/seed.py"
    name = _one_field(rows[0])
    sparse = client.get(path, {"fields": name})
    sparse_body = sparse.json()
    if isinstance(body, dict):  # the pagination envelope is unchanged
        if set(sparse_body) != set(body) or sparse_body["count"] != body["count"]:
            return f"envelope changed: {sorted(sparse_body)}"
        sparse_body = sparse_body["results"]
    if sparse_body != [{name: row[name]} for row in rows]:
        return f"?fields={name} gave {sparse_body[:2]}"
    return None


def test_every_list_endpoint_returns_only_the_requested_fields_in_each_result(seeded):
    client = api_as(seeded)
    problems = {path: _check_list(client, path) for path, _ in _routes("list")}
    assert {path: problem for path, problem in problems.items() if problem} == {}


def _first_object(cls, user):
    view = cls()
    view.action, view.action_map, view.kwargs, view.format_kwarg = "retrieve", {"get": "retrieve"}, {}, None
    view.request = view.initialize_request(APIRequestFactory().get("/"))
    view.request.user = user
    return view.get_queryset().first()


def _check_detail(client, user, path, cls):
    obj = _first_object(cls, user)
    if obj is None:
        return "nothing to check: seed one in tests/api/seed.py"
    url = re.sub(r"\{[^}]+\}", str(getattr(obj, cls.lookup_field)), path)
    full = client.get(url)
    if full.status_code != 200:
        return f"{url}: {full.status_code} without ?fields="
    name = _one_field(full.json())
    sparse = client.get(url, {"fields": f" {name} ,,{name}"})
    if sparse.status_code != 200 or sparse.json() != {name: full.json()[name]}:
        return f"{url}?fields={name} gave {sparse.status_code} {sparse.content[:200]!r}"
    refused = client.get(url, {"fields": f"{name},{BOGUS}"})
    if refused.status_code != 400:
        return f"?fields={BOGUS} answered {refused.status_code}, not 400 (no SparseFieldsMixin?)"
    return None


def test_every_detail_endpoint_returns_only_the_requested_fields(seeded):
    client = api_as(seeded)
    problems = {path: _check_detail(client, seeded, path, cls) for path, cls in _routes("retrieve")}
    assert {path: problem for path, problem in problems.items() if problem} == {}


def test_several_fields_come_back_and_a_blank_parameter_means_all(admin_user):
    service = ServiceFactory(name="Exchange mail")
    client = api_as(admin_user)
    body = client.get(f"/api/v1/services/{service.pk}/", {"fields": "name,id,criticality"}).json()
    assert body == {"id": service.pk, "name": "Exchange mail", "criticality": service.criticality}
    assert client.get(f"/api/v1/services/{service.pk}/", {"fields": ""}).json() == client.get(f"/api/v1/services/{service.pk}/").json()


def test_unknown_fields_are_named_with_the_allowed_ones(admin_user):
    response = api_as(admin_user).get("/api/v1/users/", {"fields": "id,colour,shoe_size"})
    assert response.status_code == 400
    message = response.json()["fields"][0]
    assert message.startswith("Unknown fields: colour, shoe_size. Allowed: id, username,")


def test_write_only_fields_cannot_be_asked_for(admin_user):
    response = api_as(admin_user).get("/api/v1/users/", {"fields": "id,password"})
    assert response.status_code == 400 and "password" in response.json()["fields"][0]


def test_a_pruned_custom_field_is_not_added_back(admin_user):
    """UserSerializer writes roles itself; asking for username alone leaves it out."""
    rows = api_as(admin_user).get("/api/v1/users/", {"fields": "username"}).json()["results"]
    assert rows == [{"username": "admin"}]


def test_writes_ignore_fields_and_answer_in_full(admin_user):
    service = ServiceFactory(name="Exchange mail")
    response = api_as(admin_user).patch(f"/api/v1/services/{service.pk}/?fields=id", {"description": "Mail for everyone"}, format="json")
    assert response.status_code == 200
    assert response.json()["description"] == "Mail for everyone" and "name" in response.json()
    assert Service.objects.get(pk=service.pk).description == "Mail for everyone"


class _Costly(serializers.Serializer):
    id = serializers.IntegerField()
    expensive = serializers.SerializerMethodField()

    calls = 0

    def get_expensive(self, obj):
        type(self).calls += 1
        return "computed"


def test_unrequested_fields_are_never_computed():
    request = Request(APIRequestFactory().get("/", {"fields": "id"}))
    serializer = prune_fields(_Costly([{"id": 1}, {"id": 2}], many=True), request)
    assert serializer.data == [{"id": 1}, {"id": 2}]
    assert _Costly.calls == 0


@pytest.mark.django_db
def test_a_sparse_list_costs_no_more_queries_with_more_rows(admin_user, django_assert_max_num_queries):
    client = api_as(admin_user)
    UserFactory.create_batch(3)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/users/", {"fields": "id,roles"})
    UserFactory.create_batch(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/api/v1/users/", {"fields": "id,roles"})
