"""?fields= on every list and detail endpoint: only the named fields, unknown names a 400,
pruned before serializing, never on writes. The route walk fails for any viewset someone
routes without mof.api.fields.SparseFieldsMixin, and for any other API view (reports, the
schedule, a run of a job...) without mof.api.fields.SparseFieldsView or a case below."""

import datetime as dt
import re

import pytest
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.schemas.generators import EndpointEnumerator
from rest_framework.test import APIRequestFactory

from mof.api.fields import SparseFieldsMixin, SparseFieldsView, prune_fields, readable_fields
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
    missing = sorted(
        {f"{cls.__module__}.{cls.__name__}" for _, cls in routes if not issubclass(cls, SparseFieldsMixin)}
    )
    assert len(routes) > 20
    assert not missing, f"Add mof.api.fields.SparseFieldsMixin to: {', '.join(missing)}"


def _bad(problems: dict) -> str:
    """The problems found, one line per path (all of them, untruncated)."""
    return "\n".join(f"{path}: {problem}" for path, problem in sorted(problems.items()) if problem)


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
        return "no rows to check: seed some in tests/api/seed.py"
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
    assert not _bad(problems), _bad(problems)


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
    assert not _bad(problems), _bad(problems)


# --- the other GET actions of viewsets (history, transitions, a job's runs, an agenda...) -----

# Routes that may not take ?fields= yet (none): the walk fails once one listed here takes it.
NOT_YET: set[str] = set()


def _extra_routes():
    """(path, viewset class, action) of every routed viewset GET other than list and retrieve."""
    found = {}
    for path, method, callback in EndpointEnumerator().get_api_endpoints():
        action = (getattr(callback, "actions", None) or {}).get("get")
        if path.startswith("/api/") and method == "GET" and action not in (None, "list", "retrieve"):
            found[path] = (callback.cls, action)
    return sorted((path, cls, action) for path, (cls, action) in found.items())


def test_every_other_get_action_of_a_viewset_takes_sparse_fields():
    routes = _extra_routes()
    missing = [
        f"{path} ({cls.__name__}.{action})"
        for path, cls, action in routes
        if action not in cls.sparse_actions and path not in NOT_YET
    ]
    taken = [path for path, cls, action in routes if path in NOT_YET and action in cls.sparse_actions]
    assert len(routes) > 30
    assert not missing, (
        f"Name these in the viewset's sparse_actions and answer through self.sparse(...): {', '.join(missing)}"
    )
    assert not taken, f"These take ?fields= now: drop them from NOT_YET: {', '.join(taken)}"


def _candidate_urls(cls, user, path, tries=8):
    """Paths of this route naming real objects the user may see (a few: not every review has a health report)."""
    if "{" not in path:
        return [path]
    view = cls()
    view.action, view.action_map, view.kwargs, view.format_kwarg = "retrieve", {"get": "retrieve"}, {}, None
    view.request = view.initialize_request(APIRequestFactory().get("/"))
    view.request.user = user
    urls = []
    for obj in view.get_queryset()[:tries]:
        url = re.sub(r"\{(pk|id)\}", str(getattr(obj, cls.lookup_field)), path)
        if "{item_id}" in url:  # an agenda item of this review
            urls += [
                url.replace("{item_id}", str(item))
                for item in obj.items.order_by("pk").values_list("pk", flat=True)[:2]
            ]
        else:
            urls.append(url)
    return urls


# What an action needs besides ?fields= to answer with objects (the seed has a known error "OWA times out").
EXTRA_QUERY = {"/api/v1/incidents/search/": {"q": "OWA"}}


def _check_extra(client, user, path, cls, action=None):
    """What is wrong with ?fields= on this GET action (None: nothing)."""
    query = EXTRA_QUERY.get(path, {})
    for url in _candidate_urls(cls, user, path):
        full = client.get(url, query)
        objects = answer_objects(cls, full.json(), action) if full.status_code == 200 else []
        if not objects:
            continue
        refused = client.get(url, {**query, "fields": BOGUS})
        if (
            refused.status_code != 400
            or BOGUS not in refused.json()["fields"][0]
            or "Allowed:" not in refused.json()["fields"][0]
        ):
            return f"{url}?fields={BOGUS} answered {refused.status_code} {refused.content[:200]!r}"
        name = _one_field(objects[0])
        sparse = client.get(url, {**query, "fields": name})
        if sparse.status_code != 200 or answer_objects(cls, sparse.json(), action) != [
            {name: o[name]} for o in objects
        ]:
            return f"{url}?fields={name} gave {sparse.status_code} {sparse.content[:200]!r}"
        return None
    return "no object answers it with something to check: seed one in tests/api/seed.py"


def test_every_other_get_action_of_a_viewset_returns_only_the_requested_fields(seeded):
    client = api_as(seeded)
    problems = {
        path: _check_extra(client, seeded, path, cls, action)
        for path, cls, action in _extra_routes()
        if path not in NOT_YET
    }
    assert not _bad(problems), _bad(problems)


def test_a_get_action_that_also_writes_answers_its_writes_in_full(seeded):
    """?fields= cuts the GET of a job's runs, not the run its POST reports."""
    from operations.models_jobs import Job

    job = _first(Job)
    client = api_as(seeded)
    assert all(
        set(run) == {"id"} for run in client.get(f"/api/v1/jobs/{job.pk}/runs/", {"fields": "id"}).json()["results"]
    )
    answer = client.post(f"/api/v1/jobs/{job.pk}/runs/?fields=id", {"status": "success"}, format="json")
    assert answer.status_code == 201 and {"id", "status", "job"} <= set(answer.json())


# --- API views that are not viewsets -------------------------------------------------------

NOT_OBJECTS = {"/api/v1/schema/", "/api/v1/docs/"}  # the API's own description
# A file itself, not an object (mof.api.attachments).
NOT_OBJECTS |= {
    f"/api/v1/{kind}/{{pk}}/attachments/{{attachment_pk}}/download/" for kind in ("incidents", "problems", "changes")
}


def _plain_views():
    """(path, view class) of every routed API GET that is not a viewset's."""
    found = {}
    for path, method, callback in EndpointEnumerator().get_api_endpoints():
        if (
            path.startswith("/api/")
            and method == "GET"
            and not getattr(callback, "actions", None)
            and path not in NOT_OBJECTS
        ):
            found[path] = callback.cls
    return sorted(found.items())


def answer_objects(view_class, body, action=None) -> list:
    """The objects of an answer that ?fields= cuts: those in the envelope's lists the view
    (sparse_in) or its action (sparse_in_actions) names, a page's results, each of a plain
    list, or the answer itself."""
    keys = getattr(view_class, "sparse_in", ()) or getattr(view_class, "sparse_in_actions", {}).get(action, ())
    if keys:
        return [row for key in keys for row in body[key]]
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and "results" in body and issubclass(view_class, SparseFieldsMixin):
        return body["results"]
    return [body]


def _today():
    return dt.date.today()


def _first(model, **filters):
    return model.objects.filter(**filters).order_by("pk").first()


def _conflicts_url():
    from changes.models import RequestForChange as Change

    return f"/api/v1/changes/{_first(Change).pk}/conflicts/", {}


def _run_url():
    from operations.models_jobs import JobRun

    run = _first(JobRun)
    return f"/api/v1/jobs/{run.job_id}/runs/{run.pk}/", {}


def _clocks_url():
    from slas.models import SLAClock

    return f"/api/v1/incidents/{_first(SLAClock, ticket_type='incidents.incident').ticket_id}/clocks/", {}


def _attachment_url(label, prefix):
    def url():
        from mof.models import Attachment

        attachment = (
            Attachment.objects.filter(
                ticket_type__app_label=label.split(".")[0], ticket_type__model=label.split(".")[1]
            )
            .order_by("pk")
            .first()
        )
        return f"/api/v1/{prefix}/{attachment.ticket_id}/attachments/{attachment.pk}/", {}

    return url


# How to call each: a new API view without a case here fails the walk below.
PLAIN_CASES = {
    "/api/v1/changes/{pk}/conflicts/": _conflicts_url,
    "/api/v1/schedule/": lambda: (
        "/api/v1/schedule/",
        {"start": str(_today() - dt.timedelta(days=30)), "end": str(_today() + dt.timedelta(days=60))},
    ),
    "/api/v1/jobs/{job_pk}/runs/{pk}/": _run_url,
    "/api/v1/backup-coverage/": lambda: ("/api/v1/backup-coverage/", {}),
    "/api/v1/incidents/{pk}/clocks/": _clocks_url,
    "/api/v1/reports/compliance/": lambda: (
        "/api/v1/reports/compliance/",
        {"start": str(_today() - dt.timedelta(days=365)), "end": str(_today())},
    ),
    "/api/v1/measurements/": lambda: ("/api/v1/measurements/", {}),
    # A period in the past: its rows do not change between two calls.
    "/api/v1/reports/availability/": lambda: (
        "/api/v1/reports/availability/",
        {"start": str(_today() - dt.timedelta(days=60)), "end": str(_today() - dt.timedelta(days=1))},
    ),
    "/api/v1/incidents/{pk}/attachments/{attachment_pk}/": _attachment_url("incidents.incident", "incidents"),
    "/api/v1/problems/{pk}/attachments/{attachment_pk}/": _attachment_url("incidents.problem", "problems"),
    "/api/v1/changes/{pk}/attachments/{attachment_pk}/": _attachment_url("changes.requestforchange", "changes"),
    "/api/v1/services/{pk}/availability/": lambda: (f"/api/v1/services/{_first(Service).pk}/availability/", {}),
}


def test_every_api_view_that_is_not_a_viewset_takes_sparse_fields():
    views = _plain_views()
    missing = sorted({f"{cls.__module__}.{cls.__name__}" for _, cls in views if not issubclass(cls, SparseFieldsView)})
    assert len(views) >= len(PLAIN_CASES)
    assert not missing, f"Give these mof.api.fields.SparseFieldsView (and a case in PLAIN_CASES): {', '.join(missing)}"


def _check_plain(client, path, cls):
    """What is wrong with ?fields= on this API view (None: nothing)."""
    case = PLAIN_CASES.get(path)
    if case is None:
        return "no case: add one to PLAIN_CASES"
    url, params = case()
    full = client.get(url, params)
    if full.status_code != 200:
        return f"{full.status_code} without ?fields="
    body = full.json()
    objects = answer_objects(cls, body)
    if not objects:
        return "no objects to check: seed some in tests/api/seed.py"
    allowed = readable_fields(cls.sparse_serializer())
    if any(set(o) != set(allowed) for o in objects):
        return f"the allowed fields {allowed} are not those answered: {sorted(objects[0])}"

    refused = client.get(url, {**params, "fields": f"{allowed[0]},{BOGUS}"})
    if refused.status_code != 400:
        return f"?fields={BOGUS} answered {refused.status_code}, not 400"
    message = refused.json()["fields"][0]
    if BOGUS not in message or f"Allowed: {', '.join(allowed)}." not in message:
        return f"unclear message {message!r}"

    name = "id" if "id" in allowed else allowed[0]
    sparse = client.get(url, {**params, "fields": f" {name} ,,{name}"})
    if sparse.status_code != 200:
        return f"?fields={name} answered {sparse.status_code}"
    sparse_body = sparse.json()
    if answer_objects(cls, sparse_body) != [{name: o[name]} for o in objects]:
        return f"?fields={name} gave {answer_objects(cls, sparse_body)[:2]}"
    if isinstance(body, dict) and cls.sparse_in:  # the envelope stays
        keep = lambda b: {k: v for k, v in b.items() if k not in cls.sparse_in}  # noqa: E731
        if keep(sparse_body) != keep(body):
            return f"envelope changed: {keep(sparse_body)}"
    return None


def test_every_api_view_that_is_not_a_viewset_returns_only_the_requested_fields(seeded):
    client = api_as(seeded)
    problems = {path: _check_plain(client, path, cls) for path, cls in _plain_views()}
    assert not _bad(problems), _bad(problems)


def test_a_run_of_a_job_is_sparse_only_when_read(seeded):
    """A report that a run finished (PATCH) answers in full, whatever ?fields= says."""
    from operations.models_jobs import JobRun
    from tests.operations.jobs_factories import run

    job = _first(JobRun).job
    running = run(job, start=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10), status="running")
    url = f"/api/v1/jobs/{job.pk}/runs/{running.pk}/?fields=id"
    client = api_as(seeded)
    assert client.get(url).json() == {"id": running.pk}
    answer = client.patch(url, {"status": "success"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "success" and "log_excerpt" in answer.json()


def test_the_schedule_skips_the_conflict_marks_it_was_not_asked_for(seeded, monkeypatch):
    from operations import calendar

    asked = []
    build = calendar.build
    monkeypatch.setattr(calendar, "build", lambda **kw: asked.append(kw["marks"]) or build(**kw))
    client = api_as(seeded)
    period = {"start": str(_today()), "end": str(_today() + dt.timedelta(days=30))}
    client.get("/api/v1/schedule/", {**period, "fields": "id,title"})
    client.get("/api/v1/schedule/", {**period, "fields": "id,conflicts"})
    client.get("/api/v1/schedule/", period)
    assert asked == [False, True, True]


def test_a_change_s_conflicts_leave_out_the_free_slots_unless_asked(seeded, monkeypatch):
    from changes.models import RequestForChange as Change
    from operations.api import views

    slots = []
    monkeypatch.setattr(views, "next_free_slots", lambda change, count: slots.append(count) or [])
    client = api_as(seeded)
    url = f"/api/v1/changes/{_first(Change).pk}/conflicts/"
    body = client.get(url, {"fields": "change,conflicts"}).json()
    assert set(body) == {"change", "conflicts"} and slots == []
    assert set(client.get(url).json()) == {"change", "conflicts", "free_slots"} and slots == [3]


def test_the_compliance_report_as_csv_has_the_asked_columns(seeded):
    client = api_as(seeded)
    period = {"start": str(_today() - dt.timedelta(days=365)), "end": str(_today())}
    full = client.get("/api/v1/reports/compliance/", {**period, "format": "csv"})
    sparse = client.get("/api/v1/reports/compliance/", {**period, "format": "csv", "fields": "sla,compliance"})
    assert full.status_code == sparse.status_code == 200
    full_lines, sparse_lines = full.content.decode().splitlines(), sparse.content.decode().splitlines()
    assert full_lines[0].startswith("sla,kind,service,metric") and sparse_lines[0] == "sla,compliance"
    assert len(sparse_lines) == len(full_lines) > 1
    refused = client.get("/api/v1/reports/compliance/", {**period, "format": "csv", "fields": "colour"})
    assert refused.status_code == 400 and b"Unknown field: colour" in refused.content


def test_the_schema_documents_sparse_fields_on_api_views_that_are_not_viewsets(admin_user):
    schema = api_as(admin_user).get("/api/v1/schema/", {"format": "json"}).json()
    for route, cls in _plain_views():
        path = route.replace("{pk}", "{id}")  # as the schema names the path parameter
        operation = schema["paths"][path]["get"]
        fields = [p for p in operation.get("parameters", []) if p["name"] == "fields"]
        assert len(fields) == 1, path
        assert fields[0]["schema"]["items"]["enum"] == readable_fields(cls.sparse_serializer()), path
        for method in set(schema["paths"][path]) - {"get", "parameters"}:
            assert not any(p["name"] == "fields" for p in schema["paths"][path][method].get("parameters", [])), (
                path,
                method,
            )
    schedule = next(p for p in schema["paths"]["/api/v1/schedule/"]["get"]["parameters"] if p["name"] == "fields")
    for route, cls, action in _extra_routes():
        path = re.sub(r"\{pk\}", "{id}", route)
        documented = {
            method
            for method, operation in schema["paths"][path].items()
            if any(p["name"] == "fields" for p in operation.get("parameters", []))
        }
        assert documented == (set() if route in NOT_YET else {"get"}), (path, documented)
    assert "`changes`" in schedule["description"] and "the rest of the answer stays" in schedule["description"]


def test_several_fields_come_back_and_a_blank_parameter_means_all(admin_user):
    service = ServiceFactory(name="Exchange mail")
    client = api_as(admin_user)
    body = client.get(f"/api/v1/services/{service.pk}/", {"fields": "name,id,criticality"}).json()
    assert body == {"id": service.pk, "name": "Exchange mail", "criticality": service.criticality}
    assert (
        client.get(f"/api/v1/services/{service.pk}/", {"fields": ""}).json()
        == client.get(f"/api/v1/services/{service.pk}/").json()
    )


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
    response = api_as(admin_user).patch(
        f"/api/v1/services/{service.pk}/?fields=id", {"description": "Mail for everyone"}, format="json"
    )
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
