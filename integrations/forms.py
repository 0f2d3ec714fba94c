from django import forms

from integrations.choices import SUBSCRIBABLE, EventType


class SubscriptionForm(forms.Form):
    name = forms.CharField(max_length=120, help_text="Who receives it, e.g. “Chat-ops bridge” or “CMDB sync”.")
    url = forms.CharField(
        max_length=500,
        label="URL",
        widget=forms.URLInput(attrs={"placeholder": "https://tools.example.com/hooks/mof"}),
        help_text="http or https only, to a public address (internal ones only if an administrator allows them). Each request is signed with the subscription's secret.",
    )
    event_types = forms.MultipleChoiceField(
        choices=[(value, EventType(value).label) for value in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
        help_text="The events this URL is told about.",
    )

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("name", "url", "event_types")}
