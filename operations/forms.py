"""Forms of the Operating pages. No status field: freezes move through transitions."""

import zoneinfo

from django import forms
from django.core.exceptions import ValidationError

from mof.models import ConfigurationItem, Service
from operations.schedule import WEEKDAYS

COMMON_ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
]


def _dt_widget():
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class FreezeForm(forms.Form):
    name = forms.CharField(max_length=150)
    start = forms.DateTimeField(widget=_dt_widget(), help_text="In the portal's time zone.")
    end = forms.DateTimeField(widget=_dt_widget())
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.order_by("name"), required=False, help_text="Leave empty for a freeze of everything."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", "The end must be after the start.")
        return data


class MaintenanceWindowForm(forms.Form):
    name = forms.CharField(max_length=150)
    service = forms.ModelChoiceField(queryset=Service.objects.order_by("name"), required=False)
    ci = forms.ModelChoiceField(
        queryset=ConfigurationItem.objects.order_by("name"),
        required=False,
        label="Configuration item",
        widget=forms.NumberInput(attrs={"placeholder": "CI id"}),
        help_text="The id of the CI (or name an IT service).",
    )
    weekdays = forms.TypedMultipleChoiceField(
        choices=[(d, name) for d, name in WEEKDAYS.items()], coerce=int, widget=forms.CheckboxSelectMultiple
    )
    start_time = forms.TimeField(
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        help_text="Local time in the window's time zone.",
    )
    duration_minutes = forms.IntegerField(min_value=1, max_value=7 * 24 * 60, label="Duration (minutes)")
    time_zone = forms.CharField(
        max_length=60,
        initial="UTC",
        help_text="An IANA time zone, e.g. Europe/London.",
        widget=forms.TextInput(attrs={"list": "time-zones"}),
    )

    def clean_time_zone(self):
        name = self.cleaned_data["time_zone"].strip()
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"Unknown time zone {name!r}: use an IANA name such as Europe/London.")
        return name

    def clean(self):
        data = super().clean()
        if not data.get("service") and not data.get("ci") and "service" not in self.errors and "ci" not in self.errors:
            self.add_error("service", "Name the IT service or the configuration item the window applies to.")
        return data


def add_model_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a service's ValidationError on the form's fields."""
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error.messages)
