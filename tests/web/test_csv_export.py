"""CSV export of the list pages (mof.csv_io): exactly the rows the page's filters, search
and order select, every page of them, streamed with a constant number of queries per
chunk, with formulas defused, and only what the reader may see."""

import csv
import datetime as dt
import io
import itertools

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from changes.models import Release
from incidents.models import KnownError, Problem, ProblemProposal
from mof import cmdb_import, csv_io
from mof.choices import RoleCluster
from mof.models import ConfigurationItem
from reviews.models import Meeting
from slas import services as sla_services
from tests.changes.factories import ChangeFactory, TemplateFactory
from tests.factories import CIFactory, ManagerFactory, RelationshipFactory, ServiceFactory, UserFactory, ci_class
from tests.incidents.factories import IncidentFactory
from tests.operations.factories import freeze, maintenance

pytestmark = pytest.mark.django_db


def rows_of(response):
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")  # spreadsheets read the file as UTF-8
    return list(csv.reader(io.StringIO(body[1:])))


def export(client, url, **params):
    return client.get(url, {"export": "csv", **params})


@pytest.fixture
def boss(db):
    """A manager on the service desk: sees every list."""
    return ManagerFactory(username="boss", roles=[RoleCluster.SUPPORT])


@pytest.fixture
def as_boss(client, boss):
    client.force_login(boss)
    return client


# --- the helper -----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_cells_that_a_spreadsheet_would_run_get_a_leading_quote(text):
    assert csv_io.safe_cell(text) == "'" + text


def test_plain_values_are_left_alone():
    assert csv_io.safe_cell("core-rtr-01") == "core-rtr-01"
    assert csv_io.safe_cell(-5) == "-5" and csv_io.safe_cell(None) == "" and csv_io.safe_cell(True) == "yes"
    assert csv_io.safe_cell(["a", "b"]) == "a; b" and csv_io.safe_cell({}) == ""
    assert csv_io.safe_cell(dt.date(2026, 11, 25)) == "2026-11-25"


def test_formula_injection_in_a_real_export(as_boss):
    CIFactory(name="=cmd|' /C calc'!A0", description="@SUM(1+1)*cmd")
    rows = rows_of(export(as_boss, reverse("ci_list")))
    assert rows[1][0] == "'=cmd|' /C calc'!A0" and rows[1][7] == "'@SUM(1+1)*cmd"


@override_settings(MOF_EXPORT_CHUNK_SIZE=5)
def test_a_large_export_is_read_in_chunks_with_constant_queries_per_chunk(as_boss):
    svc = ServiceFactory(name="Exchange mail")
    for i in range(12):
        CIFactory(name=f"chunk-{i:02d}", services=[svc])

    def count(n_expected):
        with CaptureQueriesContext(connection) as ctx:
            rows = rows_of(export(as_boss, reverse("ci_list")))
        assert len(rows) == 1 + n_expected
        return len(ctx.captured_queries)

    twelve = count(12)  # 3 chunks
    ConfigurationItem.objects.filter(name__in=["chunk-10", "chunk-11"]).delete()
    ten = count(10)  # 2 chunks
    # One more chunk costs exactly one more query: the services prefetch of that chunk.
    assert twelve - ten == 1


# --- the CMDB list: filters, order, every page, visibility, round trip -------------------------


def test_ci_export_honours_filters_search_and_order_and_every_page(as_boss):
    firewall = ci_class("firewall")
    for i in range(7):
        CIFactory(name=f"fw-{i}", ci_class=firewall, status="in_service" if i % 2 else "planned")
    CIFactory(name="srv-1", status="in_service")
    url = reverse("ci_list")
    rows = rows_of(export(as_boss, url, ci_class="firewall", status="in_service", sort="-name", page=2, page_size=1))
    assert [r[0] for r in rows[1:]] == ["fw-5", "fw-3", "fw-1"]
    assert rows[0][:3] == ["Name", "Class", "Status"]
    assert [r[0] for r in rows_of(export(as_boss, url, q="srv"))[1:]] == ["srv-1"]


def test_ci_export_shows_a_partner_only_the_cis_they_own(client, partner_user):
    CIFactory(name="theirs", owner=partner_user)
    CIFactory(name="not-theirs")
    client.force_login(partner_user)
    assert [r[0] for r in rows_of(export(client, reverse("ci_list")))[1:]] == ["theirs"]


def test_export_needs_a_login(client):
    response = export(client, reverse("ci_list"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


def test_an_exported_cmdb_imports_back_unchanged(as_boss, infra_user):
    owner = UserFactory(username="owner-1")
    svc = ServiceFactory(name="Exchange mail")
    CIFactory(
        name="mbx-1",
        owner=owner,
        services=[svc],
        attributes={"ip": "10.0.0.1"},
        description="-mailbox",
        environment="dr",
    )
    CIFactory(name="san-1", ci_class=ci_class("storage"))
    body = b"".join(export(as_boss, reverse("ci_list")).streaming_content)
    plan = cmdb_import.plan_ci_import(actor=infra_user, data=body)
    assert plan.errors == [] and plan.ignored_columns == ["status", "updated"]
    assert [(r.label, r.action) for r in plan.rows] == [("mbx-1", "unchanged"), ("san-1", "unchanged")]


# --- every list page --------------------------------------------------------------------------------


def _cis(n, boss):
    svc = ServiceFactory()
    for _ in range(n):
        CIFactory(services=[svc], owner=boss)


def _services(n, boss):
    for _ in range(n):
        ServiceFactory(owner=boss)


def _changes(n, boss):
    for _ in range(n):
        ChangeFactory(change_manager=boss, planned_start=timezone.now())


def _releases(n, boss):
    for i in range(n):
        Release.objects.create(name=f"Release {i}", release_manager=boss)


def _templates(n, boss):
    for _ in range(n):
        TemplateFactory()


def _incidents(n, boss):
    for _ in range(n):
        IncidentFactory(assignee=boss, service=ServiceFactory())


def _problems(n, boss):
    for i in range(n):
        Problem.objects.create(title=f"Problem {i}", problem_manager=boss)


def _known_errors(n, boss):
    for i in range(n):
        problem = Problem.objects.create(title=f"Problem {i}")
        KnownError.objects.create(problem=problem, title=f"Known error {i}", root_cause="cause", workaround="=restart")


def _proposals(n, boss):
    now = timezone.now()
    for _ in range(n):
        ProblemProposal.objects.create(
            scope="ci", ci=CIFactory(), incident_count=5, window_start=now - dt.timedelta(days=7), window_end=now
        )


SEQUENCE = itertools.count()


def _calendar(boss):
    return sla_services.calendar_save(
        actor=boss,
        name=f"Office {next(SEQUENCE)}",
        time_zone="UTC",
        intervals=[(d, dt.time(9), dt.time(17)) for d in range(5)],
    )


def _slas(n, boss):
    for i in range(n):
        sla_services.sla_create(
            actor=boss,
            name=f"SLA {next(SEQUENCE)}",
            priorities=[1],
            response_seconds=1800,
            resolution_seconds=14400,
            calendar=_calendar(boss),
        )


def _calendars(n, boss):
    for _ in range(n):
        _calendar(boss)


def _meetings(n, boss):
    for i in range(n):
        Meeting.objects.create(
            kind="release_approved", title=f"CAB {i}", scheduled_at=timezone.now() + dt.timedelta(days=i), chair=boss
        )


def _freezes(n, boss):
    start = timezone.now()
    for i in range(n):
        freeze(
            start=start + dt.timedelta(days=i),
            end=start + dt.timedelta(days=i, hours=4),
            services=[ServiceFactory()],
            name=f"Freeze {i}",
        )


def _maintenance(n, boss):
    for i in range(n):
        maintenance(weekdays=[6, 7], start_time=dt.time(2), minutes=120, service=ServiceFactory(), name=f"Window {i}")


LISTS = [
    # (url name, query, builder, first header)
    ("ci_list", {}, _cis, "Name"),
    ("service_list", {}, _services, "Name"),
    ("change_list", {}, _changes, "Number"),
    ("release_list", {}, _releases, "Number"),
    ("change_template_list", {}, _templates, "Number"),
    ("incident_queue", {"queue": "open"}, _incidents, "Number"),
    ("problem_list", {}, _problems, "Number"),
    ("known_error_list", {}, _known_errors, "Title"),
    ("proposal_list", {}, _proposals, "CI"),
    ("sla_list", {}, _slas, "Name"),
    ("calendar_list", {}, _calendars, "Calendar"),
    ("review_meeting_list", {}, _meetings, "Number"),
    ("operations_windows", {"export": "freezes"}, _freezes, "Name"),
    ("operations_windows", {"export": "maintenance"}, _maintenance, "Name"),
]


@pytest.mark.parametrize(
    "url_name,query,build,header", LISTS, ids=[f"{u}-{q.get('export', 'csv')}" for u, q, _, _ in LISTS]
)
def test_every_list_exports_all_its_rows_with_queries_independent_of_their_number(
    as_boss, boss, url_name, query, build, header
):
    url = reverse(url_name)
    page = as_boss.get(url, {k: v for k, v in query.items() if k != "export"})
    assert page.status_code == 200
    wanted = query.get("export", "csv")
    assert f"export={wanted}" in page.content.decode(), "the page offers its Export CSV link"

    def measure():
        with CaptureQueriesContext(connection) as ctx:
            rows = rows_of(as_boss.get(url, {"export": "csv", **query}))
        return rows, len(ctx.captured_queries)

    build(2, boss)
    few, few_queries = measure()
    build(5, boss)
    many, many_queries = measure()
    assert few[0][0] == header
    assert len(many) - len(few) == 5
    assert many_queries == few_queries


def test_change_export_honours_status_type_and_search(as_boss):
    ChangeFactory(title="Router firmware", type="normal")
    ChangeFactory(title="Router emergency fix", type="emergency")
    ChangeFactory(title="Firewall rule", type="normal")
    rows = rows_of(export(as_boss, reverse("change_list"), q="router", type="normal"))
    assert [r[1] for r in rows[1:]] == ["Router firmware"]


def test_change_export_shows_a_requester_only_their_own(client):
    mine = ChangeFactory(title="Mine")
    ChangeFactory(title="Not mine")
    partner = UserFactory(username="outsider", roles=[RoleCluster.PARTNER])
    ChangeFactory(title="Partner's", requester=partner)
    client.force_login(partner)
    assert [r[1] for r in rows_of(export(client, reverse("change_list")))[1:]] == ["Partner's"]
    assert mine.title == "Mine"


def test_incident_queue_export_follows_the_queue_and_callers_get_none(client, boss):
    other = UserFactory(username="other-agent", roles=[RoleCluster.SUPPORT])
    IncidentFactory(title="Mine", assignee=boss)
    IncidentFactory(title="Theirs", assignee=other)
    client.force_login(boss)
    assert [r[1] for r in rows_of(export(client, reverse("incident_queue"), queue="mine"))[1:]] == ["Mine"]
    assert {r[1] for r in rows_of(export(client, reverse("incident_queue"), queue="open"))[1:]} == {"Mine", "Theirs"}
    caller = UserFactory(username="a-caller")
    client.force_login(caller)
    response = export(client, reverse("incident_queue"))
    assert response.status_code == 302  # the self-service page, as for the queue itself


def test_lists_refused_on_the_page_are_refused_as_csv(client, employee):
    client.force_login(employee)
    assert export(client, reverse("problem_list")).status_code == 404
    assert export(client, reverse("sla_list")).status_code == 403
    assert export(client, reverse("review_meeting_list")).status_code == 403


def test_known_errors_hide_problem_details_from_who_may_not_see_problems(client, employee, boss):
    _known_errors(1, boss)
    client.force_login(employee)
    rows = rows_of(export(client, reverse("known_error_list")))
    assert rows[0] == ["Title", "Published", "Symptoms", "Workaround"]
    assert rows[1][3] == "'=restart"


def test_meeting_export_is_not_cut_at_the_200_the_page_shows(as_boss, boss):
    Meeting.objects.bulk_create(
        [Meeting(kind="operations", title=f"Ops {i}", scheduled_at=timezone.now(), chair=boss) for i in range(205)]
    )
    rows = rows_of(export(as_boss, reverse("review_meeting_list"), state="planned"))
    assert len(rows) == 206


# --- relationships (no list page of their own) ------------------------------------------------------


def test_relationship_export_lists_only_edges_whose_ends_the_reader_sees_and_imports_back(
    client, partner_user, infra_user
):
    mine_a, mine_b = CIFactory(name="p-a", owner=partner_user), CIFactory(name="p-b", owner=partner_user)
    RelationshipFactory(source=mine_a, target=mine_b, type="runs_on")
    RelationshipFactory(source=mine_a, target=CIFactory(name="hidden"))
    client.force_login(partner_user)
    rows = rows_of(client.get(reverse("relationship_export")))
    assert [r[:3] for r in rows] == [["source", "type", "target"], ["p-a", "runs_on", "p-b"]]
    client.force_login(infra_user)
    body = b"".join(client.get(reverse("relationship_export")).streaming_content)
    plan = cmdb_import.plan_relationship_import(actor=infra_user, data=body)
    assert plan.errors == [] and [r.action for r in plan.rows] == ["unchanged", "unchanged"]


def test_relationship_export_queries_do_not_grow_with_the_edges(as_boss):
    def measure():
        with CaptureQueriesContext(connection) as ctx:
            rows = rows_of(as_boss.get(reverse("relationship_export")))
        return len(rows), len(ctx.captured_queries)

    RelationshipFactory()
    few = measure()
    for _ in range(6):
        RelationshipFactory()
    many = measure()
    assert (few[0], many[0]) == (2, 8) and few[1] == many[1]
