"""The project's filter backends: filtering, search and ordering apply to collections only.

DRF runs the filter backends in `get_object()` too, so an ordinary GET of one incident built
a django-filter FilterSet and its form (deep copies of every filter, ~4 ms of CPU) for
nothing: a detail URL names its object, and the queryset's visibility rules (the viewset's
`get_queryset`) already decide whether the caller may see it.
"""

import datetime as dt

from django.utils.dateparse import parse_datetime
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter, SearchFilter


def _is_detail(view) -> bool:
    # Routers set `detail` on viewset actions; plain APIViews have none and are filtered.
    return getattr(view, "detail", False) is True


# Ids and numbers a database column can hold; beyond, the query itself fails (a 500).
LARGEST_NUMBER = 2**63 - 1


# PostgreSQL takes UTC offsets up to 15:59; Python's datetimes go to 23:59.
LARGEST_UTC_OFFSET = dt.timedelta(hours=15, minutes=59)


def _unstorable(part):
    if part.lstrip("+-").isdigit() and part.isascii():
        return abs(int(part)) > LARGEST_NUMBER
    try:
        when = parse_datetime(part)
    except ValueError:
        return False  # not a date-time: the filter itself says what is wrong
    return when is not None and when.utcoffset() is not None and abs(when.utcoffset()) > LARGEST_UTC_OFFSET


def refuse_unstorable_values(request):
    """400 for a query parameter carrying a whole number no column can hold, or a date-time
    with a UTC offset the database refuses (both found by fuzzing: they were 500s)."""
    errors = {}
    for name, values in request.query_params.lists():
        for part in (p.strip() for value in values for p in value.split(",")):
            if _unstorable(part):
                errors[name] = [f"{part[:40]} is out of range."]
    if errors:
        raise ValidationError(errors)


_filterset_classes: dict = {}


class CollectionFilterBackend(DjangoFilterBackend):
    def get_filterset_class(self, view, queryset=None):
        # A viewset's `filterset_fields` make django-filter build a FilterSet class (and copy
        # every filter into it) on each request: once per viewset and model is enough.
        if queryset is None or getattr(view, "filterset_class", None) or "filterset_fields" in vars(view):
            return super().get_filterset_class(view, queryset)
        key = (type(view), queryset.model)
        if key not in _filterset_classes:
            _filterset_classes[key] = super().get_filterset_class(view, queryset)
        return _filterset_classes[key]

    def filter_queryset(self, request, queryset, view):
        if _is_detail(view):
            return queryset
        refuse_unstorable_values(request)
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None:
            return queryset
        if not getattr(view, "filterset_class", None) and not _names_a_filter(request, filterset_class):
            # No parameter of the request is one of the generated filters: their form would be
            # valid and every filter a no-op (no value), so the queryset is the answer as it is.
            return queryset
        return super().filter_queryset(request, queryset, view)


def _names_a_filter(request, filterset_class) -> bool:
    # By prefix: a filter's widget may read `name_min`, `name_0`, `name_after`...
    names = tuple(filterset_class.base_filters)
    return any(param.startswith(names) for param in request.query_params)


class CollectionSearchFilter(SearchFilter):
    def filter_queryset(self, request, queryset, view):
        return queryset if _is_detail(view) else super().filter_queryset(request, queryset, view)

    def get_search_terms(self, request):
        try:
            return super().get_search_terms(request)
        except ValidationError as exc:  # e.g. a NUL character: name the parameter
            raise ValidationError({self.search_param: exc.detail}) from None


class CollectionOrderingFilter(OrderingFilter):
    def filter_queryset(self, request, queryset, view):
        return queryset if _is_detail(view) else super().filter_queryset(request, queryset, view)
