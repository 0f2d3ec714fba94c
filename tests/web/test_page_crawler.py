"""No page answers 5xx (issue 11): the crawler visits every page of the web UI, as every kind
of reader, plainly and with each of the parameters the page reads given a plausible value and
nonsense, on the demo organisation (tests/api/seed.py).

- The pages come from the URL resolver (the admin and the API aside); path parameters are
  filled with real objects of the seeded portal (_objects, by the route's path prefix).
- The readers: anonymous, an employee without a role, each role cluster, a manager and the
  administrator.
- The parameters of a page are found, not listed: the fields and links of what the page shows
  (its GET forms, its sort/tab/page links), the filters of the FilterSet it renders, and the
  names its view (and the helpers the view calls) reads from request.GET; plus the usual
  page/page_size/sort/export.
- The administrator, who sees every page in full, sends each parameter alone (plausible, then
  nonsense) and all of them at once with each nonsense value; the other readers send all of a
  page's parameters at once, plausible and then nonsense (a few requests per page keep the
  crawl short).
- Coverage: a route neither crawled nor in NOT_CRAWLED (with its reason) fails, and so does a
  route that answered 404 to every reader (its path was filled with an object no one sees).
Failures are collected and reported together."""

import datetime as dt
import functools
import inspect
import re
import time
import types
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

import django_filters
import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from mof.choices import RoleCluster
from tests.api.seed import seed_portal
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Sent to every parameter: the kinds of nonsense a typed-in or tampered address carries.
NONSENSE = [
    "zzz",
    "-1",
    "0",
    "999999999999999999999",  # beyond any integer column
    "1e309",  # a float that overflows to infinity
    "9999-12-31",  # a real date whose month or week grid leaves the calendar
    "\u00b2",  # "²": str.isdigit() says yes, int() says no
    "2026-02-30",  # a date that does not exist
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "a\x00b",  # PostgreSQL takes no NUL in a text value
    "",
    "a" * 600,
]
# Read by many pages through shared helpers (pagination, sorting, CSV export).
COMMON_PARAMETERS = {"page": "2", "page_size": "5", "sort": "-created", "export": "csv"}

# Routes the crawler does not visit, and why. None today: POST-only actions (logout included)
# answer a GET with 405, and every path parameter is filled from the seeded portal.
NOT_CRAWLED: dict[str, str] = {
    # 404 unless OpenID Connect is configured (tests/identity/test_local_login.py); the
    # configured flow runs against a real provider in tests/identity/test_sso_browser.py.
    "oidc_authentication_init": "single sign-on, off in the crawled portal",
    "oidc_authentication_callback": "single sign-on, off in the crawled portal",
}


def web_routes():
    """(name, path, view) of every named route of the web UI (the admin and the API aside)."""
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            route = str(p.pattern)
            if isinstance(p, URLResolver):
                if not route.startswith(("admin/", "api/")):
                    walk(p.url_patterns, prefix + route)
            elif isinstance(p, URLPattern) and p.name:
                found.append((p.name, prefix + route, p.callback))

    walk(get_resolver().url_patterns, "")
    return found


# --- the seeded portal and its objects ---------------------------------------------------------


def _first(model, **filters):
    return model.objects.filter(**filters).order_by("pk").first()


def _objects(admin):
    """{path prefix before <pk>: the object whose id fills it}; the longest prefix wins."""
    from changes.models import Release, RequestForChange, StandardChangeTemplate
    from incidents.models import InboundMessage, Incident, Problem, ProblemProposal, SavedFilter
    from integrations.models import WebhookDelivery, WebhookSubscription
    from mof.models import Attachment, CIRelationship, ConfigurationItem, Service, User
    from mof.models_access import ApiToken, LoginLockout
    from mof.models_mail import Notification
    from operations.models import FreezeWindow, MaintenanceWindow
    from operations.models_jobs import Job
    from reviews.models import Meeting
    from slas.models import (
        BusinessCalendar,
        CapacityWarning,
        RecomputeJob,
        ServiceLevelAgreement,
    )
    from slas.models_availability import OutageRecord
    from slas.models_capacity import CapacityThreshold

    incident = Incident.objects.filter(is_major=True).order_by("-number").first()
    service = _first(Service)
    return {
        "changing/changes/": RequestForChange.objects.filter(comments__isnull=False).first(),
        "changing/releases/": _first(Release),
        "changing/templates/": _first(StandardChangeTemplate),
        "operating/security/service-accounts/": _first(User, is_service_account=True),
        "operating/security/tokens/": _first(ApiToken, user=admin),
        "notifications/": _first(Notification, user=admin)
        or Notification.objects.create(user=admin, kind="transition", title="A notification for the crawler"),
        "operating/security/lockouts/": _first(LoginLockout),
        "operating/windows/maintenance/": _first(MaintenanceWindow),
        "operating/freezes/": _first(FreezeWindow),
        "operating/events/ci/": _first(ConfigurationItem, monitoring_alerts__isnull=False),
        "operating/events/service/": service,
        "operating/jobs/": _first(Job),
        "supporting/incidents/filters/": _first(SavedFilter),
        "supporting/incidents/": incident,
        "supporting/problems/": _first(Problem),
        "supporting/problem-proposals/": _first(ProblemProposal),
        "supporting/inbound-mail/": _first(InboundMessage),
        "optimizing/calendars/": _first(BusinessCalendar),
        "optimizing/recomputations/": _first(RecomputeJob),
        "optimizing/slas/": _first(ServiceLevelAgreement),
        "optimizing/availability/services/": service,
        "optimizing/availability/outages/": _first(OutageRecord),
        "optimizing/capacity/thresholds/": _first(CapacityThreshold),
        "optimizing/capacity/warnings/": _first(CapacityWarning),
        "reviews/meetings/": Meeting.objects.filter(items__isnull=False).order_by("pk").first(),
        "integrations/webhooks/deliveries/": _first(WebhookDelivery),
        "integrations/webhooks/": _first(WebhookSubscription),
        "cmdb/cis/": _first(ConfigurationItem, outgoing__isnull=False) or _first(ConfigurationItem),
        "cmdb/relationships/": _first(CIRelationship),
        "cmdb/services/": service,
        "attachments/": _first(Attachment, ticket_id=incident.pk, ticket_type__model="incident"),
    }


def _seed():
    """The demo portal plus the few objects it leaves out that pages take an id of."""
    from incidents.models import SavedFilter
    from mof.models_access import LoginLockout
    from operations import services as operations_services
    from slas.models import BusinessCalendar, RecomputeJob

    admin = seed_portal()
    SavedFilter.objects.create(user=admin, name="P1 only", querystring="queue=open&priority=1")
    LoginLockout.objects.create(**_lockout_fields())
    RecomputeJob.objects.create(
        calendar=BusinessCalendar.objects.order_by("pk").first(), started_by=admin, total=10, done=4
    )
    _, secret = operations_services.feed_token_create(actor=admin)
    return admin, secret


def _lockout_fields():
    """A locked sign-in, with whichever of these fields the lockout model has."""
    from mof.models_access import LoginLockout

    fields = {f.name for f in LoginLockout._meta.concrete_fields}
    values = {
        "kind": "username",
        "key": "someone",
        "username": "someone",
        "address": "192.0.2.7",
        "failures": 9,
        "locked_until": timezone.now() + dt.timedelta(hours=1),
    }
    return {k: v for k, v in values.items() if k in fields}


def _readers(admin):
    """(label, user or None) of every kind of reader; the demo people hold the role clusters."""
    from mof.models import User

    readers = [("anonymous", None), ("employee", UserFactory(username="crawl-employee"))]
    for cluster in RoleCluster.values:
        readers.append(
            (
                cluster,
                User.objects.filter(role_assignments__role=cluster, is_manager=False, is_service_account=False)
                .order_by("pk")
                .first(),
            )
        )
    readers += [("manager", User.objects.get(username="manager")), ("admin", admin)]
    return readers


def _fill(name, path, objects, secret):
    """The URL of a route with its parameters filled from the seeded portal, or the reason it cannot be."""
    from mof import views_csv
    from mof.transitions import transition_names

    url = path
    for match in re.finditer(r"<(?:(\w+):)?(\w+)>", path):
        converter, param = match.group(1) or "str", match.group(2)
        head = path[: match.start()]
        if param == "pk":
            prefix = max(
                (p for p in objects if head.startswith(p) and head[len(p) :].count("/") == 0), key=len, default=None
            )
            if prefix is None or objects[prefix] is None:
                return None, f"no object for {head}<pk>"
            value = objects[prefix].pk
        elif param == "item_id":
            value = objects["reviews/meetings/"].items.order_by("position", "pk").first().pk
        elif param == "name":  # a transition: a real one of the model
            model = type(objects[max((p for p in objects if head.startswith(p)), key=len)])
            value = transition_names(model)[0]
        elif param == "secret":
            value = secret
        elif param == "kind":
            value = next(iter(views_csv.KINDS))
        elif param == "table":
            value = "compliance"
        elif param == "uidb64":  # a password reset link: a well-formed one that is not valid
            value = "MQ"
        elif param == "token":
            value = "c0ffee-0123456789abcdef0123456789abcdef"
        else:
            return None, f"no value for <{converter}:{param}>"
        url = url.replace(match.group(0), str(value), 1)
    return "/" + url, None


# --- the parameters of a page -------------------------------------------------------------------


class _Fields(HTMLParser):
    """The parameters a page offers: its GET forms' fields (with their values and options) and
    the query strings of its links."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.values: dict[str, list[str]] = {}
        self._in_get_form = False
        self._select = None

    def _add(self, name, value):
        if name and name != "csrfmiddlewaretoken":
            self.values.setdefault(name, [])
            if value not in (None, "") and value not in self.values[name]:
                self.values[name].append(value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in_get_form = (a.get("method") or "get").lower() == "get"
        elif tag == "a" and a.get("href") and "?" in a["href"] and urlsplit(a["href"]).path in ("", self.path):
            for name, value in parse_qsl(urlsplit(a["href"]).query, keep_blank_values=True):
                self._add(name, value)
        elif self._in_get_form and tag in ("input", "select", "textarea"):
            if a.get("type") in ("submit", "button", "file"):
                return
            self._add(a.get("name"), a.get("value"))
            self._select = a.get("name") if tag == "select" else None
        elif self._in_get_form and tag == "option" and self._select:
            self._add(self._select, a.get("value"))

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_get_form = False
        elif tag == "select":
            self._select = None


def _filterset_parameters(response) -> dict[str, list[str]]:
    """The filters of the FilterSets the page rendered, with a plausible value each."""
    found = {}
    for context in response.context or []:
        for value in context.flatten().values() if hasattr(context, "flatten") else []:
            if isinstance(value, django_filters.FilterSet):
                for name, f in value.filters.items():
                    found[name] = _plausible_for_filter(f)
    return found


def _plausible_for_filter(f) -> list[str]:
    if isinstance(f, django_filters.OrderingFilter):
        return [v for v, _ in f.extra.get("choices", [])][:2] or []
    if isinstance(f, django_filters.ModelChoiceFilter):
        first = f.queryset.order_by("pk").first() if f.queryset is not None else None
        return [str(first.pk)] if first else []
    if isinstance(f, (django_filters.ChoiceFilter, django_filters.MultipleChoiceFilter)):
        choices = f.extra.get("choices")
        choices = choices() if callable(choices) else choices or []
        return [str(v) for v, _ in list(choices)[:1]]
    if isinstance(f, (django_filters.DateFilter, django_filters.DateFromToRangeFilter)):
        return [timezone.localdate().isoformat()]
    if isinstance(f, django_filters.NumberFilter):
        return ["1"]
    if isinstance(f, django_filters.BooleanFilter):
        return ["true"]
    return ["mail"]


READS = re.compile(
    r"""(?:request\.)?GET\.get(?:list)?\(\s*["'](\w+)["']|GET\[\s*["'](\w+)["']\]|["'](\w+)["']\s+in\s+request\.GET"""
)


@functools.cache
def _read_names(view) -> frozenset[str]:
    """The request.GET names a view reads, and those read by the functions it calls that live
    in the project (followed by name, a few calls deep)."""
    seen, names = set(), set()

    def visit(func, depth):
        func = inspect.unwrap(func)
        if hasattr(func, "view_class"):
            func = func.view_class
        if func in seen or depth > 3:
            return
        seen.add(func)
        try:
            source = inspect.getsource(func)
        except (OSError, TypeError):
            return
        names.update(n for groups in READS.findall(source) for n in groups if n)
        code = getattr(func, "__code__", None)
        space = getattr(func, "__globals__", {})
        for called in code.co_names if code else ():
            target = space.get(called)
            if isinstance(target, types.FunctionType) and target.__module__.split(".")[0] in PROJECT_APPS:
                visit(target, depth + 1)
            elif isinstance(target, types.ModuleType):
                for attr in code.co_names:
                    inner = getattr(target, attr, None)
                    if isinstance(inner, types.FunctionType) and inner.__module__.split(".")[0] in PROJECT_APPS:
                        visit(inner, depth + 1)

    visit(view, 0)
    return frozenset(names)


PROJECT_APPS = {"mof", "changes", "incidents", "operations", "slas", "reviews", "integrations"}


def _parameters(view, url, response) -> tuple[dict[str, list[str]], set[str]]:
    """{name: plausible values} of the parameters a page reads or offers (with the common ones),
    and the names found on this page."""
    params: dict[str, list[str]] = {name: [] for name in _read_names(view)}
    if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
        fields = _Fields(url)
        fields.feed(response.content.decode(errors="replace"))
        for name, values in fields.values.items():
            params.setdefault(name, []).extend(values)
        for name, values in _filterset_parameters(response).items():
            params.setdefault(name, []).extend(values)
    discovered = set(params)
    for name, value in COMMON_PARAMETERS.items():
        params.setdefault(name, []).append(value)
    return {name: (values or ["1"])[:2] for name, values in params.items()}, discovered


# --- the crawl ------------------------------------------------------------------------------------


def _get(client, url, params, failures, label):
    try:
        with transaction.atomic():  # each request rolled back: a failed query spoils nothing after it
            response = client.get(url, params)
            transaction.set_rollback(True)
    except Exception as exc:
        failures.append(f"{label} GET {url} {params!r}: {type(exc).__name__}: {str(exc)[:200]}")
        return None
    if response.status_code >= 500:
        failures.append(f"{label} GET {url} {params!r}: {response.status_code}")
    return response


def _crawl_page(client, label, url, params, discovered, full, failures) -> int:
    """Fuzz one page's parameters; the number of requests sent. The administrator sends each
    parameter the page reads or offers alone, with a plausible value and with a nonsense one
    (turning through NONSENSE), then all of them at once with each nonsense value; the other
    readers send all of them at once, plausible and then one nonsense value."""
    sent = 0
    if full:
        for i, param in enumerate(sorted(discovered)):
            for value in params[param][:1] + [NONSENSE[i % len(NONSENSE)]]:
                _get(client, url, {param: value}, failures, label)
                sent += 1
    values = NONSENSE if full else [NONSENSE[len(url) % len(NONSENSE)]]
    _get(client, url, {param: plausible[0] for param, plausible in params.items()}, failures, label)
    for value in values:
        _get(client, url, {param: value for param in params}, failures, label)
    return sent + 1 + len(values)


def test_no_page_answers_5xx_to_any_reader_with_any_parameter(client):
    started = time.monotonic()
    admin, secret = _seed()
    objects = _objects(admin)
    routes, unfillable = [], {}
    for name, path, view in web_routes():
        if name in NOT_CRAWLED:
            continue
        url, why = _fill(name, path, objects, secret)
        if url is None:
            unfillable[name] = why
        else:
            routes.append((name, url, view))
    assert not unfillable, "routes neither crawled nor in NOT_CRAWLED:\n" + "\n".join(
        f"{n}: {w}" for n, w in sorted(unfillable.items())
    )
    failures, requests, fuzzed, reached, fully_fuzzed = [], 0, set(), set(), set()
    for label, user in _readers(admin):
        client.logout()
        if user is not None:
            client.force_login(user)
        for name, url, view in routes:
            plain = _get(client, url, {}, failures, label)
            requests += 1
            if plain is not None and plain.status_code != 404:
                reached.add(name)
            if plain is None or plain.status_code in (302, 403, 404, 405):
                continue  # not this reader's page, or not a page (POST-only actions)
            # The administrator fuzzes each view fully once (two routes may share a view: the feeds).
            full = label == "admin" and view not in fully_fuzzed
            if full:
                fully_fuzzed.add(view)
            if label != "admin" and not plain.get("Content-Type", "").startswith("text/html"):
                continue  # feeds and files answer alike whoever asks: the administrator fuzzes them
            params, discovered = _parameters(view, url, plain)
            requests += _crawl_page(client, label, url, params, discovered, full, failures)
            fuzzed.add(name)
    print(
        f"crawled {len(routes)} routes ({len(fuzzed)} with parameters), {requests} requests in {time.monotonic() - started:.0f} s"
    )
    assert not failures, f"{len(failures)} requests answered 5xx:\n" + "\n".join(failures)
    unreached = sorted(name for name, _url, _view in routes if name not in reached)
    assert not unreached, (
        f"routes that answered 404 to every reader (fill them with an object someone sees): {unreached}"
    )
    assert len(fuzzed) > 60  # the crawl reached the pages rather than being sent away from them
