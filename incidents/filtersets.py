"""Filters of the service desk queues. Independent of the request: restrict the queryset
to what the reader may see (selectors.visible_incidents / selectors.queue) before handing
it over."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import Q

from incidents.choices import IncidentStatus, Scale
from incidents.models import Incident
from mof.models import ConfigurationItem, Service, Team, User
from mof.pagination import parse_id


class IncidentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_search", label="Search")
    status = django_filters.MultipleChoiceFilter(
        choices=IncidentStatus.choices, label="Status", widget=forms.SelectMultiple(attrs={"size": 4})
    )
    priority = django_filters.MultipleChoiceFilter(
        choices=[(p, f"P{p}") for p in range(1, 6)], label="Priority", widget=forms.SelectMultiple(attrs={"size": 4})
    )
    impact = django_filters.ChoiceFilter(choices=Scale.choices, empty_label="Any impact")
    group = django_filters.ModelChoiceFilter(
        field_name="assignment_group", queryset=Team.objects.order_by("name"), label="Group", empty_label="Any group"
    )
    assignee = django_filters.ModelChoiceFilter(
        queryset=User.objects.filter(is_active=True).order_by("username"), label="Assignee", empty_label="Anyone"
    )
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.order_by("name"), label="Service", empty_label="Any service"
    )
    ci = django_filters.CharFilter(method="filter_ci", label="CI (name)")
    created_after = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__gte",
        label="Created from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    created_before = django_filters.DateFilter(
        field_name="created_at",
        lookup_expr="date__lte",
        label="Created to",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    sort = django_filters.OrderingFilter(
        fields=(
            ("number", "number"),
            ("priority", "priority"),
            ("status", "status"),
            ("created_at", "created"),
            ("updated_at", "updated"),
            ("title", "title"),
            ("sla_due", "due"),
        ),
        label="Sort",
    )

    class Meta:
        model = Incident
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = getattr(self.request, "user", None)
        if user is not None:
            # Offer the people of the reader's groups (of every group if they have none):
            # listing every user makes the page heavy and helps no one.
            self.filters["assignee"].queryset = assignable_people(user)

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        number = parse_id(value.upper().removeprefix("INC-"))
        if number is not None:
            return queryset.filter(number=number)
        return queryset.filter(Q(title__icontains=value) | Q(description__icontains=value))

    def filter_ci(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        ci_ids = list(ConfigurationItem.objects.filter(name=value).values_list("pk", flat=True)[:1])
        # A subquery, not a join: no duplicate rows and nothing to de-duplicate.
        through = Incident.affected_cis.through
        return queryset.filter(pk__in=through.objects.filter(configurationitem_id__in=ci_ids).values("incident_id"))


def assignable_people(user):
    teams = getattr(user, "team_ids", None)
    members = User.objects.filter(is_active=True, teams__isnull=False)
    if teams:
        members = members.filter(teams__in=teams)
    return members.distinct().order_by("username")
