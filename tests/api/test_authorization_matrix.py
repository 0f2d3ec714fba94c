"""Who may do what through the API: every endpoint, each role and an anonymous caller,
against objects the caller may and may not see. Invisible objects are 404, never 403:
changing an id in a URL never reveals or changes what the caller may not touch."""

import pytest
from rest_framework.test import APIClient

from mof.choices import RoleCluster
from mof.models import ConfigurationItem, Service, User
from tests.factories import AdminFactory, CIFactory, ManagerFactory, RelationshipFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "employee", "partner", "support", "infra", "manager", "admin"]


@pytest.fixture
def world(db):
    people = {
        "anonymous": None,
        "employee": UserFactory(username="employee"),
        "partner": UserFactory(username="partner", roles=[RoleCluster.PARTNER]),
        "support": UserFactory(username="support", roles=[RoleCluster.SUPPORT]),
        "infra": UserFactory(username="infra", roles=[RoleCluster.INFRASTRUCTURE]),
        "manager": ManagerFactory(username="manager"),
        "admin": AdminFactory(username="admin"),
    }
    partner_ci = CIFactory(name="vendor-appliance", owner=people["partner"])
    other_ci = CIFactory(name="core-router", owner=people["infra"])
    third_ci = CIFactory(name="firewall")
    RelationshipFactory(source=third_ci, target=other_ci)
    service = ServiceFactory(name="Exchange mail")
    return {"people": people, "partner_ci": partner_ci, "other_ci": other_ci, "third_ci": third_ci, "service": service}


def client_for(world, role):
    client = APIClient()
    user = world["people"][role]
    if user is not None:
        client.force_authenticate(user)
    return client


def expect(table, role):
    value = table.get(role, table.get("*"))
    return value


# (name, method, url-builder, body-builder, expected status per role; "*" = every other authenticated role)
CASES = [
    ("list cis", "get", lambda w: "/api/v1/cis/", None, {"anonymous": 401, "*": 200}),
    (
        "read another's ci",
        "get",
        lambda w: f"/api/v1/cis/{w['other_ci'].pk}/",
        None,
        {"anonymous": 401, "employee": 404, "partner": 404, "*": 200},
    ),
    (
        "read own ci",
        "get",
        lambda w: f"/api/v1/cis/{w['partner_ci'].pk}/",
        None,
        {"anonymous": 401, "employee": 404, "*": 200},
    ),
    (
        "create ci",
        "post",
        lambda w: "/api/v1/cis/",
        lambda w: {"name": "new-ci", "ci_class": "server"},
        {"anonymous": 401, "employee": 403, "partner": 403, "support": 403, "*": 201},
    ),
    (
        "edit another's ci",
        "patch",
        lambda w: f"/api/v1/cis/{w['other_ci'].pk}/",
        lambda w: {"description": "x"},
        {"anonymous": 401, "employee": 404, "partner": 404, "support": 403, "*": 200},
    ),
    (
        "edit own ci",
        "patch",
        lambda w: f"/api/v1/cis/{w['partner_ci'].pk}/",
        lambda w: {"description": "x"},
        {"anonymous": 401, "employee": 404, "support": 403, "*": 200},
    ),
    (
        "delete ci",
        "delete",
        lambda w: f"/api/v1/cis/{w['third_ci'].pk}/",
        None,
        {"anonymous": 401, "employee": 404, "partner": 404, "support": 403, "infra": 403, "*": 204},
    ),
    (
        "impact of another's ci",
        "get",
        lambda w: f"/api/v1/cis/{w['other_ci'].pk}/impact/",
        None,
        {"anonymous": 401, "employee": 404, "partner": 404, "*": 200},
    ),
    (
        "history of another's ci",
        "get",
        lambda w: f"/api/v1/cis/{w['other_ci'].pk}/history/",
        None,
        {"anonymous": 401, "employee": 404, "partner": 404, "*": 200},
    ),
    (
        "transitions of another's ci",
        "get",
        lambda w: f"/api/v1/cis/{w['other_ci'].pk}/transitions/",
        None,
        {"anonymous": 401, "employee": 404, "partner": 404, "*": 200},
    ),
    (
        "commission another's ci",
        "post",
        lambda w: f"/api/v1/cis/{w['other_ci'].pk}/transitions/commission/",
        lambda w: {},
        {"anonymous": 401, "employee": 404, "partner": 404, "support": 403, "*": 200},
    ),
    (
        "reinstate needs a manager",
        "post",
        lambda w: f"/api/v1/cis/{w['other_ci'].pk}/transitions/reinstate/",
        lambda w: {"reason": "x"},
        {"anonymous": 401, "employee": 404, "partner": 404, "*": 409},
    ),
    ("list relationships", "get", lambda w: "/api/v1/relationships/", None, {"anonymous": 401, "*": 200}),
    (
        "add relationship between others' cis",
        "post",
        lambda w: "/api/v1/relationships/",
        lambda w: {"source": w["other_ci"].pk, "target": w["third_ci"].pk},
        {"anonymous": 401, "employee": 400, "partner": 400, "support": 403, "*": 201},
    ),
    ("list services", "get", lambda w: "/api/v1/services/", None, {"anonymous": 401, "*": 200}),
    ("read service", "get", lambda w: f"/api/v1/services/{w['service'].pk}/", None, {"anonymous": 401, "*": 200}),
    (
        "create service",
        "post",
        lambda w: "/api/v1/services/",
        lambda w: {"name": "OWA", "criticality": "high"},
        {"anonymous": 401, "manager": 201, "admin": 201, "*": 403},
    ),
    (
        "edit service",
        "patch",
        lambda w: f"/api/v1/services/{w['service'].pk}/",
        lambda w: {"hours_of_service": "24x7"},
        {"anonymous": 401, "manager": 200, "admin": 200, "*": 403},
    ),
    (
        "delete service",
        "delete",
        lambda w: f"/api/v1/services/{w['service'].pk}/",
        None,
        {"anonymous": 401, "manager": 204, "admin": 204, "*": 403},
    ),
    ("list ci classes", "get", lambda w: "/api/v1/ci-classes/", None, {"anonymous": 401, "*": 200}),
    (
        "add ci class",
        "post",
        lambda w: "/api/v1/ci-classes/",
        lambda w: {"name": "Load balancer"},
        {"anonymous": 401, "manager": 201, "admin": 201, "*": 403},
    ),
    ("me", "get", lambda w: "/api/v1/users/me/", None, {"anonymous": 401, "*": 200}),
    ("list users", "get", lambda w: "/api/v1/users/", None, {"anonymous": 401, "*": 200}),
    (
        "read a colleague",
        "get",
        lambda w: f"/api/v1/users/{w['people']['manager'].pk}/",
        None,
        {"anonymous": 401, "employee": 404, "partner": 404, "*": 200},
    ),
    (
        "provision a user",
        "post",
        lambda w: "/api/v1/users/",
        lambda w: {"username": "newbie", "roles": ["support"]},
        {"anonymous": 401, "admin": 201, "*": 403},
    ),
    (
        "grant yourself manager",
        "patch",
        lambda w: "/api/v1/users/me/",
        lambda w: {"is_manager": True},
        {"anonymous": 401, "*": 405},
    ),
    ("risk thresholds", "get", lambda w: "/api/v1/risk-thresholds/", None, {"anonymous": 401, "*": 200}),
    (
        "assess a risk",
        "post",
        lambda w: "/api/v1/risk-assessments/",
        lambda w: {"probability": 2, "impact": 3},
        {"anonymous": 401, "infra": 201, "manager": 201, "admin": 201, "*": 403},
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_api_authorization_matrix(world, role, case):
    name, method, url, body, table = case
    client = client_for(world, role)
    kwargs = {"format": "json"}
    if body is not None:
        kwargs["data"] = body(world)
    response = getattr(client, method)(url(world), **kwargs)
    assert response.status_code == expect(table, role), (
        f"{name} as {role}: {response.status_code} {getattr(response, 'data', '')}"
    )


@pytest.mark.parametrize("role", ["employee", "partner"])
def test_lists_hold_only_what_the_caller_may_see(world, role):
    client = client_for(world, role)
    cis = [c["name"] for c in client.get("/api/v1/cis/").json()["results"]]
    assert cis == (["vendor-appliance"] if role == "partner" else [])
    users = [u["username"] for u in client.get("/api/v1/users/").json()["results"]]
    assert users == [role]
    assert client.get("/api/v1/relationships/").json()["results"] == []


def test_nothing_was_written_by_refused_calls(world):
    before = (ConfigurationItem.objects.count(), Service.objects.count(), User.objects.count())
    for role in ("employee", "partner", "support"):
        client = client_for(world, role)
        client.post("/api/v1/cis/", {"name": "sneaky", "ci_class": "server"}, format="json")
        client.post("/api/v1/services/", {"name": "sneaky"}, format="json")
        client.post("/api/v1/users/", {"username": "sneaky"}, format="json")
        client.delete(f"/api/v1/cis/{world['other_ci'].pk}/")
    assert (ConfigurationItem.objects.count(), Service.objects.count(), User.objects.count()) == before


def test_refusals_are_logged_with_who_and_what(world):
    from mof.models import AuditEntry

    client_for(world, "support").post("/api/v1/services/", {"name": "sneaky"}, format="json")
    refusal = AuditEntry.objects.filter(action="refused", actor_name="support").latest("id")
    assert refusal.transition == "service.add"
