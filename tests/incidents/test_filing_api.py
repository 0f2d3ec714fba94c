"""Filing through the API (POST /api/v1/incidents/): the ordinary filing is validated with the
serializer's fields built once and all its ids looked up in one query
(incidents.api.serializers.quick_input), and answered from the incident just saved
(mof.api.reads.represent_written). Both must change nothing a client sees: every input gets
the answer (status, body, what is stored) the serializer's own path gives, and the 201 body
is what GET /api/v1/incidents/{id}/ then answers the same user."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.api import serializers as s
from incidents.models import Incident, KnownError, Problem
from mof import audit
from mof.models import AuditEntry
from tests.conftest import api_as
from tests.factories import CIFactory, ServiceFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/incidents/"
# Set by the server, or different for every filing: left out when two filings are compared.
VOLATILE = {"id", "number", "reference", "created_at", "updated_at"}


@pytest.fixture
def desk():
    agent = UserFactory(username="agent", roles=["support"])
    other_agent = UserFactory(username="agent2", roles=["support"])
    caller = UserFactory(username="caller")
    gone = UserFactory(username="gone", is_active=False)
    group = TeamFactory(name="Messaging", role_cluster="support", members=[agent])
    service = ServiceFactory(name="Exchange mail")
    # Names out of id order: a filing's CIs come back in the CIs' default order (by name).
    cis = [CIFactory(name=name) for name in ("zeta-db", "alpha-web", "mid-cache")]
    problem = Problem.objects.create(title="Mailbox moves fail", problem_manager=agent)
    known_error = KnownError.objects.create(
        problem=problem, title="Mailbox moves fail", root_cause="Quota", workaround="Raise the quota"
    )
    return {
        "agent": agent,
        "other_agent": other_agent,
        "caller": caller,
        "gone": gone,
        "group": group,
        "service": service,
        "cis": cis,
        "known_error": known_error,
    }


def _bodies(d):
    """Inputs of every kind: what the quick path takes, and what it leaves to the serializer."""
    cis = [c.pk for c in d["cis"]]
    full = {
        "title": "  VPN drops — “every” few minutes  ",
        "description": "Line one\nline two \u2028 and\u00a0more",
        "service": d["service"].pk,
        "impact": 1,
        "urgency": 3,
        "category": "Network",
        "assignment_group": d["group"].pk,
        "assignee": d["agent"].pk,
        "channel": "monitoring",
        "known_error": d["known_error"].pk,
        "outage_start": "2026-03-29T02:30:15.123456+02:00",
        "outage_end": "2026-03-29T03:30:15Z",
        "affected_cis": [cis[0], cis[1], cis[0]],
        "caller": d["caller"].pk,
        "reason": "",
    }
    return [
        # taken by the quick path
        {"title": "Outlook cannot send"},
        full,
        {
            "title": "nulls",
            "service": None,
            "assignment_group": None,
            "assignee": None,
            "known_error": None,
            "outage_start": None,
            "affected_cis": [],
        },
        {"title": "a group only", "assignment_group": d["group"].pk, "impact": "1", "urgency": 2},
        {"title": "filed for myself", "caller": d["agent"].pk},
        # the serializer's path, accepted
        {"title": "ids as text", "service": str(d["service"].pk), "affected_cis": [str(cis[2])]},
        {"title": "an empty id is none", "service": ""},
        # refused by the serializer (an id is never a number with a fraction or an exponent: mof.api.parsers)
        {"title": "id as a float", "assignment_group": float(d["group"].pk)},
        {},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": None},
        {"title": ["a"]},
        {"title": "x", "impact": 7},
        {"title": "x", "urgency": True},
        {"title": "x", "channel": "fax"},
        {"title": "x", "service": 999999},
        {"title": "x", "service": 2**40},
        {"title": "x", "service": -1},
        {"title": "x", "service": "abc"},
        {"title": "x", "service": True},
        {"title": "x", "service": [d["service"].pk]},
        {"title": "x", "service": {}},
        {"title": "x", "affected_cis": str(cis[0])},
        {"title": "x", "affected_cis": [999999]},
        {"title": "x", "affected_cis": [True]},
        {"title": "x", "affected_cis": None},
        {"title": "x", "affected_cis": {"a": 1}},
        {"title": "x", "caller": d["gone"].pk},
        {"title": "x", "caller": None},
        {"title": "x", "service": 999999, "assignment_group": 999999, "impact": 9},
        {"title": "x", "outage_start": "not a date"},
        [],
        "text",
        {"title": "x", "status": "resolved"},
        {"title": "x", "priority": 1},
        {"title": "x", "unknown": "never silently ignored"},
        # refused by the service
        {"title": "x", "assignee": d["other_agent"].pk, "assignment_group": d["group"].pk},
        {"title": "x", "assignee": d["agent"].pk},
        {"title": "x", "outage_start": "2026-03-29T05:00:00Z", "outage_end": "2026-03-29T04:00:00Z"},
    ]


def _stored(pk):
    incident = Incident.objects.get(pk=pk)
    columns = {
        f.attname: getattr(incident, f.attname) for f in Incident._meta.concrete_fields if f.attname not in VOLATILE
    }
    entry = AuditEntry.objects.filter(model_label="incidents.incident", object_id=str(pk), action="create").get()
    changes = {k: v for k, v in entry.changes.items() if k not in VOLATILE}
    return columns, sorted(incident.affected_cis.values_list("pk", flat=True)), (entry.actor_id, entry.via, changes)


def _file(client, body):
    response = client.post(URL, body, format="json")
    data = response.json()
    if response.status_code == 201:
        return 201, {k: v for k, v in data.items() if k not in VOLATILE}, _stored(data["id"])
    return response.status_code, data, None


@pytest.mark.parametrize("who", ["agent", "caller"])
def test_every_input_gets_what_the_serializer_gives(desk, monkeypatch, who):
    client = api_as(desk[who])
    taken = []
    quick = s.quick_input
    monkeypatch.setattr(s, "quick_input", lambda *args, **kwargs: taken.append(quick(*args, **kwargs)) or taken[-1])
    bodies = _bodies(desk)
    answers = [_file(client, body) for body in bodies]
    monkeypatch.setattr(s, "quick_input", lambda *args, **kwargs: None)
    assert [_file(client, body) for body in bodies] == answers
    statuses = [status for status, *_ in answers]
    if who == "agent":
        assert statuses[:7] == [201] * 7 and set(statuses[7:]) == {400}
        assert [given is not None for given in taken[:5]] == [True] * 5  # the ordinary filings took the quick path
        assert not any(taken[5:-3])  # what the serializer judges otherwise, or refuses, did not
        assert all(taken[-3:])  # refused by the service, after the quick validation
    else:  # a caller may set only title, description, service, urgency and channel
        assert statuses[0] == 201 and statuses[1] == 400 and statuses[2] == 400
    assert answers[1 if who == "agent" else 0][0] == 201


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns"])
@pytest.mark.parametrize("who", ["agent", "caller"])
def test_the_201_body_is_what_a_get_then_answers(desk, settings, zone, who):
    settings.TIME_ZONE = zone
    client = api_as(desk[who])
    bodies = [
        b
        for b in _bodies(desk)[:7]
        if who == "agent" or set(b) <= {"title", "description", "service", "urgency", "channel"}
    ]
    if who == "caller":
        bodies.append(
            {
                "title": "mine",
                "description": "From home",
                "service": desk["service"].pk,
                "urgency": 1,
                "channel": "email",
            }
        )
        bodies.append({"title": "  no service  ", "service": None})
    assert len(bodies) >= 3
    for body in bodies:
        filed = client.post(URL, body, format="json")
        assert filed.status_code == 201, filed.json()
        shown = client.get(f"{URL}{filed.json()['id']}/")
        assert shown.status_code == 200
        assert filed.content == shown.content
    if who == "caller":
        assert (
            "assignee" not in filed.json() and "affected_cis" not in filed.json()
        )  # a caller's view: no internal fields


def test_the_quick_path_builds_no_serializer_and_answers_from_the_saved_incident(desk, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a serializer was built")

    monkeypatch.setattr(s.IncidentSerializer, "__init__", refuse)
    monkeypatch.setattr(s.CallerIncidentSerializer, "__init__", refuse)
    s.quick_input(s.IncidentSerializer, {"title": "warm"}, user=desk["agent"])  # fields built before, once per process
    client = api_as(desk["agent"])
    body = client.post(
        URL,
        {"title": "Mail down", "service": desk["service"].pk, "affected_cis": [c.pk for c in desk["cis"]]},
        format="json",
    ).json()
    assert body["affected_cis"] == [c.pk for c in sorted(desk["cis"], key=lambda c: c.name)]
    assert (
        body["title"] == "Mail down"
        and body["priority"] == 3
        and body["status"] == "new"
        and body["reference"] == f"INC-{body['number']}"
    )
    assert api_as(desk["caller"]).post(URL, {"title": "Printer jammed"}, format="json").status_code == 201


def test_a_filing_costs_a_fixed_number_of_queries(desk):
    client = api_as(desk["agent"])
    client.post(URL, {"title": "first"}, format="json")  # the process's first filing reads the SLAs, the matrix...
    cases = [
        ({"title": "plain"}, 0),
        # Into a group's queue: the group and its members in one query, their mail in one INSERT (the notification outbox);
        # and since mail is worth reading (mof.notifications): the service and the caller the mail names (when set and not loaded yet), the
        # members' notification preferences, their in-portal notifications in one INSERT, a lock on their threads' roots and which of
        # them hold the thread already.
        (
            {
                "title": "with ids",
                "service": desk["service"].pk,
                "assignment_group": desk["group"].pk,
                "known_error": desk["known_error"].pk,
                "caller": desk["caller"].pk,
            },
            1 + 2 + 6,
        ),
        ({"title": "with an assignee", "assignment_group": desk["group"].pk, "assignee": desk["agent"].pk}, 2 + 2 + 4),
    ]
    for body, extra in cases:
        with CaptureQueriesContext(connection) as ctx:
            assert client.post(URL, body, format="json").status_code == 201
        sql = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]  # the test's own transaction
        # The ids in one query; the assignee's membership; the number; the incident; its SLA event;
        # its audit entry (no SLA applies here, so no clock); nothing read back.
        assert len(sql) == 4 + extra, "\n".join(sql)
        assert not [q for q in sql if q.startswith("SELECT") and '"incidents_incident"."id"' in q]
    with CaptureQueriesContext(connection) as ctx:
        client.post(
            URL,
            {"title": "with CIs", "service": desk["service"].pk, "affected_cis": [c.pk for c in desk["cis"]]},
            format="json",
        )
    sql = [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]
    # The ids (service and CIs together); the number; the incident; its event; its audit entry; the
    # CIs added (those already there, none; the insert; its audit entry); the CIs in their order
    # for the answer.
    assert len([q for q in sql if "mof_configurationitem" in q and "UNION ALL" in q]) == 1
    assert len(sql) == 9, "\n".join(sql)


def test_a_filing_is_attributed_and_audited_as_before(desk):
    response = api_as(desk["agent"]).post(
        URL, {"title": "Mail down", "service": desk["service"].pk, "caller": desk["caller"].pk}, format="json"
    )
    incident = Incident.objects.get(pk=response.json()["id"])
    assert incident.caller_id == desk["caller"].pk and incident.service_id == desk["service"].pk
    entry = AuditEntry.objects.get(model_label="incidents.incident", object_id=str(incident.pk), action="create")
    assert entry.actor_id == desk["agent"].pk and entry.via == "api" and entry.object_repr == str(incident)
    assert entry.changes["service_id"] == [None, desk["service"].pk] and audit.current().actor is None


def test_filing_for_someone_else_is_for_the_desk(desk):
    refused = api_as(desk["caller"]).post(URL, {"title": "x", "caller": desk["agent"].pk}, format="json")
    assert refused.status_code == 403
    assert AuditEntry.objects.filter(action="refused", actor_id=desk["caller"].pk).exists()
    assert not Incident.objects.exists()


def test_a_time_given_in_another_zone_is_stored_as_that_instant(desk, settings):
    settings.TIME_ZONE = "America/St_Johns"
    body = (
        api_as(desk["agent"])
        .post(URL, {"title": "x", "outage_start": "2026-03-29T02:30:15.5+02:00"}, format="json")
        .json()
    )
    assert Incident.objects.get(pk=body["id"]).outage_start == dt.datetime(
        2026, 3, 29, 0, 30, 15, 500000, tzinfo=dt.UTC
    )
    assert body["outage_start"] == "2026-03-28T22:00:15.500000-02:30"


def test_a_serializer_whose_validation_has_hooks_keeps_drf(desk):
    class WithValidate(s.IncidentSerializer):
        def validate(self, attrs):
            return attrs

    class WithFieldHook(s.IncidentSerializer):
        def validate_title(self, value):
            return value.upper()

    class WithSlug(s.IncidentSerializer):
        service = s.serializers.SlugRelatedField(slug_field="name", queryset=s.Service.objects.all(), required=False)

    class WithSliced(s.IncidentSerializer):
        service = s.serializers.PrimaryKeyRelatedField(queryset=s.Service.objects.all()[:5], required=False)

    for cls in (WithValidate, WithFieldHook, WithSlug, WithSliced):
        assert s.quick_input(cls, {"title": "x"}, user=desk["agent"]) is None, cls
    assert s.quick_input(s.IncidentSerializer, {"title": "x"}, user=desk["agent"]) == (
        {"title": "x", "channel": "api"},
        {},
    )
