"""Input of change and release transitions, validated the same way for pages and API."""

from django import forms

from changes.choices import Outcome
from mof.transition_forms import ReasonForm


class ScheduleForm(forms.Form):
    planned_start = forms.DateTimeField()
    planned_end = forms.DateTimeField()

    def clean(self):
        data = super().clean()
        start, end = data.get("planned_start"), data.get("planned_end")
        if start and end and end <= start:
            self.add_error("planned_end", "The end must be after the start.")
        return data


class TestResultForm(forms.Form):
    test_results = forms.CharField(
        max_length=20000, widget=forms.Textarea(attrs={"rows": 4}), help_text="What was tested and what was found."
    )


class CompleteForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[
            (Outcome.SUCCESSFUL, Outcome.SUCCESSFUL.label),
            (Outcome.SUCCESSFUL_WITH_ISSUES, Outcome.SUCCESSFUL_WITH_ISSUES.label),
        ]
    )
    reason = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Notes on the implementation.",
    )


__all__ = ["ReasonForm", "ScheduleForm", "TestResultForm", "CompleteForm"]
