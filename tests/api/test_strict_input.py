"""No endpoint silently ignores a field it was sent (DESIGN.md, REST API conventions): every
operation that takes a JSON object answers a name it does not know with a 400 naming it,
never a 2xx that drops it. The walk covers every routed write operation of the schema, so
an endpoint added later without a serializer (or reading request.data by hand) fails here."""

import re

import pytest

from tests.api.seed import seed_portal
from tests.api.test_schema_fuzz import _collections, _real_keys
from tests.conftest import api_as

BOGUS = "no_such_field"
# Bodies that are not a JSON object of named fields (a file, a list of rows) or whose names are
# the caller's own (a monitoring event's free payload): nothing there can be "ignored".
NOT_AN_OBJECT = {
    "/api/v1/events/",  # monitoring ingestion: the sender's payload, kept as sent
}


def _write_operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in ("post", "put", "patch") and "application/json" in (operation.get("requestBody") or {}).get(
                "content", {}
            ):
                yield path, method, operation


def _fill(path, keys):
    """The path with each parameter naming a real object of its collection (else 1)."""

    def real(match):
        found = keys.get(path[: match.start()], [])
        return found[0] if found else "1"

    return re.sub(r"\{(\w+)\}", real, path)


@pytest.mark.django_db
def test_no_write_operation_silently_ignores_an_unknown_field():
    admin = seed_portal()
    client = api_as(admin)
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    keys = {path: _real_keys(cls, admin) for path, cls in _collections().items()}
    silent, checked = {}, 0
    for path, method, operation in _write_operations(schema):
        if path in NOT_AN_OBJECT:
            continue
        url = _fill(path, keys)
        response = getattr(client, method)(url, {BOGUS: 1}, format="json")
        checked += 1
        if response.status_code < 300 or (response.status_code == 400 and BOGUS not in response.json()):
            silent[f"{method.upper()} {path}"] = f"{response.status_code} {str(getattr(response, 'data', ''))[:200]}"
    assert checked > 40
    assert not silent, "\n".join(f"{k}: {v}" for k, v in sorted(silent.items()))


def test_the_message_names_what_may_be_sent(admin_user):
    response = api_as(admin_user).post("/api/v1/services/", {"name": "Mail", "colour": "red"}, format="json")
    assert response.status_code == 400
    assert response.json()["colour"][0].startswith("Unknown field. Allowed: name, owner, criticality")


def test_a_read_only_field_sent_unchanged_is_accepted_and_changed_is_refused(admin_user):
    client = api_as(admin_user)
    service = client.post("/api/v1/services/", {"name": "Mail"}, format="json").json()
    same = client.put(f"/api/v1/services/{service['id']}/", {**service, "description": "Exchange"}, format="json")
    assert same.status_code == 200 and same.json()["description"] == "Exchange", same.json()
    moved = client.patch(f"/api/v1/services/{service['id']}/", {"id": service["id"] + 1}, format="json")
    assert moved.status_code == 400 and moved.json() == {"id": ["This field is read-only."]}
    created = client.post("/api/v1/services/", {"name": "Other", "created_at": service["created_at"]}, format="json")
    assert created.status_code == 400 and created.json()["created_at"] == ["This field is read-only."]


def test_a_transition_refuses_input_it_does_not_take(admin_user):
    from tests.factories import CIFactory

    ci = CIFactory()
    client = api_as(admin_user)
    options = {o["name"]: o for o in client.get(f"/api/v1/cis/{ci.pk}/transitions/").json()}
    name = next(n for n, o in options.items() if o["allowed"])
    response = client.post(f"/api/v1/cis/{ci.pk}/transitions/{name}/", {"colour": "red"}, format="json")
    assert response.status_code == 400 and "colour" in response.json()


def test_convening_an_emergency_cab_refuses_a_field_it_does_not_take(admin_user):
    response = api_as(admin_user).post("/api/v1/reviews/emergency/", {"attendee": [admin_user.pk]}, format="json")
    assert response.status_code == 400 and "attendee" in response.json()
