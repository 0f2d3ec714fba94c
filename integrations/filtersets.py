"""Filters of the delivery log, shared by its page and its API endpoint."""

import django_filters
from django import forms

from integrations.choices import DeliveryStatus, EventType
from integrations.models import WebhookDelivery, WebhookSubscription


class DeliveryFilterSet(django_filters.FilterSet):
    subscription = django_filters.ModelChoiceFilter(
        queryset=WebhookSubscription.objects.order_by("name"), empty_label="Any subscription"
    )
    status = django_filters.ChoiceFilter(choices=DeliveryStatus.choices, empty_label="Any status")
    event_type = django_filters.ChoiceFilter(
        field_name="event__event_type", choices=EventType.choices, label="Event type", empty_label="Any event type"
    )
    created_after = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    created_before = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    class Meta:
        model = WebhookDelivery
        fields = []
