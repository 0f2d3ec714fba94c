"""The project's filter backends: filtering, search and ordering apply to collections only.

DRF runs the filter backends in `get_object()` too, so an ordinary GET of one incident built
a django-filter FilterSet and its form (deep copies of every filter, ~4 ms of CPU) for
nothing: a detail URL names its object, and the queryset's visibility rules (the viewset's
`get_queryset`) already decide whether the caller may see it.
"""
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.filters import OrderingFilter, SearchFilter


def _is_detail(view) -> bool:
    # Routers set `detail` on viewset actions; plain APIViews have none and are filtered.
    return getattr(view, "detail", False) is True


class CollectionFilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        return queryset if _is_detail(view) else super().filter_queryset(request, queryset, view)


class CollectionSearchFilter(SearchFilter):
    def filter_queryset(self, request, queryset, view):
        return queryset if _is_detail(view) else super().filter_queryset(request, queryset, view)


class CollectionOrderingFilter(OrderingFilter):
    def filter_queryset(self, request, queryset, view):
        return queryset if _is_detail(view) else super().filter_queryset(request, queryset, view)
