"""Input of incident and problem transitions, shared by pages and API."""

from django import forms

from incidents.choices import CancelReason, HoldReason, ResolutionCode
from mof.transition_forms import ReasonForm


class HoldForm(forms.Form):
    hold_reason = forms.ChoiceField(choices=HoldReason.choices)
    reason = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ResolveForm(forms.Form):
    resolution_code = forms.ChoiceField(choices=ResolutionCode.choices)
    resolution_notes = forms.CharField(max_length=20000, widget=forms.Textarea(attrs={"rows": 3}))


class CancelForm(forms.Form):
    cancel_reason = forms.ChoiceField(choices=CancelReason.choices)
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


__all__ = ["ReasonForm", "HoldForm", "ResolveForm", "CancelForm"]
