"""Bulk import of the CMDB from CSV: configuration items, then the relationships
between them. Two steps, both stateless:

1. plan (the preview): every row is parsed and checked with the validation the CMDB's
   services use (`apply_fields` / `full_clean`, the policy table), against lookups
   fetched once for the whole file (a bounded number of queries, never one per row).
   It lists every error by row and field, and what each good row would do.
2. apply: the same plan is made again inside one transaction (nothing trusted from
   the preview) and, only if it has no error at all, written in batches: the audited
   querysets record every CI and relationship created or changed, as a single edit
   does, and one summary entry closes the trail. Any failure (a name taken meanwhile)
   rolls the whole file back. (One service call per row would re-run the same checks
   with a query each: minutes for 10,000 rows.)

CIs are matched by name: a name the CMDB has is an update, a new name a create. In an
update, a column the file leaves out or a blank cell keeps the CI's value (to clear an
owner or the services, edit the CI); `services` lists the CI's services in full,
separated by ";". `status` moves only through transitions and is never imported (an
export's status and update columns are ignored). Relationships are matched by their
source, type and target names; one already recorded is left as it is. The CMDB allows
dependency cycles (impact analysis is cycle-safe), so an import may close one; a CI
cannot depend on itself.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from mof import audit, policy, safe_json, services
from mof.choices import Environment, RelationshipType
from mof.csv_io import ImportRejected, RowError, Table, read_table, unneutralise
from mof.models import (
    AuditEntry,
    CIClass,
    CIRelationship,
    ConfigurationItem,
    Service,
    User,
)

LOOKUP_CHUNK = 500  # names per IN (...) lookup: well inside SQLite's variable limit

CI_COLUMNS = ("name", "class", "owner", "environment", "services", "attributes", "description")
CI_READ_ONLY_COLUMNS = ("id", "status", "created", "updated", "retired_reason")  # an export's extra columns
CI_ALIASES = {"ci_class": "class", "service": "services", "owner_username": "owner"}
RELATIONSHIP_COLUMNS = ("source", "type", "target")
RELATIONSHIP_ALIASES = {"source_ci": "source", "target_ci": "target", "relationship": "type"}

CI_TEMPLATE = [
    list(CI_COLUMNS),
    [
        "mbx-srv-01",
        "server",
        "infra",
        "production",
        "Exchange mail; Outlook Web Access",
        '{"ip": "10.0.1.21"}',
        "Mailbox server",
    ],
    ["san-01", "storage", "", "production", "Storage (SAN)", "", "Storage array"],
]
RELATIONSHIP_TEMPLATE = [
    list(RELATIONSHIP_COLUMNS),
    ["mbx-srv-01", "depends_on", "san-01"],
]


@dataclass
class PlannedRow:
    row: int
    action: str  # create, update or unchanged
    label: str
    fields: list[str] = field(default_factory=list)  # what it sets (create) or changes (update)
    write: dict = field(default_factory=dict, repr=False)  # the service call's arguments


@dataclass
class ImportPlan:
    kind: str  # "cis" or "relationships"
    rows: list[PlannedRow]
    errors: list[RowError]
    ignored_columns: list[str]
    digest: str
    total: int  # record rows in the file
    text: str = field(default="", repr=False)  # the decoded file, for the page's apply step
    applied: bool = False

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    @property
    def summary(self) -> dict:
        return {
            "rows": self.total,
            "create": self.count("create"),
            "update": self.count("update"),
            "unchanged": self.count("unchanged"),
            "errors": len(self.errors),
        }

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "dry_run": not self.applied,
            "applied": self.applied,
            "sha256": self.digest,
            "summary": self.summary,
            "ignored_columns": self.ignored_columns,
            "rows": [{"row": r.row, "action": r.action, "label": r.label, "fields": r.fields} for r in self.rows],
            "errors": [e.as_dict() for e in self.errors],
        }


def digest_of(table: Table) -> str:
    return hashlib.sha256(table.text.encode("utf-8")).hexdigest()


def _unquote(value: str) -> str:
    # Our exports defuse formulas with a leading quote: a re-import takes it off again.
    return unneutralise(value)


def _chunked(values, size=LOOKUP_CHUNK):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _check_columns(table: Table, allowed, read_only, required) -> list[str]:
    errors = []
    for name in table.headers:
        if name not in allowed and name not in read_only:
            errors.append(RowError(1, name, f"Unknown column. The columns are: {', '.join(allowed)}."))
    for name in required:
        if name not in table.headers:
            errors.append(RowError(1, name, "The file needs this column."))
    if errors:
        raise ImportRejected(errors)
    return [name for name in table.headers if name in read_only]


def _choice(value: str, choices) -> str | None:
    """A choice given by its value or its label, in any case."""
    wanted = value.strip().lower()
    for stored, label in choices:
        if wanted in (str(stored).lower(), str(label).lower(), str(label).lower().replace(" ", "_")):
            return stored
    return None


def _field_errors(row: int, exc: ValidationError, names: dict[str, str] | None = None) -> list[RowError]:
    names = names or {}
    if not hasattr(exc, "error_dict"):
        return [RowError(row, "row", m) for m in exc.messages]
    out = []
    for name, messages in exc.message_dict.items():
        shown = "row" if name == NON_FIELD_ERRORS else names.get(name, name)
        out.extend(RowError(row, shown, m) for m in messages)
    return out


def _extra_cells(number, cells) -> RowError | None:
    if "__extra__" in cells:
        return RowError(number, "row", f"This row has more cells than the header has columns ({cells['__extra__']}).")
    return None


# --- configuration items ----------------------------------------------------------------


def _ci_lookups(table: Table) -> dict:
    """Everything the rows refer to, fetched once per file (chunked IN lookups)."""
    names = {_unquote(cells.get("name", "")) for _, cells in table.rows} - {""}
    existing = {}
    for chunk in _chunked(names):
        existing.update({ci.name: ci for ci in ConfigurationItem.objects.filter(name__in=chunk)})
    through = ConfigurationItem.services.through
    current_services: dict[int, set[int]] = {ci.pk: set() for ci in existing.values()}
    for chunk in _chunked(current_services):
        for ci_id, service_id in through.objects.filter(configurationitem_id__in=chunk).values_list(
            "configurationitem_id", "service_id"
        ):
            current_services[ci_id].add(service_id)
    classes = {}
    for ci_class in CIClass.objects.all():
        classes[ci_class.slug.lower()] = ci_class
        classes[ci_class.name.lower()] = ci_class
    usernames = {cells.get("owner", "") for _, cells in table.rows} - {""}
    owners = {}
    for chunk in _chunked(usernames):
        owners.update({u.username: u for u in User.objects.filter(username__in=chunk, is_active=True, is_system=False)})
    services_by_name = {name.lower(): pk for pk, name in Service.objects.values_list("pk", "name")}
    return {
        "existing": existing,
        "current_services": current_services,
        "classes": classes,
        "owners": owners,
        "services": services_by_name,
    }


def plan_ci_import(*, actor, data) -> ImportPlan:
    """The preview: what each row would do, and every error by row and field."""
    policy.require(actor, "ci.add")
    table = read_table(data, aliases=CI_ALIASES)
    ignored = _check_columns(table, CI_COLUMNS, CI_READ_ONLY_COLUMNS, ("name",))
    look = _ci_lookups(table)
    rows, errors, first_row_of = [], [], {}
    for number, cells in table.rows:
        extra = _extra_cells(number, cells)
        if extra:
            errors.append(extra)
            continue
        planned, row_errors = _plan_ci_row(actor, number, cells, look, first_row_of)
        errors.extend(row_errors)
        if planned is not None and not row_errors:
            rows.append(planned)
    return ImportPlan("cis", rows, errors, ignored, digest_of(table), len(table.rows), table.text)


def _plan_ci_row(actor, number, cells, look, first_row_of):
    errors: list[RowError] = []
    name = _unquote(cells.get("name", ""))
    if not name:
        return None, [RowError(number, "name", "This field is required.")]
    if name in first_row_of:
        return None, [RowError(number, "name", f"{name} is also on row {first_row_of[name]}: each CI once per file.")]
    first_row_of[name] = number

    existing = look["existing"].get(name)
    if existing is not None and not policy.ci_visible(actor, existing):
        # Importers are CMDB editors, who see every CI; should a reader ever not, a CI
        # hidden from them is not theirs to update: its name is simply taken.
        return None, [RowError(number, "name", "This name is taken by a configuration item you may not change.")]
    action = "update" if existing is not None else "create"
    if action == "create" and not policy.can(actor, "ci.add"):
        errors.append(RowError(number, "name", "You may not add configuration items."))
    if action == "update" and not policy.can(actor, "ci.change", existing):
        errors.append(RowError(number, "name", "You may not change this configuration item."))

    fields: dict = {"name": name}
    value = cells.get("class", "")
    if value:
        ci_class = look["classes"].get(_unquote(value).lower())
        if ci_class is None:
            errors.append(RowError(number, "class", f"Unknown class {value!r}: use a CI class's name or slug."))
        else:
            fields["ci_class"] = ci_class
    elif action == "create":
        errors.append(RowError(number, "class", "This field is required for a new configuration item."))
    value = cells.get("owner", "")
    if value:
        owner = look["owners"].get(value)
        if owner is None:
            errors.append(RowError(number, "owner", f"No active user with the username {value!r}."))
        else:
            fields["owner"] = owner
    value = cells.get("environment", "")
    if value:
        environment = _choice(value, Environment.choices)
        if environment is None:
            errors.append(
                RowError(
                    number, "environment", f"Unknown environment {value!r}: one of {', '.join(Environment.values)}."
                )
            )
        else:
            fields["environment"] = environment
    value = cells.get("attributes", "")
    if value:
        try:
            attributes = safe_json.loads(_unquote(value))
        except ValueError:
            errors.append(RowError(number, "attributes", 'Not JSON: write an object such as {"ip": "10.0.0.1"}.'))
        else:
            if isinstance(attributes, dict):
                fields["attributes"] = attributes
            else:
                errors.append(RowError(number, "attributes", "Attributes must be a JSON object of names and values."))
    value = cells.get("description", "")
    if value:
        fields["description"] = _unquote(value)
    service_ids = None
    value = cells.get("services", "")
    if value:
        wanted = [_unquote(part.strip()) for part in value.split(";") if part.strip()]
        unknown = [n for n in wanted if n.lower() not in look["services"]]
        if unknown:
            errors.append(RowError(number, "services", f"Unknown IT service(s): {', '.join(unknown)}."))
        service_ids = sorted({look["services"][n.lower()] for n in wanted if n.lower() in look["services"]})

    # The CMDB's own validation (mof.services.apply_fields), on a copy. Class and owner
    # were resolved above from the lookups, and names are checked against them, so
    # nothing here queries per row.
    instance = copy.copy(existing) if existing is not None else ConfigurationItem()
    try:
        services.apply_fields(
            instance, fields, services.CI_FIELDS, exclude=["ci_class", "owner"], validate_unique=False
        )
    except ValidationError as exc:
        errors.extend(_field_errors(number, exc, {"ci_class": "class"}))
    if errors:
        return None, errors

    if action == "create":
        changed = sorted(("class" if k == "ci_class" else k) for k in fields) + (["services"] if service_ids else [])
    else:
        changed = [
            ("class" if k == "ci_class" else k)
            for k, v in fields.items()
            if k != "name"
            and getattr(existing, "ci_class_id" if k == "ci_class" else "owner_id" if k == "owner" else k)
            != (v.pk if k in ("ci_class", "owner") else v)
        ]
        if service_ids is not None and set(service_ids) != look["current_services"].get(existing.pk, set()):
            changed.append("services")
        if not changed:
            action = "unchanged"
    current = look["current_services"].get(existing.pk, set()) if existing is not None else set()
    write = {"instance": instance, "services": service_ids, "current_services": current}
    return PlannedRow(number, action, name, changed, write), []


def apply_ci_import(*, actor, data, expected_digest: str | None = None) -> ImportPlan:
    """Write the file, all or nothing. Raises ImportRejected (nothing written) if any row
    fails, or if the file is not the one previewed (`expected_digest`).

    The rows are planned again here, inside the transaction, with the validation of
    mof.services (apply_fields, the policy per row); then written in batches, because a
    service call per row costs seconds per thousand rows. The audit trail still records
    every CI created or changed and every service linked or unlinked, as a single edit
    does, plus one summary."""
    with audit.refusals_survive_rollback(), transaction.atomic(), audit.acting_as(actor, via=_via()):
        plan = _replan(plan_ci_import, actor, data, expected_digest)
        creates = [r for r in plan.rows if r.action == "create"]
        updates = [r for r in plan.rows if r.action == "update"]
        try:
            with transaction.atomic():  # a savepoint: after a clash we may still look why
                ConfigurationItem.objects.bulk_create([r.write["instance"] for r in creates], batch_size=WRITE_BATCH)
        except IntegrityError:  # someone created one of these names since the plan
            names = {r.label: r.row for r in creates}
            taken = set()
            for chunk in _chunked(names):
                taken.update(ConfigurationItem.objects.filter(name__in=chunk).values_list("name", flat=True))
            raise ImportRejected(
                [
                    RowError(
                        names[n],
                        "name",
                        "A configuration item of this name was created meanwhile: preview the file again.",
                    )
                    for n in sorted(taken, key=names.get)
                ]
                or [RowError(None, "name", "The CMDB changed while the file was imported: preview it again.")]
            ) from None
        _write_updates(updates)
        _write_service_links(creates + updates)
        _summary(actor, plan, ConfigurationItem)
    plan.applied = True
    return plan


WRITE_BATCH = 500
FIELD_OF_COLUMN = {
    "class": "ci_class",
    "owner": "owner",
    "environment": "environment",
    "attributes": "attributes",
    "description": "description",
}


def _write_updates(updates) -> None:
    changed = [r for r in updates if set(r.fields) - {"services"}]
    if not changed:
        return
    fields = sorted({FIELD_OF_COLUMN[f] for r in changed for f in r.fields if f != "services"})
    # AuditedQuerySet.bulk_update records each CI's changed values against the database.
    ConfigurationItem.objects.bulk_update([r.write["instance"] for r in changed], fields, batch_size=WRITE_BATCH)
    # The last-updated time is not history (the audit trail leaves auto_now fields out).
    stamp = timezone.now()
    for chunk in _chunked([r.write["instance"].pk for r in changed]):
        ConfigurationItem._base_manager.filter(pk__in=chunk).update(updated_at=stamp)


def _write_service_links(rows) -> None:
    """Link and unlink IT services as ci.services.set() would, recorded as it records them."""
    through = ConfigurationItem.services.through
    links, entries = [], []
    for r in rows:
        wanted = r.write["services"]
        if wanted is None:
            continue
        ci, current = r.write["instance"], r.write["current_services"]
        added, removed = sorted(set(wanted) - current), sorted(current - set(wanted))
        if removed:
            through.objects.filter(configurationitem_id=ci.pk, service_id__in=removed).delete()
            entries.append(
                audit._entry(
                    ConfigurationItem,
                    ci.pk,
                    ci,
                    "update",
                    {"services": {"removed": removed}},
                    detail={"m2m": "removed"},
                )
            )
        if added:
            links.extend(through(configurationitem_id=ci.pk, service_id=pk) for pk in added)
            entries.append(
                audit._entry(
                    ConfigurationItem, ci.pk, ci, "update", {"services": {"added": added}}, detail={"m2m": "added"}
                )
            )
    through.objects.bulk_create(links, batch_size=WRITE_BATCH)
    audit._write(entries)


# --- relationships ----------------------------------------------------------------------


def plan_relationship_import(*, actor, data) -> ImportPlan:
    policy.require(actor, "relationship.add", CIRelationship())
    table = read_table(data, aliases=RELATIONSHIP_ALIASES)
    ignored = _check_columns(table, RELATIONSHIP_COLUMNS, ("id", "created"), ("source", "target"))
    names = set()
    for _, cells in table.rows:
        names.update({_unquote(cells.get("source", "")), _unquote(cells.get("target", ""))})
    names.discard("")
    cis = {}
    for chunk in _chunked(names):
        cis.update({ci.name: ci for ci in policy.visible_cis(actor).filter(name__in=chunk)})
    recorded = set()
    for chunk in _chunked({ci.pk for ci in cis.values()}):
        recorded.update(
            CIRelationship.objects.filter(source_id__in=chunk).values_list("source_id", "type", "target_id")
        )

    rows, errors, first_row_of = [], [], {}
    for number, cells in table.rows:
        extra = _extra_cells(number, cells)
        if extra:
            errors.append(extra)
            continue
        row_errors = []
        ends = {}
        for end in ("source", "target"):
            name = _unquote(cells.get(end, ""))
            if not name:
                row_errors.append(RowError(number, end, "This field is required."))
            elif name not in cis:
                row_errors.append(
                    RowError(number, end, f"No configuration item named {name!r} (or you may not see it).")
                )
            else:
                ends[end] = cis[name]
        value = cells.get("type", "")
        rel_type = _choice(value, RelationshipType.choices) if value else RelationshipType.DEPENDS_ON.value
        if rel_type is None:
            row_errors.append(
                RowError(
                    number, "type", f"Unknown relationship type {value!r}: one of {', '.join(RelationshipType.values)}."
                )
            )
        source, target = ends.get("source"), ends.get("target")
        if source is not None and not policy.can(actor, "relationship.add", CIRelationship(source=source)):
            row_errors.append(RowError(number, "source", "You may not change what this configuration item depends on."))
        if source is not None and target is not None and rel_type is not None:
            relationship = CIRelationship(source=source, target=target, type=rel_type)
            if source.pk == target.pk:
                row_errors.append(RowError(number, "target", "A CI cannot depend on itself."))
            try:  # the model's own checks; its ends were resolved above, without a query per row
                relationship.full_clean(exclude=["source", "target"], validate_unique=False, validate_constraints=False)
            except ValidationError as exc:
                row_errors.extend(_field_errors(number, exc))
            key = (source.pk, rel_type, target.pk)
            if not row_errors and key in first_row_of:
                row_errors.append(RowError(number, "target", f"The same relationship is on row {first_row_of[key]}."))
            first_row_of.setdefault(key, number)
            if not row_errors:
                label = f"{source.name} {relationship.get_type_display()} {target.name}"
                action = "unchanged" if key in recorded else "create"
                rows.append(
                    PlannedRow(
                        number,
                        action,
                        label,
                        ["source", "type", "target"] if action == "create" else [],
                        {"source": source, "target": target, "type": rel_type},
                    )
                )
        errors.extend(row_errors)
    return ImportPlan("relationships", rows, errors, ignored, digest_of(table), len(table.rows), table.text)


def apply_relationship_import(*, actor, data, expected_digest: str | None = None) -> ImportPlan:
    """All or nothing, planned again inside the transaction; written in batches (each
    relationship recorded in the audit trail by AuditedQuerySet.bulk_create)."""
    with audit.refusals_survive_rollback(), transaction.atomic(), audit.acting_as(actor, via=_via()):
        plan = _replan(plan_relationship_import, actor, data, expected_digest)
        creates = [r for r in plan.rows if r.action == "create"]
        try:
            with transaction.atomic():
                CIRelationship.objects.bulk_create([CIRelationship(**r.write) for r in creates], batch_size=WRITE_BATCH)
        except IntegrityError:  # recorded by someone else since the plan
            raise ImportRejected(
                [
                    RowError(
                        None,
                        "target",
                        "Someone recorded some of these relationships meanwhile: preview the file again.",
                    )
                ]
            ) from None
        _summary(actor, plan, CIRelationship)
    plan.applied = True
    return plan


# --- shared -----------------------------------------------------------------------------


def _via() -> str:
    return f"{audit.current().via} csv import"[:60]


def _replan(planner, actor, data, expected_digest):
    plan = planner(actor=actor, data=data)
    if expected_digest and expected_digest != plan.digest:
        raise ImportRejected([RowError(None, "file", "This is not the file that was previewed: preview it again.")])
    if plan.errors:
        raise ImportRejected(plan.errors)
    return plan


def _summary(actor, plan: ImportPlan, model) -> None:
    """One entry for the whole import beside the entries of each row's writes."""
    counts = plan.summary
    AuditEntry.objects.create(
        actor_id=actor.pk,
        actor_name=actor.username,
        via=audit.current().via,
        action="create",
        model_label=model._meta.label_lower,
        object_id="",
        object_repr=f"CSV import: {counts['create']} created, {counts['update']} updated, {counts['unchanged']} unchanged"[
            :200
        ],
        changes={},
        detail={"csv_import": {"kind": plan.kind, "sha256": plan.digest, **counts}},
    )
