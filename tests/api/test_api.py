import pytest
from rest_framework.authtoken.models import Token

from mof.choices import CIStatus
from mof.models import AuditEntry, CIRelationship, ConfigurationItem, User
from tests.conftest import api_as
from tests.factories import (
    PASSWORD,
    CIFactory,
    RelationshipFactory,
    ServiceFactory,
)

pytestmark = pytest.mark.django_db


def writes():
    return AuditEntry.objects.exclude(action__in=["refused", "login_failed"]).count()


def test_token_auth_round_trip(api, infra_user):
    response = api.post("/api/v1/auth/token/", {"username": "infra", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert api.get("/api/v1/users/me/").json()["username"] == "infra"


def test_wrong_token_and_wrong_password_are_401_or_400(api, infra_user):
    assert api.post("/api/v1/auth/token/", {"username": "infra", "password": "nope"}, format="json").status_code == 400
    api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")
    assert api.get("/api/v1/cis/").status_code == 401


def test_anonymous_is_refused(api):
    assert api.get("/api/v1/cis/").status_code in (401, 403)


def test_me_lists_roles(infra_user):
    body = api_as(infra_user).get("/api/v1/users/me/").json()
    assert body["roles"] == ["infrastructure"]


def test_create_ci_and_read_it_back(infra_user):
    service = ServiceFactory()
    response = api_as(infra_user).post(
        "/api/v1/cis/",
        {
            "name": "mbx-01",
            "ci_class": "mailbox-server",
            "owner": infra_user.pk,
            "services": [service.pk],
            "attributes": {"ram_gb": 64},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "planned" and body["services"] == [service.pk] and body["attributes"] == {"ram_gb": 64}


def test_status_is_read_only_on_the_resource(infra_user):
    ci = CIFactory(owner=infra_user)
    response = api_as(infra_user).patch(
        f"/api/v1/cis/{ci.pk}/", {"status": "retired", "description": "x"}, format="json"
    )
    assert response.status_code == 400 and response.json() == {
        "status": ["This field is read-only."]
    }  # refused, not ignored
    assert ConfigurationItem.objects.get(pk=ci.pk).status == CIStatus.PLANNED
    assert ConfigurationItem.objects.get(pk=ci.pk).description == ""
    unchanged = api_as(infra_user).patch(
        f"/api/v1/cis/{ci.pk}/", {"status": "planned", "description": "x"}, format="json"
    )
    assert unchanged.status_code == 200 and unchanged.json()["description"] == "x"


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"name": "x", "ci_class": "toaster"}, "ci_class"),
        ({"name": "x", "ci_class": "server", "environment": "moon"}, "environment"),
        ({"name": "x", "ci_class": "server", "attributes": [1, 2]}, "attributes"),
        ({"name": "x", "ci_class": "server", "owner": 999999}, "owner"),
        ({"name": "", "ci_class": "server"}, "name"),
        ({"name": ["x"], "ci_class": 5}, "ci_class"),
    ],
)
def test_bad_ci_input_gets_field_errors_and_writes_nothing(infra_user, payload, field):
    before = writes()
    response = api_as(infra_user).post("/api/v1/cis/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert writes() == before


def test_duplicate_ci_name_is_a_field_error(infra_user):
    CIFactory(name="dup")
    response = api_as(infra_user).post("/api/v1/cis/", {"name": "dup", "ci_class": "server"}, format="json")
    assert response.status_code == 400 and "name" in response.json()


@pytest.mark.parametrize("body", ['{"name": ', "[1, 2, 3]", '"just a string"', "null"])
def test_malformed_json_is_a_400_never_a_500(infra_user, body):
    client = api_as(infra_user)
    for method, url in (("post", "/api/v1/cis/"), ("post", "/api/v1/relationships/"), ("post", "/api/v1/services/")):
        response = getattr(client, method)(url, data=body, content_type="application/json")
        assert response.status_code in (400, 403), (url, body, response.status_code)


def test_relationship_rules(infra_user):
    a, b = CIFactory(), CIFactory()
    client = api_as(infra_user)
    ok = client.post("/api/v1/relationships/", {"source": a.pk, "target": b.pk, "type": "depends_on"}, format="json")
    assert ok.status_code == 201
    before = writes()
    duplicate = client.post(
        "/api/v1/relationships/", {"source": a.pk, "target": b.pk, "type": "depends_on"}, format="json"
    )
    assert duplicate.status_code == 400 and "target" in duplicate.json()
    self_edge = client.post("/api/v1/relationships/", {"source": a.pk, "target": a.pk}, format="json")
    assert self_edge.status_code == 400 and "target" in self_edge.json()
    missing = client.post("/api/v1/relationships/", {"source": a.pk, "target": 987654}, format="json")
    assert missing.status_code == 400 and "target" in missing.json()
    bad_type = client.post("/api/v1/relationships/", {"source": a.pk, "target": b.pk, "type": "likes"}, format="json")
    assert bad_type.status_code == 400 and "type" in bad_type.json()
    assert writes() == before
    # Another type between the same CIs is a different edge.
    assert (
        client.post(
            "/api/v1/relationships/", {"source": a.pk, "target": b.pk, "type": "connects_to"}, format="json"
        ).status_code
        == 201
    )
    assert CIRelationship.objects.count() == 2


def test_impact_endpoint_returns_blast_radius_with_paths_and_criticality(infra_user):
    router, firewall, hub = CIFactory(name="router"), CIFactory(name="firewall"), CIFactory(name="hub")
    mail = ServiceFactory(name="Exchange mail", criticality="critical")
    hub.services.set([mail])
    RelationshipFactory(source=firewall, target=router)
    RelationshipFactory(source=hub, target=firewall)
    body = api_as(infra_user).get(f"/api/v1/cis/{router.pk}/impact/").json()
    assert [c["name"] for c in body["cis"]] == ["firewall", "hub"]
    # Each CI names the CI it was reached through; full paths only on request.
    assert [(c["via"], c["depth"], c["relationship"]) for c in body["cis"]] == [
        (router.pk, 1, "depends_on"),
        (firewall.pk, 2, "depends_on"),
    ]
    assert all("path" not in c for c in body["cis"])
    with_paths = api_as(infra_user).get(f"/api/v1/cis/{router.pk}/impact/?paths=1").json()
    assert with_paths["cis"][1]["path"] == [
        {"id": router.pk, "name": "router"},
        {"id": firewall.pk, "name": "firewall"},
        {"id": hub.pk, "name": "hub"},
    ]
    assert with_paths["services"] == body["services"]
    assert body["services"] == [
        {
            "id": mail.pk,
            "name": "Exchange mail",
            "criticality": "critical",
            "via_ci": {"id": hub.pk, "name": "hub"},
            "path": ["router", "firewall", "hub", "Exchange mail"],
        }
    ]
    up = api_as(infra_user).get(f"/api/v1/cis/{hub.pk}/impact/?direction=upstream").json()
    assert [c["name"] for c in up["cis"]] == ["firewall", "router"]
    assert api_as(infra_user).get(f"/api/v1/cis/{hub.pk}/impact/?direction=sideways").status_code == 400


def test_transitions_endpoints_map_failures_to_http(infra_user, support_user, manager):
    ci = CIFactory(owner=None)
    client = api_as(infra_user)
    listed = client.get(f"/api/v1/cis/{ci.pk}/transitions/").json()
    assert {t["name"] for t in listed} == {"commission", "retire"}
    blocked = client.post(f"/api/v1/cis/{ci.pk}/transitions/commission/", {}, format="json")
    assert blocked.status_code == 400 and blocked.json()["reasons"]
    assert client.post(f"/api/v1/cis/{ci.pk}/transitions/fly/", {}, format="json").status_code == 404
    ConfigurationItem.objects.filter(pk=ci.pk).update(owner=infra_user)
    assert (
        api_as(support_user).post(f"/api/v1/cis/{ci.pk}/transitions/commission/", {}, format="json").status_code == 403
    )
    done = client.post(f"/api/v1/cis/{ci.pk}/transitions/commission/", {}, format="json")
    assert done.status_code == 200 and done.json()["status"] == "in_service"
    again = client.post(f"/api/v1/cis/{ci.pk}/transitions/commission/", {}, format="json")
    assert again.status_code == 409
    no_reason = api_as(manager).post(f"/api/v1/cis/{ci.pk}/transitions/retire/", {}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    retired = api_as(manager).post(f"/api/v1/cis/{ci.pk}/transitions/retire/", {"reason": "EOL"}, format="json")
    assert retired.status_code == 200 and retired.json()["retired_reason"] == "EOL"
    history = client.get(f"/api/v1/cis/{ci.pk}/history/").json()["results"]
    assert [h["transition"] for h in history if h["action"] == "transition"] == ["retire", "commission"]


def test_user_provisioning_is_for_admins_only(admin_user, manager):
    payload = {
        "username": "newbie",
        "email": "n@example.test",
        "roles": ["support", "security"],
        "password": "a long passphrase",
    }
    assert api_as(manager).post("/api/v1/users/", payload, format="json").status_code == 403
    assert not User.objects.filter(username="newbie").exists()
    created = api_as(admin_user).post("/api/v1/users/", payload, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["roles"] == ["security", "support"]
    assert "password" not in created.json()
    bad = api_as(admin_user).post("/api/v1/users/", {"username": "x", "roles": ["wizard"]}, format="json")
    assert bad.status_code == 400 and "roles" in bad.json()
    user = User.objects.get(username="newbie")
    assert user.check_password("a long passphrase")
    changed = api_as(admin_user).patch(
        f"/api/v1/users/{user.pk}/", {"roles": ["release"], "is_manager": True}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["roles"] == ["release"] and changed.json()["is_manager"]
    assert api_as(manager).patch(f"/api/v1/users/{user.pk}/", {"is_manager": False}, format="json").status_code == 403


def test_risk_assessment_endpoint(manager, support_user):
    created = api_as(manager).post("/api/v1/risk-assessments/", {"probability": 4, "impact": 5}, format="json")
    assert created.status_code == 201 and created.json()["level"] == "critical" and created.json()["score"] == 20
    assert (
        api_as(manager).post("/api/v1/risk-assessments/", {"probability": 9, "impact": 5}, format="json").status_code
        == 400
    )
    assert (
        api_as(support_user)
        .post("/api/v1/risk-assessments/", {"probability": 1, "impact": 1}, format="json")
        .status_code
        == 403
    )
    assert [t["level"] for t in api_as(manager).get("/api/v1/risk-thresholds/").json()] == [
        "low",
        "medium",
        "high",
        "critical",
    ]


def test_page_and_cursor_pagination(infra_user, settings):
    CIFactory.create_batch(7)
    client = api_as(infra_user)
    first = client.get("/api/v1/cis/?page_size=3").json()
    assert first["count"] == 7 and first["count_exact"] and len(first["results"]) == 3 and first["next"]
    assert client.get("/api/v1/cis/?page=99").status_code == 404
    assert client.get("/api/v1/cis/?page=abc").status_code == 404
    seen, url = [], "/api/v1/cis/?cursor=&page_size=3"
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert seen == sorted(seen) and len(seen) == 7


def test_counts_stop_at_the_limit(infra_user, settings):
    settings.MOF_COUNT_LIMIT = 5
    CIFactory.create_batch(7)
    body = api_as(infra_user).get("/api/v1/cis/?page_size=2").json()
    assert body["count"] is None and body["count_exact"] is False and body["next"]


def test_ci_list_endpoint_queries_do_not_grow_with_page_size(infra_user, django_assert_max_num_queries):
    service = ServiceFactory()
    for ci in CIFactory.create_batch(40, owner=infra_user):
        ci.services.set([service])
    client = api_as(infra_user)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get("/api/v1/cis/?page_size=1")  # warm up: the caller's roles are loaded once per request user
    counts = []
    for size in (5, 39):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/v1/cis/?page_size={size}").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_schema_and_docs_are_served_without_a_cdn(infra_user):
    client = api_as(infra_user)
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


def test_token_is_per_user(infra_user):
    token = Token.objects.create(user=infra_user)
    client = api_as(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/users/me/").json()["id"] == infra_user.pk


def test_deep_pages_keep_the_order(infra_user, settings):
    from mof import pagination

    CIFactory.create_batch(12)
    qs = ConfigurationItem.objects.order_by("-name")
    shallow = [ci.pk for ci in pagination.paginate(qs, page=3, page_size=4).items]
    old = pagination.DEEP_OFFSET
    pagination.DEEP_OFFSET = 1
    try:
        deep = pagination.paginate(qs, page=3, page_size=4)
    finally:
        pagination.DEEP_OFFSET = old
    assert [ci.pk for ci in deep.items] == shallow and deep.count == 12
