"""The rows read path of the incident API (mof.api.reads): list and detail GETs answer
exactly what the serializers answer, in a constant, small number of queries; the token,
its user and roles come in one query and nothing of them is kept between requests; the
rate-limit counter and the filter backend's shortcuts behave as before."""

import datetime as dt
import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from incidents.api import serializers as s
from incidents.models import Incident, Problem
from mof import pagination
from mof.api.reads import ValuesReadMixin, read_plan
from mof.models import RoleAssignment
from tests.core.accounts_factories import make_token
from tests.factories import CIFactory, ServiceFactory, TeamFactory, UserFactory
from tests.incidents.factories import IncidentFactory

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 3, 29, 0, 30, 15, 123456, tzinfo=dt.UTC)  # the night Europe/Berlin goes to summer time


@pytest.fixture
def desk():
    agent = UserFactory(username="agent", roles=["support"])
    caller = UserFactory(username="caller")
    group = TeamFactory(name="Messaging", role_cluster="support", members=[agent])
    service = ServiceFactory(name="Exchange mail")
    # Names out of id order: the ids must come in the CIs' default order (by name).
    cis = [CIFactory(name=name) for name in ("zeta-db", "alpha-web", "mid-cache")]
    problem = Problem.objects.create(title="Mailbox moves fail", problem_manager=agent)
    plain = IncidentFactory(caller=caller, title="Outlook cannot send")
    full = IncidentFactory(
        caller=caller,
        title="VPN drops — “every” few minutes",
        description="Line one\nline two \u2028 and\u00a0more",
        service=service,
        assignment_group=group,
        assignee=agent,
        category="Network",
        impact=1,
        urgency=3,
        problem=problem,
        outage_start=WHEN,
        outage_end=WHEN + dt.timedelta(hours=2, microseconds=1),
    )
    full.affected_cis.set(cis)
    other = IncidentFactory(title="Someone else's")
    Incident.objects.filter(pk=full.pk).update(
        status="resolved", resolution_code="solved", resolved_at=WHEN, is_major=True, reopen_count=2
    )
    Incident.objects.filter(pk=plain.pk).update(created_at=WHEN - dt.timedelta(days=400))
    IncidentFactory.create_batch(6, caller=caller)
    return {"agent": agent, "caller": caller, "full": full, "plain": plain, "other": other, "cis": cis}


def _token_client(user):
    _, key = make_token(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def _answers(client, paths):
    out = []
    for path in paths:
        response = client.get(path)
        out.append((path, response.status_code, response.content))
    return out


def _paths(desk):
    full, plain, other = desk["full"].pk, desk["plain"].pk, desk["other"].pk
    return [
        f"/api/v1/incidents/{full}/",
        f"/api/v1/incidents/{plain}/",
        f"/api/v1/incidents/{other}/",
        f"/api/v1/incidents/{full}/?fields=affected_cis,reference,outage_end,status",
        f"/api/v1/incidents/{full}/?fields=id",
        f"/api/v1/incidents/{full}/?fields=",
        f"/api/v1/incidents/{full}/?fields=reason",
        f"/api/v1/incidents/{full}/?fields=nope",
        "/api/v1/incidents/",
        "/api/v1/incidents/?page_size=4",
        "/api/v1/incidents/?page_size=4&page=2",
        "/api/v1/incidents/?page_size=4&page=3",
        "/api/v1/incidents/?page_size=4&page=9",
        "/api/v1/incidents/?cursor=&page_size=3",
        "/api/v1/incidents/?cursor=&page_size=3&ordering=-created_at",
        "/api/v1/incidents/?ordering=created_at&fields=id,created_at",
        "/api/v1/incidents/?status=resolved",
        "/api/v1/incidents/?assignee__isnull=false&fields=assignee,assignment_group",
        "/api/v1/incidents/?search=VPN",
        "/api/v1/incidents/?fields=nope",
        "/api/v1/incidents/999999/",
        "/api/v1/incidents/abc/",
    ]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns"])
@pytest.mark.parametrize("who", ["agent", "caller"])
def test_rows_answer_what_the_serializers_answer(desk, settings, monkeypatch, zone, who):
    settings.TIME_ZONE = zone
    monkeypatch.setattr(pagination, "DEEP_OFFSET", 4)  # page 2 on: ids first, then the rows by id
    client = _token_client(desk[who])
    paths = _paths(desk)
    through_rows = _answers(client, paths)
    monkeypatch.setattr(ValuesReadMixin, "read_plan", lambda self: None)  # DRF's serializers
    through_serializers = _answers(client, paths)
    assert through_rows == through_serializers
    statuses = {path: status for path, status, _ in through_rows}
    assert statuses[f"/api/v1/incidents/{desk['full'].pk}/"] == 200
    assert statuses["/api/v1/incidents/?fields=nope"] == 400 and statuses["/api/v1/incidents/abc/"] == 404


def test_the_rows_path_is_the_one_taken(desk, monkeypatch):
    """Else the comparison above would compare DRF with itself."""

    def refuse(self, instance):
        raise AssertionError("serialized by DRF")

    monkeypatch.setattr(serializers.Serializer, "to_representation", refuse)
    for who in ("agent", "caller"):
        client = _token_client(desk[who])
        assert client.get(f"/api/v1/incidents/{desk['full'].pk}/").status_code == 200
        assert client.get("/api/v1/incidents/?page_size=3").status_code == 200
        assert client.get("/api/v1/incidents/?cursor=&fields=id,title").status_code == 200
    body = _token_client(desk["agent"]).get(f"/api/v1/incidents/{desk['full'].pk}/").json()
    assert body["affected_cis"] == [c.pk for c in sorted(desk["cis"], key=lambda c: c.name)]
    assert body["reference"] == desk["full"].reference and body["impact"] == 1 and body["status"] == "resolved"


def test_a_serializer_the_rows_cannot_render_exactly_keeps_drf(db):
    class WithMethod(serializers.ModelSerializer):
        label = serializers.SerializerMethodField()

        class Meta:
            model = Incident
            fields = ["id", "label"]

        def get_label(self, obj):
            return obj.title

    class Dotted(serializers.ModelSerializer):
        caller_name = serializers.CharField(source="caller.username")

        class Meta:
            model = Incident
            fields = ["id", "caller_name"]

    class Nested(serializers.ModelSerializer):
        caller = serializers.SlugRelatedField(slug_field="username", read_only=True)

        class Meta:
            model = Incident
            fields = ["id", "caller"]

    class OwnRepresentation(serializers.ModelSerializer):
        class Meta:
            model = Incident
            fields = ["id"]

        def to_representation(self, instance):
            return {"id": instance.pk * 2}

    for serializer in (WithMethod, Dotted, Nested, OwnRepresentation):
        assert read_plan(serializer) is None, serializer.__name__
    assert read_plan(s.IncidentSerializer) is not None
    assert read_plan(s.IncidentSerializer, ["id", "reason"]) is None  # write-only: DRF answers the 400
    assert read_plan(s.IncidentListSerializer, ["title", "id"]).names == ["id", "title"]  # the serializer's order
    assert read_plan(s.IncidentListSerializer, ["title", "nope"]) is None


def _queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_a_detail_and_a_page_cost_a_constant_few_queries(desk):
    IncidentFactory.create_batch(40, caller=desk["caller"])
    client = _token_client(desk["agent"])
    client.get("/api/v1/incidents/")  # the token's once-a-minute last_used_at stamp, out of the counts
    # The token with its user and roles; the incident (with its CIs' ids on PostgreSQL).
    detail = 2 if connection.vendor == "postgresql" else 3
    assert _queries(client, f"/api/v1/incidents/{desk['full'].pk}/") == detail
    assert _queries(client, f"/api/v1/incidents/{desk['full'].pk}/?fields=id,status") == 2  # no CIs asked
    # The token; the page (a page-numbered list also counts).
    assert [_queries(client, f"/api/v1/incidents/?cursor=&page_size={n}") for n in (5, 20, 45)] == [2, 2, 2]
    assert [_queries(client, f"/api/v1/incidents/?page_size={n}") for n in (5, 20)] == [3, 3]


def test_the_token_its_user_and_roles_are_read_again_on_every_request(desk):
    agent = desk["agent"]
    token, key = make_token(agent)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    other = f"/api/v1/incidents/{desk['other'].pk}/"
    assert client.get(other).status_code == 200  # the service desk sees every incident
    RoleAssignment.objects.filter(user=agent).delete()
    assert client.get(other).status_code == 404  # without the role: only one's own
    agent.is_active = False
    agent.save()
    assert client.get("/api/v1/incidents/").status_code == 401
    agent.is_active = True
    agent.save()
    assert client.get("/api/v1/incidents/").status_code == 200
    token.revoked_at = timezone.now()
    token.save()
    response = client.get("/api/v1/incidents/")
    assert response.status_code == 401 and "revoked" in response.json()["detail"]


def test_a_read_only_token_still_cannot_write(desk):
    _, key = make_token(desk["agent"], scope="read_only")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"/api/v1/incidents/{desk['full'].pk}/").status_code == 200
    assert client.post("/api/v1/incidents/", {"title": "x"}, format="json").status_code == 403


def test_no_filterset_is_built_unless_a_parameter_names_a_filter(desk, monkeypatch):
    from django_filters import FilterSet

    built = []
    original = FilterSet.__init__

    def counting(self, *args, **kwargs):
        built.append(type(self))
        original(self, *args, **kwargs)

    monkeypatch.setattr(FilterSet, "__init__", counting)
    client = _token_client(desk["agent"])
    everything = client.get("/api/v1/incidents/?page_size=100&fields=id").json()["results"]
    assert len(everything) == Incident.objects.count() and built == []
    resolved = client.get("/api/v1/incidents/?status=resolved&fields=id").json()["results"]
    assert resolved == [{"id": desk["full"].pk}] and len(built) == 1
    bad = client.get("/api/v1/incidents/?priority__lte=many")
    assert bad.status_code == 400 and "priority__lte" in bad.json()


@pytest.mark.integration
def test_the_rate_counter_in_redis_counts_and_expires():
    url = os.environ.get("REDIS_TEST_URL") or os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith(("redis://", "rediss://")):
        pytest.skip("needs Redis (set CELERY_BROKER_URL=redis://...)")
    from django.core.cache import caches
    from django.test import override_settings

    from mof.api.throttling import count_hit

    with override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "mof-test-reads",
            }
        }
    ):
        backend = caches["default"]
        backend.delete("reads:counter")
        try:
            assert [count_hit("reads:counter", 61) for _ in range(3)] == [1, 2, 3]
            assert backend.get("reads:counter") == 3  # Django's cache reads what the script wrote
            redis = backend._cache.get_client(write=True)
            assert 0 < redis.ttl(backend.make_and_validate_key("reads:counter")) <= 61
        finally:
            backend.delete("reads:counter")
