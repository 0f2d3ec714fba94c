"""The read path of list and detail GETs: the query's rows as plain dicts, turned into the same
JSON the viewset's serializer would give, without model instances or DRF's field-by-field walk.

Why: on a 50-row page of incidents, building 50 model instances (django-fsm's __init__,
the audit trail's row keeping) and DRF's per-field `get_attribute`/`to_representation`
cost about two thirds of the request's CPU, and every request deep-copied the serializer's
declared fields again. Here the serializer is built once per class (a template whose
fields say how to render each value) and each request renders plain rows.

The output is the serializer's, by construction: each field is rendered by the converter
its DRF class stands for (int, str, choices, date-times in the current time zone), by the
template field's own `to_representation` for other plain columns, ids for primary-key
relations, a list of ids in the related model's default order for many-to-many ones.
A serializer this cannot read exactly (a method field, a nested serializer, a dotted
source, its own `to_representation`...) keeps DRF's path, as does a `?fields=` naming an
unknown field (DRF's path answers the 400). tests/api/test_reads.py compares both paths.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading

from django.db import connections, models
from django.db.models.expressions import RawSQL
from django.db.models.query import BaseIterable
from rest_framework import fields as drf_fields
from rest_framework import relations, serializers
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.settings import ISO_8601, api_settings

from mof.api.fields import requested_fields
from mof.numbering import NumberedModel


def _choice(field):
    mapping = field.choice_strings_to_values

    def convert(value):
        if value == "":
            return value
        return mapping.get(str(value), value)

    return convert


def _datetime(field):
    """DRF's DateTimeField.to_representation with its format and time zone looked up once per
    render instead of once per value; anything unusual goes to the field itself."""

    def make():
        output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
        zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
        if output_format is None or output_format.lower() != ISO_8601 or zone is None:
            return field.to_representation
        slow = field.to_representation
        # A UTC value (what the database gives) is already in a UTC zone's wall time: no copy.
        utc = getattr(zone, "key", None) == "UTC" or zone is dt.timezone.utc

        def convert(value):
            if isinstance(value, str) or value.utcoffset() is None:
                return slow(value)
            if utc and value.tzinfo is dt.timezone.utc:
                text = value.isoformat()
            else:
                try:
                    text = value.astimezone(zone).isoformat()
                except OverflowError:
                    return slow(value)
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        return convert

    return make


def _identity(value):
    return value


# Exact DRF classes only: a subclass may render differently.
_FAST = {
    drf_fields.IntegerField: lambda field: int,
    drf_fields.CharField: lambda field: str,
    drf_fields.BooleanField: lambda field: bool,
    drf_fields.ChoiceField: _choice,
    drf_fields.ReadOnlyField: lambda field: _identity,
}


class _Entry:
    __slots__ = ("name", "column", "convert", "make", "computed")

    def __init__(self, name, column, convert=None, make=None, computed=False):
        self.name, self.column, self.convert, self.make, self.computed = name, column, convert, make, computed


class _Many:
    """A many-to-many relation rendered as the related ids, in the related model's default order."""

    def __init__(self, name, model_field):
        self.name = name
        self.model = model_field.model
        self.related_model = model_field.related_model
        self.query_name = model_field.related_query_name()
        self.alias = f"_ids_{name}"
        self._compiled = {}

    def subquery(self, using):
        """PostgreSQL: the ids as an ARRAY(SELECT ... ORDER BY ...) column of the row query
        itself (one query, not two, for a detail).

        Compiled once per database: the subquery's SQL does not change from one request to
        the next (it refers to the outer row by the model's table name, which is the alias of
        the base table of every top-level query), and compiling it cost more than the rest
        of the detail's query."""
        compiled = self._compiled.get(using)
        if compiled is None:
            from django.contrib.postgres.expressions import ArraySubquery
            from django.db.models import OuterRef

            ids = self.related_model._default_manager.filter(**{self.query_name: OuterRef("pk")}).values("pk")
            probe = self.model._default_manager.using(using).annotate(**{self.alias: ArraySubquery(ids)})
            expression = probe.query.annotations[self.alias]
            sql, params = probe.query.get_compiler(using=using).compile(expression)
            compiled = self._compiled[using] = (sql, tuple(params), expression.output_field)
        sql, params, output_field = compiled
        return RawSQL(sql, params, output_field=output_field)

    def fetch(self, ids):
        by_row = {i: [] for i in ids}
        if ids:
            # The related model's default manager and ordering, as the relation's manager
            # (and a prefetch) would use: the same ids in the same order.
            pairs = self.related_model._default_manager.filter(**{f"{self.query_name}__in": ids}).values_list(
                self.query_name, "pk"
            )
            for owner, related in pairs:
                by_row[owner].append(related)
        return by_row


def _model_field(model, name):
    try:
        return model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist, or a reverse relation's name
        return None


def _entry(name, field, model):
    """How to read one serializer field from a row; None when it cannot be read exactly."""
    if field.source == "*" or len(field.source_attrs) != 1:
        return None
    source = field.source_attrs[0]
    model_field = _model_field(model, source)
    if isinstance(field, relations.ManyRelatedField):
        child = field.child_relation
        if (
            type(child) is relations.PrimaryKeyRelatedField
            and child.pk_field is None
            and isinstance(model_field, models.ManyToManyField)
        ):
            return _Many(name, model_field)
        return None
    if type(field) is relations.PrimaryKeyRelatedField:
        if (
            field.pk_field is None
            and isinstance(model_field, models.ForeignKey)
            and model_field.target_field.primary_key
        ):
            return _Entry(name, model_field.attname, convert=_identity)
        return None
    if isinstance(field, relations.RelatedField) or isinstance(field, serializers.BaseSerializer):
        return None
    if model_field is None:
        if (
            source == "reference"
            and issubclass(model, NumberedModel)
            and isinstance(getattr(model, "reference", None), property)
        ):
            prefix = model.number_prefix
            return _Entry(name, "number", convert=lambda number: f"{prefix}-{number}", computed=True)
        return None
    if not model_field.concrete or model_field.is_relation or isinstance(model_field, models.FileField):
        return None  # a FieldFile or a related object is not the stored value
    if type(field) is drf_fields.DateTimeField:
        return _Entry(name, model_field.attname, make=_datetime(field))
    fast = _FAST.get(type(field))
    return _Entry(name, model_field.attname, convert=fast(field) if fast else field.to_representation)


@functools.cache
def _row_class(model):
    """Rows of `model`: dicts of its columns by attname (plus annotations), which also answer a
    relation's name (`row["caller"]`, the id) and `.pk`, as pagination asks of an instance
    (mof.pagination, DRF's cursor)."""
    meta = model._meta
    aliases = {f.name: f.attname for f in meta.concrete_fields if f.name != f.attname}
    aliases["pk"] = meta.pk.attname
    pk = meta.pk.attname

    class Row(dict):
        __slots__ = ()

        def __missing__(self, key):
            if key in aliases:
                return self[aliases[key]]
            raise KeyError(key)

        @property
        def pk(self):
            return self[pk]

    return Row


@functools.cache
def _row_iterable(model):
    """The iterable class that makes a queryset of `model` yield rows (see _row_class)."""
    Row = _row_class(model)

    class RowIterable(BaseIterable):
        # ModelIterable's reading of the query's default columns, without building instances:
        # compiling `values(*names)` instead costs a join set-up per column.
        def __iter__(self):
            queryset = self.queryset
            compiler = queryset.query.get_compiler(using=queryset.db)
            results = compiler.execute_sql(chunked_fetch=self.chunked_fetch, chunk_size=self.chunk_size)
            select, klass_info, annotations = compiler.select, compiler.klass_info, compiler.annotation_col_map
            start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
            names = [f[0].target.attname for f in select[start:end]]
            extra = list(annotations.items()) if annotations else ()
            for values in compiler.results_iter(results):
                row = Row(zip(names, values[start:end]))
                for name, position in extra:
                    row[name] = values[position]
                yield row

    return RowIterable


class ReadPlan:
    """The columns to read and how to render them, for one serializer class and field set."""

    def __init__(self, model, entries, many, names):
        self.model = model
        self.entries = entries
        self.many = many
        self.names = names
        self.pk = model._meta.pk.attname
        # Whether an instance's attributes render as its row read back would (represent_written):
        # not where the database rounds a decimal or reorders a JSON object's keys (jsonb).
        columns = {e.column for e in entries if isinstance(e, _Entry)}
        self.as_given = not any(
            isinstance(f, (models.DecimalField, models.JSONField))
            for f in model._meta.concrete_fields
            if f.attname in columns
        )

    def rows(self, queryset, *, arrays=False, also=None):
        """The queryset yielding rows (see _row_iterable): of every column, or with `also` (the
        names of further columns wanted, e.g. to sort on) only of those the plan renders; with
        `arrays` the ids of its many-to-many fields too where the database can (one query, not two)."""
        queryset = queryset.select_related(None).prefetch_related(None).defer(None)
        if also is not None:
            # A list's rows: fewer columns to fetch and to turn into dicts (one object rarely needs it).
            queryset = queryset.only(
                *dict.fromkeys([self.pk, *(e.column for e in self.entries if isinstance(e, _Entry)), *also])
            )
        if arrays and self.many and connections[queryset.db].vendor == "postgresql":
            queryset = queryset.annotate(**{many.alias: many.subquery(queryset.db) for many in self.many})
        queryset._iterable_class = _row_iterable(self.model)
        return queryset

    def represent(self, rows):
        rows = list(rows)
        pk = self.pk
        steps = []
        for e in self.entries:  # in the serializer's order of keys
            if isinstance(e, _Entry):
                steps.append((e.name, e.column, e.convert or e.make(), e.computed))
            elif rows and e.alias in rows[0]:  # the ids came with the rows (PostgreSQL)
                steps.append((e.name, e.alias, list, True))
            else:
                steps.append((e.name, pk, e.fetch([row[pk] for row in rows]).__getitem__, True))
        out = []
        for row in rows:
            data = {}
            for name, column, convert, computed in steps:
                value = row[column]
                data[name] = convert(value) if computed or value is not None else None
            out.append(data)
        return out


_templates: dict = {}
_lock = threading.Lock()


def template(serializer_class):
    """One instance per class, built once: its fields describe the rendering, and validate a
    create's input (incidents.api.serializers.quick_input); never bound to a request."""
    template = _templates.get(serializer_class)
    if template is None:
        with _lock:
            template = _templates.get(serializer_class)
            if template is None:
                template = serializer_class(context={})
                template.fields  # noqa: B018 - built here, once
                _templates[serializer_class] = template
    return template


def _readable(serializer_class):
    return [(name, field) for name, field in template(serializer_class).fields.items() if not field.write_only]


def read_plan(serializer_class, wanted=None):
    """The plan for `serializer_class` restricted to the `wanted` names (None: all), or None when
    the serializer cannot be read from rows exactly or a wanted name is unknown."""
    if not issubclass(serializer_class, serializers.ModelSerializer):
        return None
    if wanted:
        names = {name for name, _ in _readable(serializer_class)}
        if any(name not in names for name in wanted):
            return None  # DRF's path answers the 400; never cached (the names are the caller's)
    # Keyed by the set of names (the output keeps the serializer's order) in a bounded cache:
    # callers choose the sets.
    return _plan(serializer_class, frozenset(wanted) if wanted else None)


@functools.lru_cache(maxsize=512)
def _plan(serializer_class, wanted):
    if serializer_class.to_representation is not serializers.Serializer.to_representation:
        return None
    if getattr(serializer_class.Meta, "list_serializer_class", None) is not None:
        return None
    model = serializer_class.Meta.model
    readable = [(name, field) for name, field in _readable(serializer_class) if wanted is None or name in wanted]
    entries = []
    for name, field in readable:
        if field.field_name != name:
            return None
        entry = _entry(name, field, model)
        if entry is None:
            return None
        entries.append(entry)
    return ReadPlan(model, entries, [e for e in entries if isinstance(e, _Many)], [name for name, _ in readable])


def represent_written(serializer_class, instance, *, many_ids=None):
    """The serializer's JSON of an object this request has just written, from its attributes
    instead of reading it back: they hold what was stored (the values validated, defaults,
    the number, the times set on save), and render as the stored row does. `many_ids`: the
    ids of a many-to-many field known without a query, in its related model's order (a
    filing that set no CIs: []); the others are read. None when the serializer cannot be read
    from rows, stores a column otherwise than given (decimals, JSON), or the instance lacks
    a column (deferred): then read it back."""
    plan = read_plan(serializer_class)
    if plan is None or not plan.as_given or not isinstance(instance, plan.model):
        return None
    values = instance.__dict__
    try:
        row = _row_class(plan.model)((f.attname, values[f.attname]) for f in plan.model._meta.concrete_fields)
    except KeyError:
        return None
    for many in plan.many:  # the others are read by represent()
        if many_ids is not None and many.name in many_ids:
            row[many.alias] = list(many_ids[many.name])
    return plan.represent([row])[0]


class ValuesReadMixin:
    """For a viewset with list and retrieve: answer their GETs from rows (see the module).
    Put it before SparseFieldsMixin and the DRF mixins; `?fields=` is honoured the same way."""

    def read_plan(self):
        if self.request.method not in ("GET", "HEAD"):
            return None
        for permission in self.get_permissions():
            # An object permission would want the instance, which the rows path never builds.
            if type(permission).has_object_permission is not BasePermission.has_object_permission:
                return None
        return read_plan(self.get_serializer_class(), requested_fields(self.request))

    def sort_columns(self, model):
        """The columns a page may be sorted on (a cursor reads its position from the last row);
        None when any may be (every column is then read)."""
        names = getattr(self, "ordering_fields", None) or ()
        if isinstance(names, str):  # "__all__"
            return None
        cursor = getattr(self.pagination_class, "ordering", None) or ()
        names = [*names, *([cursor] if isinstance(cursor, str) else cursor)]
        fields = [_model_field(model, name.lstrip("-")) for name in names if isinstance(name, str)]
        return [f.attname for f in fields if isinstance(f, models.Field) and f.concrete]

    def list(self, request, *args, **kwargs):
        plan = self.read_plan()
        if plan is None:
            return super().list(request, *args, **kwargs)
        queryset = plan.rows(self.filter_queryset(self.get_queryset()), also=self.sort_columns(plan.model))
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(plan.represent(page))
        return Response(plan.represent(queryset))

    def retrieve(self, request, *args, **kwargs):
        plan = self.read_plan()
        if plan is None:
            return super().retrieve(request, *args, **kwargs)
        # As GenericAPIView.get_object, on rows.
        queryset = plan.rows(self.filter_queryset(self.get_queryset()), arrays=True)
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        row = get_object_or_404(queryset, **{self.lookup_field: self.kwargs[lookup_url_kwarg]})
        self.check_object_permissions(request, row)
        return Response(plan.represent([row])[0])
