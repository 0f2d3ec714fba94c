from django import forms

from mof.choices import ReviewKind
from mof.models import User


class MeetingForm(forms.Form):
    kind = forms.ChoiceField(choices=ReviewKind.choices, initial=ReviewKind.RELEASE_APPROVED)
    title = forms.CharField(max_length=200, required=False, help_text="Optional; the kind and date name it otherwise.")
    scheduled_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    duration_minutes = forms.IntegerField(min_value=5, max_value=600, initial=60)
    location = forms.CharField(max_length=200, required=False)
    attendees = forms.ModelMultipleChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
    )
    quorum = forms.IntegerField(min_value=1, required=False, help_text="Votes needed; 3 by default.")
    quorum_role_clusters = forms.IntegerField(
        min_value=0, required=False, help_text="Distinct role clusters among the voters; 2 by default."
    )


class AgendaAddForm(forms.Form):
    subject = forms.CharField(
        max_length=40, help_text="CHG-12, REL-3 or STD-4", widget=forms.TextInput(attrs={"placeholder": "CHG-12"})
    )


class DecisionForm(forms.Form):
    decision = forms.CharField(max_length=30)
    reason = forms.CharField(max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class HealthPeriodForm(forms.Form):
    """The period an Operations Review's health report covers, stated by the chair."""

    start = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    end = forms.DateTimeField(widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
