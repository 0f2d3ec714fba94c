"""CSV import of the CMDB (mof.cmdb_import): preview lists every error by row and field
and writes nothing; apply writes all or nothing through the CMDB's services, recorded
in the audit trail; bounded queries for large files."""

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from mof import cmdb_import
from mof.csv_io import ImportRejected, read_table
from mof.models import AuditEntry, CIRelationship, ConfigurationItem
from tests.factories import CIFactory, RelationshipFactory, ServiceFactory, UserFactory, ci_class

pytestmark = pytest.mark.django_db

HEADER = "name,class,owner,environment,services,attributes,description\n"


def ci_csv(*lines: str) -> bytes:
    return (HEADER + "\n".join(lines) + "\n").encode("utf-8")


def errors_of(excinfo):
    return [(e.row, e.field) for e in excinfo.value.errors]


# --- the one bad row --------------------------------------------------------------------


def test_one_bad_row_writes_nothing_and_names_row_and_field(infra_user):
    ServiceFactory(name="Exchange mail")
    data = ci_csv(
        "mbx-01,server,infra,production,Exchange mail,,Mailbox",
        "mbx-02,server,,production,,,",
        "mbx-03,no-such-class,,production,,,",
        "mbx-04,storage,,,,,",
    )
    before = (ConfigurationItem.objects.count(), AuditEntry.objects.count())
    with pytest.raises(ImportRejected) as excinfo:
        cmdb_import.apply_ci_import(actor=infra_user, data=data)
    assert errors_of(excinfo) == [(4, "class")]
    assert "no-such-class" in excinfo.value.errors[0].message
    assert (ConfigurationItem.objects.count(), AuditEntry.objects.count()) == before


def test_a_name_taken_between_plan_and_write_rolls_back_every_row(infra_user, monkeypatch):
    """Apply plans again inside its transaction, and the database has the last word: a CI
    created by someone else after the plan undoes the whole file, naming the row."""
    real_plan = cmdb_import.plan_ci_import

    def plan_then_someone_else_writes(**kwargs):
        plan = real_plan(**kwargs)
        CIFactory(name="a-02")
        return plan

    monkeypatch.setattr(cmdb_import, "plan_ci_import", plan_then_someone_else_writes)
    with pytest.raises(ImportRejected) as excinfo:
        cmdb_import.apply_ci_import(actor=infra_user, data=ci_csv("a-01,server,,,,,", "a-02,server,,,,,"))
    assert errors_of(excinfo) == [(3, "name")]
    assert not ConfigurationItem.objects.filter(name="a-01").exists()


# --- the preview --------------------------------------------------------------------------


def test_preview_lists_every_error_by_row_and_field_and_writes_nothing(infra_user):
    CIFactory(name="existing-01")
    data = ci_csv(
        ",server,,,,,",  # 2: no name
        "x-01,bogus,nobody,mars,Unknown svc,[1],ok",  # 3: five bad fields
        "x-02,server,,,,{not json,",  # 4: attributes not JSON
        "x-02,server,,,,,",  # 5: duplicate of row 4's name
        "existing-01,,,,,,new text",  # 6: fine (an update)
        "x-03,,,,,,",  # 7: a new CI needs a class
        "y" * 151 + ",server,,,,,",  # 8: name too long (the model's own rule)
    )
    count = ConfigurationItem.objects.count()
    plan = cmdb_import.plan_ci_import(actor=infra_user, data=data)
    got = [(e.row, e.field) for e in plan.errors]
    assert got == [
        (2, "name"),
        (3, "class"),
        (3, "owner"),
        (3, "environment"),
        (3, "attributes"),
        (3, "services"),
        (4, "attributes"),
        (5, "name"),
        (7, "class"),
        (8, "name"),
    ]
    assert "row 4" in plan.errors[7].message
    assert [(r.row, r.action, r.fields) for r in plan.rows] == [(6, "update", ["description"])]
    assert ConfigurationItem.objects.count() == count
    assert ConfigurationItem.objects.get(name="existing-01").description == ""


def test_preview_says_what_each_row_would_do(infra_user):
    exchange = ServiceFactory(name="Exchange mail")
    CIFactory(name="same-01", services=[exchange], description="d")
    CIFactory(name="change-01")
    plan = cmdb_import.plan_ci_import(
        actor=infra_user,
        data=ci_csv(
            "new-01,Server,,,exchange MAIL,,",
            "same-01,server,,production,Exchange mail,,d",
            "change-01,firewall,,staging,,,",
        ),
    )
    assert plan.errors == []
    assert [(r.label, r.action) for r in plan.rows] == [
        ("new-01", "create"),
        ("same-01", "unchanged"),
        ("change-01", "update"),
    ]
    assert plan.rows[2].fields == ["class", "environment"]
    assert plan.summary == {"rows": 3, "create": 1, "update": 1, "unchanged": 1, "errors": 0}


# --- apply ---------------------------------------------------------------------------------


def test_apply_creates_and_updates_through_the_services_with_audit_and_one_summary(infra_user):
    owner = UserFactory(username="owner1")
    exchange, owa = ServiceFactory(name="Exchange mail"), ServiceFactory(name="Outlook Web Access")
    existing = CIFactory(name="mbx-01", services=[owa], attributes={"ip": "10.0.0.1"})
    plan = cmdb_import.apply_ci_import(
        actor=infra_user,
        data=ci_csv(
            'mbx-01,mailbox-server,owner1,,Exchange mail; Outlook Web Access,"{""ip"": ""10.0.0.2""}",',
            "mbx-02,Mailbox server,,test,Exchange mail,,Second mailbox",
        ),
    )
    assert plan.applied and plan.summary["create"] == 1 and plan.summary["update"] == 1
    existing.refresh_from_db()
    assert existing.ci_class.slug == "mailbox-server" and existing.owner == owner
    assert existing.attributes == {"ip": "10.0.0.2"}
    assert set(existing.services.values_list("name", flat=True)) == {"Exchange mail", "Outlook Web Access"}
    created = ConfigurationItem.objects.get(name="mbx-02")
    assert created.status == "planned" and created.environment == "test" and created.description == "Second mailbox"
    assert list(created.services.all()) == [exchange]
    trail = AuditEntry.objects.filter(model_label="mof.configurationitem")
    assert trail.filter(object_id=str(created.pk), action="create", actor_name="infra").exists()
    assert trail.filter(object_id=str(existing.pk), action="update", changes__has_key="owner_id").exists()
    assert trail.filter(object_id=str(created.pk), changes__services__added=[exchange.pk]).exists()
    assert trail.filter(object_id=str(existing.pk), changes__services__added=[exchange.pk]).exists()
    summary = trail.get(object_id="")
    assert summary.detail["csv_import"]["create"] == 1 and summary.detail["csv_import"]["update"] == 1
    assert "csv import" in summary.via


def test_services_column_replaces_the_list_and_the_unlink_is_recorded(infra_user):
    exchange, owa = ServiceFactory(name="Exchange mail"), ServiceFactory(name="Outlook Web Access")
    ci = CIFactory(name="cas-01", services=[exchange, owa])
    before = ci.updated_at
    cmdb_import.apply_ci_import(actor=infra_user, data=ci_csv("cas-01,,,,Outlook Web Access,,"))
    ci.refresh_from_db()
    assert list(ci.services.all()) == [owa] and ci.updated_at == before  # only its links changed
    assert AuditEntry.objects.filter(object_id=str(ci.pk), changes__services__removed=[exchange.pk]).exists()
    cmdb_import.apply_ci_import(actor=infra_user, data=ci_csv("cas-01,,,staging,,,"))
    ci.refresh_from_db()
    assert ci.environment == "staging" and ci.updated_at > before and list(ci.services.all()) == [owa]


def test_blank_cells_keep_values_and_status_columns_are_ignored(infra_user):
    owner = UserFactory(username="keeper")
    ci = CIFactory(name="keep-01", owner=owner, description="kept", status="in_service")
    plan = cmdb_import.apply_ci_import(
        actor=infra_user, data=b"Name,Class,Status,Owner,Description\nkeep-01,,retired,,\n"
    )
    assert plan.ignored_columns == ["status"]
    assert plan.summary["unchanged"] == 1
    ci.refresh_from_db()
    assert (ci.owner, ci.description, ci.status) == (owner, "kept", "in_service")


def test_apply_refuses_a_file_other_than_the_one_previewed(infra_user):
    previewed = cmdb_import.plan_ci_import(actor=infra_user, data=ci_csv("p-01,server,,,,,"))
    with pytest.raises(ImportRejected) as excinfo:
        cmdb_import.apply_ci_import(actor=infra_user, data=ci_csv("p-02,server,,,,,"), expected_digest=previewed.digest)
    assert errors_of(excinfo) == [(None, "file")]
    assert not ConfigurationItem.objects.filter(name__startswith="p-0").exists()
    applied = cmdb_import.apply_ci_import(
        actor=infra_user,
        data=ci_csv("p-01,server,,,,,").decode().replace("\n", "\r\n"),
        expected_digest=previewed.digest,
    )
    assert applied.summary["create"] == 1  # line endings do not change the digest


# --- permissions -----------------------------------------------------------------------------


def test_only_cmdb_editors_may_import_and_refusals_are_recorded(support_user, partner_user):
    for user in (support_user, partner_user):
        with pytest.raises(Exception) as excinfo:
            cmdb_import.apply_ci_import(actor=user, data=ci_csv("z-01,server,,,,,"))
        assert type(excinfo.value).__name__ == "Refused"
    assert AuditEntry.objects.filter(action="refused", transition="ci.add").count() == 2
    assert not ConfigurationItem.objects.filter(name="z-01").exists()


def test_manager_may_import(manager):
    assert cmdb_import.apply_ci_import(actor=manager, data=ci_csv("m-01,server,,,,,")).summary["create"] == 1


# --- the file ---------------------------------------------------------------------------------


def test_utf8_with_bom_semicolons_and_utf16_are_read(infra_user):
    text = "name;class;description\nrouter-ü;network-device;Zürich\n"
    for data in (b"\xef\xbb\xbf" + text.encode("utf-8"), text.encode("utf-8"), text.encode("utf-16")):
        plan = cmdb_import.plan_ci_import(actor=infra_user, data=data)
        assert plan.errors == [] and plan.rows[0].label == "router-ü"


def test_other_encodings_are_refused_not_guessed(infra_user):
    with pytest.raises(ImportRejected) as excinfo:
        cmdb_import.plan_ci_import(actor=infra_user, data="name,class\nrouter-ü,server\n".encode("latin-1"))
    assert errors_of(excinfo) == [(None, "file")]
    assert "UTF-8" in excinfo.value.errors[0].message


@override_settings(MOF_IMPORT_MAX_BYTES=100, MOF_IMPORT_MAX_ROWS=3)
def test_size_and_row_limits(infra_user):
    with pytest.raises(ImportRejected) as excinfo:
        cmdb_import.plan_ci_import(actor=infra_user, data=ci_csv("a" * 200 + ",server,,,,,"))
    assert errors_of(excinfo) == [(None, "file")] and "at most 100" in excinfo.value.errors[0].message
    with pytest.raises(ImportRejected) as excinfo:
        cmdb_import.plan_ci_import(actor=infra_user, data=b"name,class\na,server\nb,server\nc,server\nd,server\n")
    assert errors_of(excinfo) == [(5, "file")]


def test_unknown_and_missing_columns_are_header_errors(infra_user):
    with pytest.raises(ImportRejected) as excinfo:
        cmdb_import.plan_ci_import(actor=infra_user, data=b"class,colour\nserver,red\n")
    assert errors_of(excinfo) == [(1, "colour"), (1, "name")]


def test_a_row_with_more_cells_than_columns_is_an_error(infra_user):
    plan = cmdb_import.plan_ci_import(actor=infra_user, data=b"name,class\nok-01,server\nbad-01,server,extra\n")
    assert [(e.row, e.field) for e in plan.errors] == [(3, "row")]


def test_exported_formula_quotes_come_off_on_import(infra_user):
    plan = cmdb_import.apply_ci_import(actor=infra_user, data=b"name,class,description\n'-dash-01,server,'=1+1\n")
    ci = ConfigurationItem.objects.get(name="-dash-01")
    assert plan.summary["create"] == 1 and ci.description == "=1+1"


# --- relationships -------------------------------------------------------------------------------


def test_relationship_import_creates_edges_skips_recorded_ones_and_allows_cycles(infra_user):
    a, b, _c = CIFactory(name="rel-a"), CIFactory(name="rel-b"), CIFactory(name="rel-c")
    RelationshipFactory(source=a, target=b, type="depends_on")
    plan = cmdb_import.apply_relationship_import(
        actor=infra_user,
        data=(
            b"source,type,target\n"
            b"rel-a,depends_on,rel-b\n"  # recorded already
            b"rel-b,runs on,rel-c\n"  # type by its label
            b"rel-c,,rel-a\n"  # default type; closes a cycle a -> b -> c -> a
        ),
    )
    assert [(r.row, r.action) for r in plan.rows] == [(2, "unchanged"), (3, "create"), (4, "create")]
    assert set(CIRelationship.objects.values_list("source__name", "type", "target__name")) == {
        ("rel-a", "depends_on", "rel-b"),
        ("rel-b", "runs_on", "rel-c"),
        ("rel-c", "depends_on", "rel-a"),
    }
    assert AuditEntry.objects.filter(model_label="mof.cirelationship", action="create", object_id="").count() == 1


def test_relationship_import_errors_name_row_and_field_and_write_nothing(infra_user):
    CIFactory(name="r-1"), CIFactory(name="r-2")
    data = (
        b"source,type,target\n"
        b"r-1,depends_on,r-2\n"
        b"r-1,depends_on,missing\n"
        b"r-1,sideways,r-2\n"
        b"r-2,depends_on,r-2\n"
        b"r-1,depends_on,r-2\n"
        b",depends_on,\n"
    )
    plan = cmdb_import.plan_relationship_import(actor=infra_user, data=data)
    assert [(e.row, e.field) for e in plan.errors] == [
        (3, "target"),
        (4, "type"),
        (5, "target"),
        (6, "target"),
        (7, "source"),
        (7, "target"),
    ]
    with pytest.raises(ImportRejected):
        cmdb_import.apply_relationship_import(actor=infra_user, data=data)
    assert not CIRelationship.objects.exists()


def test_partner_owner_may_not_import_relationships(partner_user):
    CIFactory(name="own-1", owner=partner_user), CIFactory(name="own-2", owner=partner_user)
    with pytest.raises(Exception) as excinfo:
        cmdb_import.plan_relationship_import(actor=partner_user, data=b"source,target\nown-1,own-2\n")
    assert type(excinfo.value).__name__ == "Refused"


# --- bounded queries ---------------------------------------------------------------------------------


def _query_count(func):
    with CaptureQueriesContext(connection) as ctx:
        func()
    return len(ctx.captured_queries)


def test_ten_thousand_rows_validate_in_a_bounded_number_of_queries(infra_user):
    ServiceFactory(name="Exchange mail")
    owner = UserFactory(username="bulk-owner")
    existing = ConfigurationItem.objects.bulk_create(
        [ConfigurationItem(name=f"bulk-{i:05d}", ci_class=ci_class(), owner=owner) for i in range(0, 10_000, 2)]
    )
    assert len(existing) == 5000
    lines = [f"bulk-{i:05d},server,bulk-owner,production,Exchange mail,,row {i}" for i in range(10_000)]
    data = ci_csv(*lines)
    small = ci_csv(*lines[:10])
    infra_user.roles  # the reader's roles are loaded once per request anyway
    plan_holder = {}
    small_queries = _query_count(lambda: cmdb_import.plan_ci_import(actor=infra_user, data=small))
    queries = _query_count(
        lambda: plan_holder.setdefault("plan", cmdb_import.plan_ci_import(actor=infra_user, data=data))
    )
    plan = plan_holder["plan"]
    assert plan.errors == [] and plan.summary == {
        "rows": 10_000,
        "create": 5000,
        "update": 5000,
        "unchanged": 0,
        "errors": 0,
    }
    # Per 500 names: one look-up of the CIs, one of their services, one of the owners.
    assert small_queries <= 6
    assert queries <= small_queries + 3 * (10_000 // cmdb_import.LOOKUP_CHUNK)


def test_applying_a_thousand_rows_writes_in_batches(infra_user):
    ServiceFactory(name="Exchange mail")
    ConfigurationItem.objects.bulk_create(
        [ConfigurationItem(name=f"batch-{i:04d}", ci_class=ci_class()) for i in range(0, 1000, 2)]
    )
    data = ci_csv(*[f"batch-{i:04d},firewall,,,Exchange mail,,row {i}" for i in range(1000)])
    infra_user.roles
    holder = {}
    queries = _query_count(lambda: holder.setdefault("plan", cmdb_import.apply_ci_import(actor=infra_user, data=data)))
    assert holder["plan"].summary["create"] == 500 and holder["plan"].summary["update"] == 500
    assert (
        ConfigurationItem.objects.filter(
            name__startswith="batch-", ci_class__slug="firewall", services__name="Exchange mail"
        ).count()
        == 1000
    )
    assert AuditEntry.objects.filter(model_label="mof.configurationitem", action="create").count() >= 500
    # Planning (a few look-ups per 500 names) plus writing (a few statements per 500 rows),
    # never a query per row.
    assert queries < 80


def test_relationship_rows_validate_in_a_bounded_number_of_queries(infra_user):
    cis = ConfigurationItem.objects.bulk_create(
        [ConfigurationItem(name=f"edge-{i:04d}", ci_class=ci_class()) for i in range(2000)]
    )
    lines = "".join(f"edge-{i:04d},depends_on,edge-{(i + 1) % 2000:04d}\n" for i in range(2000))
    infra_user.roles
    queries = _query_count(
        lambda: cmdb_import.plan_relationship_import(actor=infra_user, data=("source,type,target\n" + lines).encode())
    )
    assert len(cis) == 2000
    assert queries <= 2 * (2000 // cmdb_import.LOOKUP_CHUNK) + 2


def test_read_table_numbers_rows_as_a_spreadsheet_does():
    table = read_table(b'name,description\na,"two\nlines"\n\nb,x\n')
    assert [number for number, _ in table.rows] == [2, 4]
