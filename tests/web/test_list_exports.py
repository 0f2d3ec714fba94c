"""Every list page of the web UI exports CSV (issue 6), with its filters, the columns people
see, the page's own permission and a constant number of queries.

Three nets, so that a new list page without an export fails here:
- the walk: every page of the web URLs that takes no argument is rendered for a person
  who may see everything; a page holding a table must offer an export (its "Export CSV"
  link or a link to its own .csv), unless NOT_LISTS says why it is not a list;
- the templates: every template holding a table (pages with arguments, partials) must
  carry an export, unless TEMPLATES_NOT_LISTS says why it is not a list;
- the lists: each page given an export here, checked for its rows, a filter honoured, a
  refused filter shown (never exported as no filter), who may not see it, its headers
  against the page's, formulas defused and queries independent of the number of rows.
The pages that exported before: their rows and queries in test_csv_export.py, their filters
and what an employee gets of them at the end of this file."""

import csv
import datetime as dt
import io
import itertools
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from mof.choices import RoleCluster
from mof.models import CIClass
from tests.factories import AdminFactory, CIFactory, ManagerFactory, ServiceFactory, UserFactory

pytestmark = pytest.mark.django_db

SEQUENCE = itertools.count()


def rows_of(response):
    assert isinstance(response, StreamingHttpResponse), (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def page_headers(html: str) -> list[str]:
    """The column headers of the first table of a page, as people read them."""
    head = re.search(r"<thead>(.*?)</thead>", html, re.S)
    assert head, "the page has a table"
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<th[^>]*>(.*?)</th>", head.group(1), re.S)]


# --- the walk ------------------------------------------------------------------------------------

# Pages without arguments that hold a table and are not lists of objects.
NOT_LISTS = {
    "risk_matrix": "the Risk Model's probability x impact grid, fixed in size",
    "priority_matrix": "the impact x urgency grid a manager edits, fixed in size",
    "reviews": "the four milestones and the last 20 decisions; their meetings export from the meeting list",
    "notification_preferences": "a person's choice per kind of event, a form of fixed size",
}
# Not pages: they answer to their own route names elsewhere or are not for browsers.
NOT_WALKED = {"logout", "login"}


def web_routes():
    """(name, path, takes arguments) of every named route of the web UI (the admin and the API aside)."""
    found = []

    def walk(patterns, prefix):
        for p in patterns:
            route = str(p.pattern)
            if isinstance(p, URLResolver):
                if route.startswith(("admin/", "api/")):
                    continue
                walk(p.url_patterns, prefix + route)
            elif isinstance(p, URLPattern) and p.name:
                found.append((p.name, prefix + route, bool(p.pattern.converters) or "<" in route or "(?P" in route))

    walk(get_resolver().url_patterns, "")
    return found


def offers_export(html: str) -> bool:
    return bool(
        re.search(r'href="[^"]*(\?|&amp;|&)export=[a-z_]+', html) or re.search(r'href="[^"]*\.csv(\?[^"]*)?"', html)
    )


@pytest.fixture
def everyone(client):
    """A person who may see every page: an administrator and manager in every role cluster."""
    user = AdminFactory(username="walker", is_manager=True, roles=list(RoleCluster.values))
    client.force_login(user)
    return client


def test_every_page_with_a_table_offers_an_export(everyone):
    CIFactory(name="walk-01", services=[ServiceFactory(name="Walk service")])
    walked, lists, not_lists = 0, [], set()
    for name, path, takes_arguments in web_routes():
        if takes_arguments or name in NOT_WALKED:
            continue
        response = everyone.get(reverse(name))
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue  # POST-only actions (405), redirects
        walked += 1
        html = response.content.decode()
        if "<table" not in html:
            continue
        if name in NOT_LISTS:
            not_lists.add(name)
            assert not offers_export(html), f"{name} exports: take it out of NOT_LISTS"
            continue
        lists.append(name)
        assert offers_export(html), f"the list page {name} ({path}) has no Export CSV link"
    assert walked > 40 and len(lists) > 20  # the walk reached the pages, it did not skip them all
    assert not_lists == set(NOT_LISTS), f"stale NOT_LISTS entries: {set(NOT_LISTS) - not_lists}"


def test_every_export_link_of_the_walk_answers_csv(everyone):
    """Following each page's own Export CSV link gives a CSV, not an error page."""
    followed = 0
    for name, _path, takes_arguments in web_routes():
        if takes_arguments or name in NOT_WALKED or name in NOT_LISTS:
            continue
        response = everyone.get(reverse(name))
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        for href in re.findall(r'href="([^"]*[?&](?:amp;)?export=[a-z_]+[^"]*)"', response.content.decode()):
            url = href.replace("&amp;", "&")
            rows = rows_of(everyone.get(url if url.startswith("/") else reverse(name) + url))
            assert rows and rows[0], f"{name}: {url} has no header row"
            followed += 1
    assert followed > 20


# Templates holding a table that are not list pages (most are parts of one object's page).
TEMPLATES_NOT_LISTS = {
    "changes/change_detail.html": "one change",
    "changes/release_detail.html": "one release",
    "incidents/problem_detail.html": "one problem",
    "incidents/priority_matrix.html": "a fixed grid",
    "integrations/_delivery_rows.html": "rows of the delivery log (which exports) and of a subscription's last 20",
    "integrations/delivery_detail.html": "the attempts of one delivery",
    "mof/_history.html": "one object's audit trail, on its page",
    "mof/_attachments.html": "the files of one ticket, on its page",
    "mail/_fields.html": "the facts of one mail",
    "mail/base.html": "the layout of every HTML mail",
    "mail/digest.html": "one digest mail",
    "mof/ci_detail.html": "one CI; its relationships export at relationship_export",
    "mof/notification_preferences.html": "a person's choice per kind of event, a form of fixed size",
    "mof/csv_import.html": "the preview of an uploaded file",
    "mof/reviews.html": "the review milestones' landing page",
    "mof/risk_matrix.html": "a fixed grid",
    "mof/service_detail.html": "one IT service",
    "operations/backup_rows.html": "rows of backup coverage (which exports)",
    "operations/job_detail.html": "one job and its last runs",
    "reviews/_mode_item.html": "one agenda item in meeting mode",
    "reviews/_operations_review_report.html": "one Operations Review's health report",
    "reviews/_sla_review_report.html": "one SLA Review's report",
    "reviews/_sla_review_whatif.html": "one SLA Review's what-if",
    "reviews/meeting_detail.html": "one meeting",
    "reviews/minutes.html": "one meeting's minutes",
    "slas/_whatif.html": "one SLA's what-if",
    "slas/availability_service.html": "one IT service's availability",
    "slas/calendar_detail.html": "one business calendar",
    "slas/sla_detail.html": "one SLA",
}


def _templates_with_tables():
    found = {}
    dirs = [Path(d) for d in settings.TEMPLATES[0]["DIRS"]]
    dirs += [
        Path(settings.BASE_DIR) / app / "templates"
        for app in ("mof", "changes", "operations", "incidents", "slas", "reviews", "integrations")
    ]
    for base in dirs:
        for path in base.rglob("*.html"):
            text = path.read_text()
            if "<table" in text:
                found[path.relative_to(base).as_posix()] = text
    return found


def test_every_template_with_a_table_exports_or_says_why_not():
    found = _templates_with_tables()
    assert len(found) > 40
    for name, text in found.items():
        exports = "mof/_export_csv.html" in text or re.search(r"url '[a-z_]*csv'", text)
        if name in TEMPLATES_NOT_LISTS:
            assert not exports, f"{name} exports: take it out of TEMPLATES_NOT_LISTS"
        else:
            assert exports, (
                f"{name} holds a table but no export: add one (mof/_export_csv.html) or say in TEMPLATES_NOT_LISTS why it is not a list"
            )
    assert set(TEMPLATES_NOT_LISTS) <= set(found), f"stale entries: {set(TEMPLATES_NOT_LISTS) - set(found)}"


# --- the lists given an export here ------------------------------------------------------------
# Each builder adds n rows the list shows (plus, where it matters, one it must not show).


def _ci_classes(n, ctx):
    for _ in range(n):
        i = next(SEQUENCE)
        CIClass.objects.create(slug=f"class-{i}", name=f"Class {i}", description="=formula")


def _service_accounts(n, ctx):
    from tests.core.accounts_factories import ServiceAccountFactory, make_token

    for i in range(n):
        kind = "mail" if i % 2 == 0 else "monitor"
        account = ServiceAccountFactory(
            username=f"svc-{kind}-{next(SEQUENCE)}", roles=[RoleCluster.OPERATIONS, RoleCluster.PARTNER]
        )
        make_token(account)


def _my_tokens(n, ctx):
    from tests.core.accounts_factories import make_token

    for _ in range(n):
        make_token(ctx["user"], name=f"=script {next(SEQUENCE)}")
    make_token(UserFactory(username=f"someone-{next(SEQUENCE)}"), name="not mine")


def _account_tokens(n, ctx):
    from tests.core.accounts_factories import make_token

    for _ in range(n):
        make_token(ctx["account"], name=f"nagios {next(SEQUENCE)}", created_by=ctx["user"])


def _lockouts(n, ctx):
    from mof.models_access import LoginLockout

    now = timezone.now()
    for i in range(n):
        locked = i % 2 == 0
        LoginLockout.objects.create(
            kind="username",
            key=f"-user{next(SEQUENCE)}",
            failures=5,
            last_failure_at=now - dt.timedelta(minutes=i),
            locked_until=now + dt.timedelta(minutes=10) if locked else None,
            times_locked=1 if locked else 0,
        )


def _my_incidents(n, ctx):
    from incidents.models import Incident
    from tests.incidents.factories import IncidentFactory

    for i in range(n):
        incident = IncidentFactory(caller=ctx["user"], service=ServiceFactory(), title=f"+Printer {next(SEQUENCE)}")
        if i % 2:
            Incident.objects.filter(pk=incident.pk).update(status="closed")
    IncidentFactory(caller=UserFactory(username=f"other-caller-{next(SEQUENCE)}"), title="someone else's")


def _subscriptions(n, ctx):
    from tests.integrations.factories import SubscriptionFactory

    for _ in range(n):
        SubscriptionFactory(name=f"@bridge {next(SEQUENCE)}")


def _deliveries(n, ctx):
    from integrations import outbox
    from integrations.choices import EventType
    from integrations.models import WebhookDelivery
    from tests.integrations.factories import SubscriptionFactory

    if "subscription" not in ctx:
        ctx["subscription"] = SubscriptionFactory(name="Chat-ops")
    subscription = ctx["subscription"]
    for i in range(n):
        event = outbox.build(EventType.INCIDENT_CREATED, {"object": {"number": f"INC-{next(SEQUENCE)}"}})
        event.save()
        WebhookDelivery.objects.create(subscription=subscription, event=event, status="failed" if i % 2 else "pending")


def _parked(n, ctx):
    from operations.models_events import MonitoringEvent

    now = timezone.now()
    for i in range(n):
        name = f"=unknown-{next(SEQUENCE)}"
        for _ in range(2):  # one row per name, not per event
            MonitoringEvent.objects.create(
                occurred_at=now,
                received_at=now - dt.timedelta(minutes=i),
                source="nagios",
                ci_name=name,
                severity=3,
                message="disk",
                key=f"{name}/disk",
                parked=True,
            )


def _capacity_warnings(n, ctx):
    from slas.models import CapacityThreshold, CapacityWarning
    from tests.factories import ci_class

    server = ci_class("server")
    threshold = CapacityThreshold.objects.get_or_create(
        ci_class=server, metric="used_pct", defaults={"threshold": 95, "unit": "%", "label": "full"}
    )[0]
    for i in range(n):
        CapacityWarning.objects.create(
            ci=CIFactory(name=f"-vol-{next(SEQUENCE)}", ci_class=server),
            metric="used_pct",
            threshold=threshold,
            threshold_value=95,
            current_value=80,
            slope_per_day=-0.5 if i % 2 else 1.5,
            forecast_at=timezone.now() + dt.timedelta(days=10 + i),
            status="dismissed" if i % 2 else "open",
        )


def _schedule(n, ctx):
    from changes.models import RequestForChange
    from tests.changes.factories import ChangeFactory

    service = ctx["service"]
    ci = CIFactory(name=f"cal-ci-{next(SEQUENCE)}", services=[service])
    start = (timezone.now() + dt.timedelta(days=1)).replace(microsecond=0)
    for i in range(n):
        change = ChangeFactory(
            title=f"Router {next(SEQUENCE)}", planned_start=start, planned_end=start + dt.timedelta(hours=2)
        )
        if i % 2 == 0:
            change.affected_cis.add(ci)
        RequestForChange.objects.filter(pk=change.pk).update(status="scheduled")
    ChangeFactory(title="still a draft", planned_start=start, planned_end=start + dt.timedelta(hours=2))


def _not_admin():
    return ManagerFactory(username="not-admin")


def _infra():
    return UserFactory(username="infra", roles=[RoleCluster.INFRASTRUCTURE])


# Per page: build (rows), query (the page's base query), filter (a query and how many of 7 built
# rows it keeps), refused (a filter the page refuses), refused_by (who may not see the page, and
# the answer), formula (a column whose built cells start like a formula), ignore (headers of
# action columns), args (of the URL, from the context).
LISTS = {
    "ci_class_list": dict(build=_ci_classes, formula="Description"),
    "service_account_list": dict(build=_service_accounts, filter=({"q": "svc-mail"}, 4), refused_by=(_not_admin, 403)),
    "my_tokens": dict(build=_my_tokens, formula="Name", ignore=[""]),
    "service_account_detail": dict(
        build=_account_tokens, args=lambda ctx: [ctx["account"].pk], ignore=[""], refused_by=(_not_admin, 403)
    ),
    "lockout_list": dict(
        build=_lockouts,
        filter=({"locked": "1"}, 4),
        refused={"locked": "yes"},
        formula="Username or address",
        ignore=[""],
        refused_by=(_not_admin, 403),
    ),
    "self_service": dict(
        build=_my_incidents,
        query={"show": "all"},
        filter=({"show": "open"}, 4),
        refused={"show": "closed"},
        formula="What",
    ),
    "webhook_list": dict(build=_subscriptions, formula="Name", refused_by=(_infra, 403)),
    "webhook_delivery_list": dict(
        build=_deliveries,
        filter=({"status": "failed"}, 3),
        refused={"created_after": "last week"},
        refused_by=(_infra, 403),
    ),
    "events_parked": dict(
        build=_parked,
        formula="Name used by monitoring",
        ignore=["Map to a CI", ""],
        refused_by=(lambda: UserFactory(username="desk", roles=[RoleCluster.SUPPORT]), 403),
    ),
    "capacity_warnings": dict(
        build=_capacity_warnings,
        query={"status": "all"},
        filter=({"status": "dismissed"}, 3),
        refused={"status": "forgotten"},
        formula="CI",
        ignore=["Decision"],
        refused_by=(lambda: UserFactory(username="employee"), 403),
    ),
    "operations_calendar": dict(
        build=_schedule,
        query={"view": "list"},
        filter=(lambda ctx: {"view": "list", "service": ctx["service"].pk}, 4),
        refused={"view": "list", "service": "mail"},
    ),
}


@pytest.fixture
def listing(client, request):
    """(client, context, url, spec) of a list page, read by someone who may see it."""
    name = request.param
    spec = LISTS[name]
    if name == "self_service":  # a caller's own incidents: an employee's page
        user = UserFactory(username=f"caller-{next(SEQUENCE)}")
    else:
        user = AdminFactory(username=f"reader-{next(SEQUENCE)}", is_manager=True, roles=list(RoleCluster.values))
    client.force_login(user)
    ctx = {"user": user}
    if name == "service_account_detail":
        from tests.core.accounts_factories import ServiceAccountFactory

        ctx["account"] = ServiceAccountFactory(username="svc-monitoring")
    if name == "operations_calendar":
        ctx["service"] = ServiceFactory(name="Calendar service")
    url = reverse(name, args=spec.get("args", lambda ctx: [])(ctx))
    return client, ctx, url, spec


def export(client, url, query):
    return rows_of(client.get(url, {"export": "csv", **query}))


@pytest.mark.parametrize("listing", list(LISTS), indirect=True)
def test_the_page_offers_its_export_with_the_columns_people_see(listing):
    client, ctx, url, spec = listing
    spec["build"](2, ctx)
    page = client.get(url, spec.get("query", {}))
    assert page.status_code == 200
    html = page.content.decode()
    assert offers_export(html)
    header = export(client, url, spec.get("query", {}))[0]
    shown = [h for h in page_headers(html) if h not in spec.get("ignore", [])]
    assert shown and [h for h in shown if h not in header] == [], (
        f"columns of the page missing from the export {header}"
    )


@pytest.mark.parametrize("listing", list(LISTS), indirect=True)
def test_every_row_in_constant_queries_and_no_formula(listing):
    client, ctx, url, spec = listing
    query = spec.get("query", {})

    def measure():
        with CaptureQueriesContext(connection) as captured:
            rows = export(client, url, query)
        return rows, len(captured.captured_queries)

    before = len(export(client, url, query))
    spec["build"](2, ctx)
    few, few_queries = measure()
    spec["build"](5, ctx)
    many, many_queries = measure()
    assert (len(few), len(many)) == (before + 2, before + 7)  # every row, not a page of them
    assert many_queries == few_queries
    if "formula" in spec:
        column = many[0].index(spec["formula"])
        cells = [row[column] for row in many[1:] if row[column] and row[column][0] in "=+-@'"]
        assert len(cells) >= 7 and all(cell.startswith("'") for cell in cells), cells


@pytest.mark.parametrize("listing", [n for n, s in LISTS.items() if "filter" in s], indirect=True)
def test_the_export_honours_the_page_filter(listing):
    client, ctx, url, spec = listing
    query, kept = spec["filter"]
    query = query(ctx) if callable(query) else query
    before, before_all = len(export(client, url, query)), len(export(client, url, spec.get("query", {})))
    spec["build"](7, ctx)
    assert len(export(client, url, query)) - before == kept
    assert len(export(client, url, spec.get("query", {}))) - before_all == 7
    page = client.get(url, query)
    assert page.status_code == 200 and offers_export(page.content.decode())


@pytest.mark.parametrize("listing", [n for n, s in LISTS.items() if "refused" in s], indirect=True)
def test_a_refused_filter_is_shown_and_never_exported_as_no_filter(listing):
    client, ctx, url, spec = listing
    spec["build"](2, ctx)
    response = client.get(url, {"export": "csv", **spec["refused"]})
    assert response.status_code == 400 and not isinstance(response, StreamingHttpResponse)
    assert 'role="alert"' in response.content.decode()


@pytest.mark.parametrize("listing", [n for n, s in LISTS.items() if "refused_by" in s], indirect=True)
def test_who_may_not_see_the_page_may_not_export_it(listing):
    client, ctx, url, spec = listing
    spec["build"](2, ctx)
    who, status = spec["refused_by"]
    client.force_login(who())
    assert client.get(url, spec.get("query", {})).status_code == status
    response = client.get(url, {"export": "csv", **spec.get("query", {})})
    assert response.status_code == status and not isinstance(response, StreamingHttpResponse)


@pytest.mark.parametrize("listing", list(LISTS), indirect=True)
def test_the_export_needs_a_login(listing):
    client, ctx, url, spec = listing
    client.logout()
    response = client.get(url, {"export": "csv", **spec.get("query", {})})
    assert response.status_code == 302 and reverse("login") in response["Location"]


# --- the CSVs of their own (availability, capacity forecast): names defused too -----------------


def test_the_availability_and_capacity_csvs_never_hold_a_formula(client):
    from slas.models import CapacityThreshold, Measurement
    from tests.factories import ci_class

    client.force_login(ManagerFactory(username="optimizer", roles=[RoleCluster.OPERATIONS]))
    ServiceFactory(name='=HYPERLINK("http://evil")')
    rows = list(csv.reader(io.StringIO(client.get(reverse("availability_csv")).content.decode())))
    assert [r[0] for r in rows[1:]] == ['\'=HYPERLINK("http://evil")']

    volumes = ci_class("storage")
    CapacityThreshold.objects.create(
        ci_class=volumes, metric="@used", threshold=95, unit="-%", label="full", window_days=30, warn_within_days=30
    )
    volume = CIFactory(name="+volume", ci_class=volumes)
    now = timezone.now()
    Measurement.objects.bulk_create(
        [Measurement(ci=volume, metric="@used", value=90 - d, at=now - dt.timedelta(days=d)) for d in range(10)]
    )
    rows = list(csv.DictReader(io.StringIO(client.get(reverse("capacity_csv")).content.decode())))
    assert [(r["ci"], r["metric"], r["unit"]) for r in rows] == [("'+volume", "'@used", "'-%")]
    assert float(rows[0]["slope_per_day"]) > 0  # figures stay numbers


# --- the lists that exported before: a filter honoured, and nothing for who may not see them ----
# (their rows and query counts: test_csv_export.py)


def _problems_by_status():
    from incidents.models import Problem

    Problem.objects.create(title="Mail queue stuck")
    Problem.objects.filter(pk=Problem.objects.create(title="Disk full again").pk).update(status="investigating")
    return {"status": "investigating"}, 1, ["Disk full again"]


def _proposals_by_status():
    from incidents.models import ProblemProposal

    now = timezone.now()
    for name, status in (("mbx-01", "proposed"), ("mbx-02", "dismissed")):
        ProblemProposal.objects.create(
            scope="ci",
            ci=CIFactory(name=name),
            incident_count=5,
            window_start=now - dt.timedelta(days=7),
            window_end=now,
            status=status,
        )
    return {"status": "dismissed"}, 0, ["mbx-02"]


def _inbound_mail_by_outcome():
    from incidents.mailbox.services import receive

    UserFactory(username="alice", email="alice@example.test")
    for sender, subject in (("alice@example.test", "Printer down"), ("stranger@elsewhere.test", "Hello?")):
        receive(f"From: {sender}\r\nSubject: {subject}\r\n\r\nText\r\n".encode())
    return {"outcome": "incident"}, 1, ["alice@example.test"]


def _slas_by_kind():
    from slas import services as sla_services

    boss = ManagerFactory(username="sla-owner")
    calendar = sla_services.calendar_save(
        actor=boss, name="Office", time_zone="UTC", intervals=[(d, dt.time(9), dt.time(17)) for d in range(5)]
    )
    sla_services.sla_create(actor=boss, name="Mail SLA", resolution_seconds=14400, calendar=calendar)
    sla_services.sla_create(actor=boss, name="Network OLA", kind="ola", resolution_seconds=14400, calendar=calendar)
    return {"kind": "ola"}, 0, ["Network OLA"]


def _services_by_search():
    ServiceFactory(name="Exchange mail")
    ServiceFactory(name="Intranet")
    return {"q": "mail"}, 0, ["Exchange mail"]


def _known_errors_by_search():
    from incidents.models import KnownError, Problem

    for title in ("Outlook prompts for a password", "VPN drops at noon"):
        KnownError.objects.create(
            problem=Problem.objects.create(title=title), title=title, root_cause="cause", workaround="restart"
        )
    return {"q": "VPN"}, 0, ["VPN drops at noon"]


def _meetings_by_state():
    from reviews.models import Meeting

    chair = ManagerFactory(username="chair")
    Meeting.objects.create(kind="operations", title="Ops", scheduled_at=timezone.now(), chair=chair)
    Meeting.objects.filter(
        pk=Meeting.objects.create(kind="sla", title="SLA", scheduled_at=timezone.now(), chair=chair).pk
    ).update(state="closed")
    return {"state": "closed"}, 1, ["SLA"]


FILTERED = {
    "problem_list": _problems_by_status,
    "proposal_list": _proposals_by_status,
    "inbound_mail": _inbound_mail_by_outcome,
    "sla_list": _slas_by_kind,
    "service_list": _services_by_search,
    "known_error_list": _known_errors_by_search,
    "review_meeting_list": _meetings_by_state,
}


@pytest.mark.parametrize("url_name", list(FILTERED))
def test_the_older_exports_honour_their_filters(client, url_name):
    client.force_login(AdminFactory(username="reader", is_manager=True, roles=list(RoleCluster.values)))
    query, column, expected = FILTERED[url_name]()
    url = reverse(url_name)
    unfiltered = [row[column] for row in rows_of(client.get(url, {"export": "csv"}))[1:]]
    assert unfiltered and unfiltered != expected  # the filter has something to leave out
    assert [row[column] for row in rows_of(client.get(url, {"export": "csv", **query}))[1:]] == expected


def _old_lists():
    from tests.web.test_csv_export import LISTS as OLD

    return OLD


# What an employee (no role cluster) may read of the lists that exported before: the IT service
# catalogue and the published known errors; of the others nothing, refused or empty as on the page.
EMPLOYEE_READS = {"service_list", "known_error_list"}


@pytest.mark.parametrize(
    "url_name,query,build",
    [(u, q, b) for u, q, b, _ in _old_lists()],
    ids=[f"{u}-{q.get('export', 'csv')}" for u, q, _, _ in _old_lists()],
)
def test_the_older_exports_give_an_employee_what_the_page_gives(client, url_name, query, build):
    boss = ManagerFactory(username="boss", roles=[RoleCluster.SUPPORT])
    build(2, boss)
    client.force_login(UserFactory(username="just-an-employee"))
    url = reverse(url_name)
    page = client.get(url, {k: v for k, v in query.items() if k != "export"})
    response = client.get(url, {"export": "csv", **query})
    if page.status_code != 200:
        assert response.status_code == page.status_code and not isinstance(response, StreamingHttpResponse)
        return
    rows = rows_of(response)
    if url_name in EMPLOYEE_READS:
        assert len(rows) == 3
    else:
        assert rows[1:] == [], f"{url_name} exports to an employee what the page does not show them"
