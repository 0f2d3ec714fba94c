"""The API against its own OpenAPI schema: schemathesis generates requests for every
operation (valid and invalid input), authenticated as an admin and as an ordinary member
of staff, and checks each answer: never a server error, only documented status codes,
bodies and content types as the schema says (response conformance), sparse answers
(?fields=) included; and every GET that takes ?fields= is called with one field, all of
them and none, each answer checked the same way.

Detail paths mostly name real objects (tests/api/seed.py seeds every resource), so the
fuzzing reaches the serializers, services and transitions rather than only 404s.
Deterministic (derandomize) and bounded (MAX_EXAMPLES per operation) so CI stays fast."""

import datetime as dt
import os
import re
import traceback
import zlib

import pytest
import schemathesis
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.signals import got_request_exception, request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import DatabaseError, close_old_connections, transaction
from django.urls import resolve
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from rest_framework.schemas.generators import EndpointEnumerator
from rest_framework.test import APIRequestFactory
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from mof.api.fields import FIELDS_PARAM
from mof.models import User
from tests.api.seed import seed_portal
from tests.api.test_sparse_fields import answer_objects
from tests.conftest import api_as

MAX_EXAMPLES = 6
SCHEMA_PATH = "/api/v1/schema/"


def _collections():
    """Collection path ("/api/v1/cis/") -> its viewset class, for every routed list."""
    found = {}
    for path, method, callback in EndpointEnumerator().get_api_endpoints():
        if method == "GET" and (getattr(callback, "actions", None) or {}).get("get") == "list":
            found[path] = callback.cls
    return found


def _real_keys(cls, user):
    """A few lookup values of objects the user may see in this collection."""
    view = cls()
    view.action, view.action_map, view.kwargs, view.format_kwarg = "list", {"get": "list"}, {}, None
    view.request = view.initialize_request(APIRequestFactory().get("/"))
    view.request.user = user
    try:
        queryset = view.get_queryset()
    except PermissionDenied:  # a collection the user may not read at all
        return []
    return [str(v) for v in queryset.values_list(cls.lookup_field, flat=True)[:5]]


def _negative(case):
    return {
        location
        for location, info in (case._meta.components if case._meta else {}).items()
        if not info.mode.is_positive
    }


def _is_negative(case, location):
    return location in _negative(case)


class Fuzzer:
    """Who calls, and which real objects a detail path may name."""

    def __init__(self, user):
        self.user = user
        self.calls = 0
        self.headers = {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}
        self.keys = {path: _real_keys(cls, user) for path, cls in _collections().items()}

    def aim(self, case):
        """Three times in four, point the first path parameter at a real object of its collection."""
        path = case.operation.path
        first = re.search(r"\{(\w+)\}", path)
        if not first or not case.path_parameters or _is_negative(case, ParameterLocation.PATH):
            return
        keys = self.keys.get(path[: first.start()], [])
        value = str(case.path_parameters.get(first.group(1), ""))
        pick = zlib.crc32(value.encode())
        if keys and pick % 4:
            case.path_parameters[first.group(1)] = keys[pick % len(keys)]

    def run(self, case):
        self.calls += 1
        self.aim(case)
        cache.clear()  # rate-limit counters: the fuzzing is not a burst to throttle
        errors = []

        def record(sender, request=None, **kw):
            return errors.append(traceback.format_exc())

        got_request_exception.connect(record, weak=False)
        try:
            # Each request in a savepoint: on PostgreSQL, one whose database error was swallowed
            # would otherwise leave the test's transaction aborted for every later request.
            with transaction.atomic():
                response = case.call(headers=self.headers)
        except DatabaseError as exc:
            raise AssertionError(
                f"{case.method} {case.formatted_path} {case.query!r:.300} {case.body!r:.300} left the transaction broken: {exc}"
            ) from None
        finally:
            got_request_exception.disconnect(record)
        assert not errors, (
            f"{case.method} {case.formatted_path} {case.query!r:.300} {case.body!r:.300}\n{errors[0][-1200:]}"
        )
        # Not checked: that every schema-valid request succeeds (a filter naming an object that
        # does not exist is rightly a 400) and that every invalid one is refused (DRF reads
        # leniently by design: a number for a text field, an empty filter as no filter).
        # Invalid input must still never be a 5xx nor get an answer the schema does not describe.
        excluded = [positive_data_acceptance, negative_data_rejection]
        if FIELDS_PARAM in (case.query or {}) and response.status_code == 200:
            # A sparse answer conforms to the schema (its objects require nothing: mof.api.schema)
            # and holds only the fields asked for.
            raw = case.query[FIELDS_PARAM]
            asked = {
                n.strip()
                for n in (",".join(map(str, raw)) if isinstance(raw, list) else str(raw)).split(",")
                if n.strip()
            }
            is_json = "json" in "".join(response.headers.get("content-type", []))  # not a report asked for as CSV
            # The objects ?fields= cuts: a page's results, each of a list, an envelope's lists (a report's rows).
            rows = answer_objects(resolve(case.formatted_path).func.cls, response.json()) if is_json else []
            if asked:  # a blank ?fields= means every field
                assert all(set(row) <= asked for row in rows if isinstance(row, dict)), (asked, rows[:1])
        case.validate_response(response, headers=self.headers, excluded_checks=excluded)


@pytest.fixture
def in_test_transaction():
    """Django closes the database connection after each request; in-process, that would end
    the test's transaction (PostgreSQL), so keep it open as Django's test client does."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def admin(db, in_test_transaction):
    return Fuzzer(seed_portal())


@pytest.fixture
def staff(admin):
    return Fuzzer(User.objects.get(username="support"))


def _schema(fuzzer):
    return schemathesis.openapi.from_wsgi(SCHEMA_PATH, get_wsgi_application(), headers=fuzzer.headers)


def _fuzz(schema, fuzzer, skip=r"^$"):
    """Every operation, valid then invalid input; what went wrong, per operation and mode."""
    failures, operations = {}, 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if re.search(skip, operation.path) or not re.search(os.environ.get("MOF_FUZZ_ONLY", ""), operation.label):
            continue
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ_SETTINGS
            @given(case=operation.as_strategy(mode))
            def fuzz(case):
                fuzzer.run(case)

            try:
                fuzz()
            except Unsatisfiable:  # no invalid request exists (an operation without input)
                pass
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # every operation is fuzzed; all failures are reported together
                failures[f"{operation.label} ({mode})"] = f"{type(exc).__name__}: {str(exc)[:1500]}"
    if not os.environ.get("MOF_FUZZ_ONLY"):  # the whole API was fuzzed, not a handful of requests
        assert operations > 150 and fuzzer.calls > 4 * operations, (operations, fuzzer.calls)
    return failures


FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def test_api_answers_every_request_as_its_schema_says_for_an_admin(admin):
    failures = _fuzz(_schema(admin), admin)
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


def test_api_answers_every_request_as_its_schema_says_for_a_member_of_staff(admin, staff):
    failures = _fuzz(_schema(admin), staff, skip=r"^/api/v1/(schema|docs)/")
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _sparse_operations(schema):
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == "GET" and any(p.name == FIELDS_PARAM for p in operation.query):
            yield operation


def _plausible(parameter):
    """A value a required query parameter accepts (a period's bounds: the coming month)."""
    schema = parameter.definition.get("schema", {})
    if schema.get("enum"):
        return str(schema["enum"][0])
    if parameter.name in ("end", "until"):
        return (dt.date.today() + dt.timedelta(days=30)).isoformat()
    if schema.get("format") in ("date", "date-time") or parameter.name in ("start", "since"):
        return dt.date.today().isoformat()
    return "1" if schema.get("type") == "integer" else "mail"


def test_sparse_answers_conform_to_the_schema(admin):
    """Every GET that takes ?fields=, on a real object: without it, with one field and with all of
    them, each answer a 200 as its schema describes (clients generated from it accept them)."""
    schema, failures, calls = _schema(admin), {}, 0
    for operation in _sparse_operations(schema):
        fields_parameter = next(p for p in operation.query if p.name == FIELDS_PARAM)
        names = fields_parameter.definition["schema"]["items"].get("enum", [])
        first = re.search(r"\{(\w+)\}", operation.path)
        path_parameters = {}
        if first:
            keys = admin.keys.get(operation.path[: first.start()], [])
            if not keys:
                continue
            path_parameters = {name: keys[0] for name in re.findall(r"\{(\w+)\}", operation.path)}
        required = {p.name: _plausible(p) for p in operation.query if p.is_required and p.name != FIELDS_PARAM}
        for query in ({}, {FIELDS_PARAM: names[:1]}, {FIELDS_PARAM: names}):
            case = operation.Case(
                path_parameters=path_parameters, query={**required, **{k: ",".join(v) for k, v in query.items()}}
            )
            cache.clear()
            with transaction.atomic():
                response = case.call(headers=admin.headers)
            calls += 1
            if response.status_code == 404 and len(path_parameters) > 1:
                break  # a nested path whose second key is not of the first one's object
            try:
                assert response.status_code == 200, f"{response.status_code} {response.text[:300]}"
                case.validate_response(response, headers=admin.headers, checks=CONFORMANCE)
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # every operation is checked; all failures are reported together
                failures[f"{operation.label} {query}"] = f"{type(exc).__name__}: {str(exc)[:800]}"
                break
    assert calls > 90, calls
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


# What the fuzzing found, each pinned by a plain test.


def test_deleting_a_service_still_in_use_is_a_conflict_naming_its_users(admin_user):
    from incidents.models import Incident
    from tests.factories import ServiceFactory
    from tests.incidents.factories import IncidentFactory

    service = ServiceFactory()
    IncidentFactory(service=service)
    response = api_as(admin_user).delete(f"/api/v1/services/{service.pk}/")
    assert response.status_code == 409
    assert response.json()["code"] == "in_use" and str(Incident._meta.verbose_name_plural) in response.json()["detail"]


def test_an_id_no_column_can_hold_is_a_bad_request(admin_user):
    response = api_as(admin_user).get("/api/v1/changes/", {"implementer": str(2**64)})
    assert response.status_code == 400 and "out of range" in response.json()["implementer"][0]
    within = api_as(admin_user).get("/api/v1/changes/", {"implementer": str(2**63 - 1)})
    assert within.status_code == 400 and "out of range" not in str(within.json())  # no such user, said by the filter


def test_an_unknown_api_path_answers_json(admin_user):
    response = api_as(admin_user).get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


def test_an_incomplete_interval_in_a_calendar_patch_is_refused(admin_user):
    from slas.models import BusinessCalendar

    calendar = BusinessCalendar.objects.create(name="Office", time_zone="UTC")
    response = api_as(admin_user).patch(
        f"/api/v1/calendars/{calendar.pk}/", {"intervals": [{"weekday": 1, "start": "08:00"}]}, format="json"
    )
    assert response.status_code == 400
    assert "This field is required." in str(response.json()["intervals"]), response.json()


def test_a_nul_character_in_a_search_names_the_parameter(admin_user):
    response = api_as(admin_user).get("/api/v1/services/", {"search": "mail\x00"})
    assert response.status_code == 400 and "search" in response.json()


def test_the_schema_documents_sparse_fields_and_the_error_responses(admin_user):
    schema = api_as(admin_user).get(SCHEMA_PATH, {"format": "json"}).json()
    listing, detail, create = (
        schema["paths"]["/api/v1/services/"]["get"],
        schema["paths"]["/api/v1/services/{id}/"]["get"],
        schema["paths"]["/api/v1/services/"]["post"],
    )
    fields = next(p for p in listing["parameters"] if p["name"] == FIELDS_PARAM)
    assert fields["style"] == "form" and fields["explode"] is False and "name" in fields["schema"]["items"]["enum"]
    assert any(p["name"] == FIELDS_PARAM for p in detail["parameters"])
    assert not any(p["name"] == FIELDS_PARAM for p in create.get("parameters", []))
    assert {"400", "401", "403", "404", "429"} <= set(listing["responses"]) and "409" not in listing["responses"]
    assert "409" in create["responses"]
    assert create["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert list(create["requestBody"]["content"]) == ["application/json"]


def test_a_page_beyond_any_offset_is_not_found(admin_user):
    response = api_as(admin_user).get("/api/v1/known-errors/", {"page": str(2**59 - 1)})
    assert response.status_code == 404 and response.json() == {"detail": "Invalid page."}


def test_a_date_time_filter_with_an_offset_the_database_refuses_is_a_bad_request(admin_user):
    response = api_as(admin_user).get("/api/v1/reviews/", {"scheduled_at__lte": "2026-06-28T16:29:48-21:20"})
    assert response.status_code == 400 and "out of range" in response.json()["scheduled_at__lte"][0]
    assert (
        api_as(admin_user).get("/api/v1/reviews/", {"scheduled_at__lte": "2026-06-28T16:29:48-09:30"}).status_code
        == 200
    )


def test_answers_that_take_sparse_fields_require_no_property_in_the_schema(admin_user):
    schema = api_as(admin_user).get(SCHEMA_PATH, {"format": "json"}).json()
    components = schema["components"]["schemas"]
    listing = schema["paths"]["/api/v1/ci-classes/"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = components[listing["$ref"].rsplit("/", 1)[1]]
    item = page["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[1]
    assert (
        item == "CIClassSparse" and "required" not in components[item] and "fields=" in components[item]["description"]
    )
    assert set(components[item]["properties"]) == set(components["CIClass"]["properties"])
    created = schema["paths"]["/api/v1/ci-classes/"]["post"]["responses"]["201"]["content"]["application/json"][
        "schema"
    ]
    assert (
        created == {"$ref": "#/components/schemas/CIClass"} and "id" in components["CIClass"]["required"]
    )  # a write answers in full
    for path, operations in schema["paths"].items():
        get = operations.get("get")
        if get and any(p["name"] == FIELDS_PARAM for p in get.get("parameters", [])):
            assert "Sparse" in str(get["responses"]["200"]) or "required" not in str(get["responses"]["200"]), path
