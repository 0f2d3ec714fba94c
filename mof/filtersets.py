"""Filters of the CMDB, shared by the list page and the REST API (one FilterSet, two doors).

Independent of the request: restrict the queryset to what the reader may see *before*
handing it over (selectors.ci_list / policy.visible_cis).
"""

from __future__ import annotations

import django_filters
from django.db.models import Q

from mof.choices import CIStatus, Environment
from mof.models import CIClass, ConfigurationItem, Service
from mof.pagination import MAX_ID


class CIFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label="Search")
    ci_class = django_filters.ModelChoiceFilter(
        field_name="ci_class",
        to_field_name="slug",
        queryset=CIClass.objects.order_by("name"),
        label="Class",
        empty_label="Any class",
    )
    status = django_filters.ChoiceFilter(choices=CIStatus.choices, empty_label="Any status")
    environment = django_filters.ChoiceFilter(choices=Environment.choices, empty_label="Any environment")
    service = django_filters.ModelChoiceFilter(
        field_name="services",
        queryset=Service.objects.order_by("name"),
        label="Service",
        empty_label="Any service",
    )
    # Bounded: an id no column holds is a form error (a 400 on the API), not a database error.
    owner = django_filters.NumberFilter(field_name="owner_id", label="Owner (id)", min_value=1, max_value=MAX_ID)
    sort = django_filters.OrderingFilter(
        fields=(
            ("name", "name"),
            ("ci_class__name", "class"),
            ("status", "status"),
            ("environment", "environment"),
            ("updated_at", "updated"),
        ),
        field_labels={"updated_at": "Last updated"},
        label="Sort by",
        empty_label="Name (default)",
    )

    class Meta:
        model = ConfigurationItem
        fields = ["q", "ci_class", "status", "environment", "service", "owner"]

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))
