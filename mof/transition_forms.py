"""Input forms of transitions, shared by pages and the API (kept apart from the page
forms so that workflows can import them without importing the models)."""

from django import forms


class ReasonForm(forms.Form):
    """Input of a transition that must say why."""

    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why: recorded in the history.",
    )


class DecisionNoteForm(forms.Form):
    """Input of a decision whose note is optional (a capacity warning turned into an RFC)."""

    note = forms.CharField(max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
