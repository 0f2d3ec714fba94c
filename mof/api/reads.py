"""The read path of list and detail GETs: rows from `values()`, turned into the same JSON the
viewset's serializer would give, without model instances or DRF's field-by-field walk.

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

import threading

from django.db import models
from django.db.models.query import ValuesIterable
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

        def convert(value):
            if isinstance(value, str) or value.utcoffset() is None:
                return slow(value)
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
        self.related_model = model_field.related_model
        self.query_name = model_field.related_query_name()

    def fetch(self, ids):
        by_row = {i: [] for i in ids}
        if ids:
            # The related model's default manager and ordering, as the relation's manager
            # (and a prefetch) would use: the same ids in the same order.
            pairs = self.related_model._default_manager.filter(**{f"{self.query_name}__in": ids}).values_list(self.query_name, "pk")
            for owner, related in pairs:
                by_row[owner].append(related)
        return by_row


def _model_field(model, name):
    try:
        return model._meta.get_field(name)
    except Exception:  # FieldDoesNotExist, or a reverse relation's name
        return None


def _entry(name, field, model):
    """How to read one serializer field from a values() row; None when it cannot be exactly."""
    if field.source == "*" or len(field.source_attrs) != 1:
        return None
    source = field.source_attrs[0]
    model_field = _model_field(model, source)
    if isinstance(field, relations.ManyRelatedField):
        child = field.child_relation
        if type(child) is relations.PrimaryKeyRelatedField and child.pk_field is None and isinstance(model_field, models.ManyToManyField):
            return _Many(name, model_field)
        return None
    if type(field) is relations.PrimaryKeyRelatedField:
        if field.pk_field is None and isinstance(model_field, models.ForeignKey) and model_field.target_field.primary_key:
            return _Entry(name, model_field.attname, convert=_identity)
        return None
    if isinstance(field, relations.RelatedField) or isinstance(field, serializers.BaseSerializer):
        return None
    if model_field is None:
        if source == "reference" and issubclass(model, NumberedModel) and isinstance(getattr(model, "reference", None), property):
            prefix = model.number_prefix
            return _Entry(name, "number", convert=lambda number: f"{prefix}-{number}", computed=True)
        return None
    if not model_field.concrete or model_field.is_relation or isinstance(model_field, models.FileField):
        return None  # a FieldFile or a related object is not the stored value
    if type(field) is drf_fields.DateTimeField:
        return _Entry(name, model_field.attname, make=_datetime(field))
    fast = _FAST.get(type(field))
    return _Entry(name, model_field.attname, convert=fast(field) if fast else field.to_representation)


class ReadPlan:
    """The columns to select and how to render them, for one serializer class and field set."""

    def __init__(self, model, entries, many, names):
        self.model = model
        self.entries = entries
        self.many = many
        self.names = names
        self.pk = model._meta.pk.attname
        self.row_class = type("Row", (dict,), {"__slots__": (), "pk": property(lambda row, pk=self.pk: row[pk])})

        row_class = self.row_class

        class RowIterable(ValuesIterable):
            def __iter__(self):
                for row in super().__iter__():
                    yield row_class(row)

        self.iterable = RowIterable

    def rows(self, queryset, extra=()):
        """The queryset as rows (dicts answering .pk, so pagination takes them as instances)."""
        columns = list(dict.fromkeys([self.pk, *(e.column for e in self.entries if isinstance(e, _Entry)), *extra]))
        rows = queryset.prefetch_related(None).values(*columns)
        rows._iterable_class = self.iterable
        return rows

    def represent(self, rows):
        rows = list(rows)
        pk = self.pk
        fetched = {many.name: many.fetch([row[pk] for row in rows]) for many in self.many}
        # In the serializer's order of keys; a many-to-many entry reads the fetched ids.
        steps = [
            (e.name, e.column, e.convert or e.make(), e.computed) if isinstance(e, _Entry) else (e.name, pk, fetched[e.name].__getitem__, True)
            for e in self.entries
        ]
        out = []
        for row in rows:
            data = {}
            for name, column, convert, computed in steps:
                value = row[column]
                data[name] = convert(value) if computed or value is not None else None
            out.append(data)
        return out


_templates: dict = {}
_plans: dict = {}
_lock = threading.Lock()


def _template(serializer_class):
    """One instance per class, built once: its fields describe the rendering (never bound to a request)."""
    template = _templates.get(serializer_class)
    if template is None:
        with _lock:
            template = _templates.get(serializer_class)
            if template is None:
                template = serializer_class(context={})
                template.fields  # noqa: B018 - built here, once
                _templates[serializer_class] = template
    return template


def read_plan(serializer_class, wanted=None):
    """The plan for `serializer_class` restricted to `wanted` names (None: all), or None when
    the serializer cannot be read from rows exactly or a wanted name is unknown."""
    key = (serializer_class, tuple(wanted) if wanted else None)
    try:
        return _plans[key]
    except KeyError:
        pass
    plan = _build(serializer_class, wanted)
    _plans[key] = plan
    return plan


def _build(serializer_class, wanted):
    if not issubclass(serializer_class, serializers.ModelSerializer):
        return None
    if serializer_class.to_representation is not serializers.Serializer.to_representation:
        return None
    if getattr(serializer_class.Meta, "list_serializer_class", None) is not None:
        return None
    model = serializer_class.Meta.model
    template = _template(serializer_class)
    readable = [(name, field) for name, field in template.fields.items() if not field.write_only]
    names = [name for name, _ in readable]
    if wanted is not None:
        if any(name not in names for name in wanted):
            return None
        readable = [(name, field) for name, field in readable if name in wanted]
    entries = []
    for name, field in readable:
        if field.field_name != name:
            return None
        entry = _entry(name, field, model)
        if entry is None:
            return None
        entries.append(entry)
    return ReadPlan(model, entries, [e for e in entries if isinstance(e, _Many)], [name for name, _ in readable])


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

    def _sort_columns(self, model):
        # A cursor page reads its position from its last row: keep every column it may sort by.
        names = [n for n in (getattr(self, "ordering_fields", None) or ()) if isinstance(n, str)]
        return [n for n in names if isinstance(_model_field(model, n), models.Field) and _model_field(model, n).concrete]

    def list(self, request, *args, **kwargs):
        plan = self.read_plan()
        if plan is None:
            return super().list(request, *args, **kwargs)
        queryset = plan.rows(self.filter_queryset(self.get_queryset()), self._sort_columns(plan.model))
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(plan.represent(page))
        return Response(plan.represent(queryset))

    def retrieve(self, request, *args, **kwargs):
        plan = self.read_plan()
        if plan is None:
            return super().retrieve(request, *args, **kwargs)
        # As GenericAPIView.get_object, on rows.
        queryset = plan.rows(self.filter_queryset(self.get_queryset()))
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        row = get_object_or_404(queryset, **{self.lookup_field: self.kwargs[lookup_url_kwarg]})
        self.check_object_permissions(request, row)
        return Response(plan.represent([row])[0])
