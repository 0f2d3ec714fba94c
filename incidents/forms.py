"""Forms of the Supporting pages. State is never a form field: it moves by transitions
(incidents.forms_transitions holds their input). The forms validate shape; the services
decide (and their refusals come back as form errors through mof.forms.add_service_errors)."""

from __future__ import annotations

import json
import re

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from incidents.choices import Channel, NoteKind, Scale
from incidents.models import Incident, KnownError, Problem, SavedFilter
from mof import policy
from mof.models import ConfigurationItem, Service, Team, User
from mof.pagination import parse_id

REFERENCE = re.compile(r"^(?:[A-Za-z]+-)?(\d+)$")


def people():
    return User.objects.filter(is_active=True).order_by("username")


def person_label(user) -> str:
    return f"{user.get_full_name() or user.username} ({user.username})"


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return person_label(obj)


class CINamesField(forms.CharField):
    """Configuration items by name, comma-separated (a datalist helps): the CMDB is too
    large for a select. Cleans to a list of CIs the reader may see."""

    def __init__(self, *args, visible=None, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("help_text", "Names of configuration items, separated by commas.")
        super().__init__(*args, **kwargs)
        self.visible = visible if visible is not None else ConfigurationItem.objects.none()
        self.widget.attrs.setdefault("list", "ci-names")
        self.widget.attrs.setdefault("autocomplete", "off")

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)) or hasattr(value, "all"):
            items = value.all() if hasattr(value, "all") else value
            return ", ".join(ci.name if hasattr(ci, "name") else str(ci) for ci in items)
        return value

    def clean(self, value):
        value = super().clean(value)
        names = [n.strip() for n in (value or "").split(",") if n.strip()]
        if not names:
            return []
        found = {ci.name: ci for ci in self.visible.filter(name__in=names)}
        unknown = [n for n in names if n not in found]
        if unknown:
            raise ValidationError(f"No configuration item named {', '.join(unknown)}.")
        return [found[n] for n in dict.fromkeys(names)]


class ReferencesField(forms.CharField):
    """Records by reference (INC-12, CHG-7 or 12), comma-separated; cleans to a queryset list."""

    def __init__(self, *args, queryset=None, prefix="", **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)
        self.queryset = queryset
        self.prefix = prefix

    def prepare_value(self, value):
        if hasattr(value, "all"):
            return ", ".join(o.reference for o in value.all())
        if isinstance(value, (list, tuple)):
            return ", ".join(getattr(o, "reference", str(o)) for o in value)
        return value

    def clean(self, value):
        value = super().clean(value)
        numbers, bad = [], []
        for token in re.split(r"[,\s]+", value or ""):
            if not token:
                continue
            match = REFERENCE.match(token)
            (numbers.append(int(match.group(1))) if match else bad.append(token))
        if bad:
            raise ValidationError(f"Not a reference: {', '.join(bad)} (write e.g. {self.prefix}-12).")
        found = {o.number: o for o in self.queryset.filter(number__in=numbers)}
        missing = [n for n in numbers if n not in found]
        if missing:
            raise ValidationError(f"Unknown: {', '.join(f'{self.prefix}-{n}' for n in missing)}.")
        return [found[n] for n in dict.fromkeys(numbers)]


def _members_only(form, assignee_id: str):
    """Choosing the group offers its members only: htmx swaps the assignee list."""
    form.fields["assignment_group"].widget.attrs.update(
        {
            "hx-get": reverse("assignee_options"),
            "hx-trigger": "change",
            "hx-target": f"#{assignee_id}",
            "hx-swap": "outerHTML",
            "hx-vals": json.dumps({"field_id": assignee_id}),
        }
    )


def _check_member(form, group, assignee):
    if assignee is not None and group is None:
        form.add_error("assignment_group", "Choose the assignment group the assignee works in.")
    elif assignee is not None and not group.members.filter(pk=assignee.pk).exists():
        form.add_error("assignee", f"{person_label(assignee)} is not a member of {group}.")


class IncidentForm(forms.ModelForm):
    """The service desk's form: every field, the caller, the CIs and the known error."""

    caller = PersonChoiceField(queryset=people(), help_text="Who reports the fault.")
    assignee = PersonChoiceField(queryset=people(), required=False, help_text="A member of the assignment group.")
    known_error = forms.ModelChoiceField(
        queryset=KnownError.objects.filter(active=True), required=False, widget=forms.HiddenInput
    )

    class Meta:
        model = Incident
        fields = [
            "caller",
            "channel",
            "title",
            "description",
            "service",
            "impact",
            "urgency",
            "category",
            "assignment_group",
            "assignee",
            "known_error",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 5})}

    def __init__(self, *args, visible_cis=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["affected_cis"] = CINamesField(label="Affected configuration items", visible=visible_cis)
        self.order_fields(["caller", "channel", "title", "description", "service", "affected_cis"])
        if self.instance.pk:
            self.fields["affected_cis"].initial = self.instance.affected_cis.all()
            del self.fields["caller"]
        self.fields["service"].queryset = Service.objects.order_by("name")
        self.fields["assignment_group"].queryset = Team.objects.order_by("name")
        self.fields["assignment_group"].label = "Assignment group"
        _members_only(self, "id_assignee")
        group = self.instance.assignment_group if self.instance.assignment_group_id and not self.is_bound else None
        if group is not None:
            self.fields["assignee"].queryset = group.members.filter(is_active=True).order_by("username")
        if "channel" in self.fields:
            self.fields["channel"].initial = Channel.PHONE

    def clean(self):
        data = super().clean()
        _check_member(self, data.get("assignment_group"), data.get("assignee"))
        return data

    def service_fields(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("affected_cis", None)
        data.pop("caller", None)
        return data


class IncidentEditForm(IncidentForm):
    """Editing an incident; moving it to another group needs a reason (functional escalation)."""

    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Needed when the incident moves to another group: recorded in the history.",
    )

    def service_fields(self) -> dict:
        data = super().service_fields()
        data.pop("reason", None)
        return data


URGENCY_WORDS = [
    (Scale.HIGH, "I cannot work at all"),
    (Scale.MEDIUM, "I can work, but slowly or with a workaround"),
    (Scale.LOW, "It is an annoyance; it can wait"),
]


class SelfServiceForm(forms.Form):
    """Filing in plain words: what, which service, how much it hurts."""

    title = forms.CharField(max_length=200, label="What is wrong, in a few words?")
    description = forms.CharField(
        required=False,
        label="Tell us more",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What you were doing, what you saw (error messages), since when.",
    )
    service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("name"),
        required=False,
        label="Which service is it about?",
        empty_label="I don't know",
    )
    urgency = forms.TypedChoiceField(
        choices=URGENCY_WORDS,
        coerce=int,
        initial=Scale.MEDIUM,
        label="How much does it stop you?",
        widget=forms.RadioSelect,
    )


class NoteForm(forms.Form):
    kind = forms.ChoiceField(choices=NoteKind.choices, initial=NoteKind.COMMENT)
    body = forms.CharField(max_length=20000, widget=forms.Textarea(attrs={"rows": 3}), label="Text")

    def __init__(self, *args, user=None, incident=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not policy.can(user, "incident.work_note", incident):
            self.fields["kind"].choices = [(NoteKind.COMMENT, "Comment")]
            self.fields["kind"].widget = forms.HiddenInput()


class AssignForm(forms.Form):
    assignment_group = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), label="Assignment group")
    assignee = PersonChoiceField(
        queryset=people(),
        required=False,
        help_text="A member of the group (leave empty to put it in the group's queue).",
    )
    reason = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why it moves to another group (functional escalation): needed when it changes group.",
    )

    def __init__(self, *args, incident=None, **kwargs):
        super().__init__(*args, **kwargs)
        group = None
        if self.is_bound:
            group_id = parse_id(self.data.get("assignment_group"))
            group = Team.objects.filter(pk=group_id).first() if group_id is not None else None
        elif incident is not None:
            group = incident.assignment_group
            self.initial.setdefault("assignment_group", incident.assignment_group_id)
            self.initial.setdefault("assignee", incident.assignee_id)
        if group is not None and not self.is_bound:
            self.fields["assignee"].queryset = group.members.filter(is_active=True).order_by("username")
        _members_only(self, "assign-id_assignee")

    def clean(self):
        data = super().clean()
        _check_member(self, data.get("assignment_group"), data.get("assignee"))
        return data


class EscalateForm(forms.Form):
    reason = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), help_text="Why the group's manager must know."
    )


class DeclareMajorForm(forms.Form):
    major_incident_manager = PersonChoiceField(
        queryset=people().filter(is_manager=True), label="Major incident manager"
    )
    outage_start = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="When the service outage began (default: now).",
    )


class CommunicationForm(forms.Form):
    body = forms.CharField(max_length=20000, widget=forms.Textarea(attrs={"rows": 3}), label="Update")
    recipients = forms.CharField(max_length=4000, required=False, help_text="E-mail addresses, separated by commas.")

    def clean_recipients(self):
        return [a.strip() for a in re.split(r"[,;\s]+", self.cleaned_data.get("recipients") or "") if a.strip()]


class LinkChildForm(forms.Form):
    child = ReferencesField(label="Child incidents", prefix="INC", help_text="References, e.g. INC-12, INC-13.")

    def __init__(self, *args, queryset=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["child"].queryset = queryset if queryset is not None else Incident.objects.all()
        self.fields["child"].required = True


class BulkForm(forms.Form):
    ACTIONS = [("assign", "Assign"), ("set_priority", "Change priority"), ("resolve_duplicate", "Resolve as duplicate")]

    action = forms.ChoiceField(choices=ACTIONS)
    incidents = forms.TypedMultipleChoiceField(
        coerce=int, choices=(), error_messages={"required": "Tick at least one incident."}
    )
    assignment_group = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), required=False)
    assignee = PersonChoiceField(queryset=people(), required=False)
    reason = forms.CharField(required=False, max_length=2000)
    impact = forms.TypedChoiceField(
        choices=[("", "—")] + list(Scale.choices), coerce=int, required=False, empty_value=None
    )
    urgency = forms.TypedChoiceField(
        choices=[("", "—")] + list(Scale.choices), coerce=int, required=False, empty_value=None
    )
    duplicate_of = ReferencesField(required=False, prefix="INC", label="Duplicate of", queryset=Incident.objects.all())

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        if user is not None and not self.is_bound:
            from incidents.filtersets import assignable_people

            self.fields["assignee"].queryset = assignable_people(user)  # shown: the reader's groups
        ids = self.data.getlist("incidents") if hasattr(self.data, "getlist") else []
        self.fields["incidents"].choices = [(i, i) for i in ids if parse_id(i) is not None]

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action == "assign" and not data.get("assignment_group"):
            self.add_error("assignment_group", "Choose the group to assign to.")
        if action == "set_priority" and (data.get("impact") is None or data.get("urgency") is None):
            self.add_error("impact", "Choose the impact and the urgency.")
        if action == "resolve_duplicate":
            masters = data.get("duplicate_of") or []
            if len(masters) != 1:
                self.add_error("duplicate_of", "Name the one incident these duplicate.")
        if action == "assign":
            _check_member(self, data.get("assignment_group"), data.get("assignee"))
        return data

    def params(self) -> dict:
        data = self.cleaned_data
        return {
            "assignment_group": data.get("assignment_group"),
            "assignee": data.get("assignee"),
            "reason": data.get("reason") or "",
            "impact": data.get("impact"),
            "urgency": data.get("urgency"),
            "duplicate_of": (data.get("duplicate_of") or [None])[0],
        }


class SavedFilterForm(forms.ModelForm):
    class Meta:
        model = SavedFilter
        fields = ["name", "querystring"]
        widgets = {"querystring": forms.HiddenInput}


class ProblemForm(forms.ModelForm):
    problem_manager = PersonChoiceField(queryset=people(), required=False, help_text="Default: you.")

    class Meta:
        model = Problem
        fields = ["title", "description", "problem_manager", "services", "rca_notes", "root_cause", "workaround"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "rca_notes": forms.Textarea(attrs={"rows": 5}),
            "root_cause": forms.Textarea(attrs={"rows": 3}),
            "workaround": forms.Textarea(attrs={"rows": 3}),
            "services": forms.SelectMultiple(attrs={"size": 6}),
        }

    def __init__(self, *args, visible_cis=None, incidents=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = Service.objects.order_by("name")
        self.fields["services"].required = False
        self.fields["affected_cis"] = CINamesField(label="Affected configuration items", visible=visible_cis)
        self.fields["incidents"] = ReferencesField(
            label="Incidents it explains",
            prefix="INC",
            queryset=incidents if incidents is not None else Incident.objects.all(),
            help_text="References, e.g. INC-12, INC-40.",
        )
        change_model = Problem._meta.get_field("fixing_changes").related_model
        self.fields["fixing_changes"] = ReferencesField(
            label="Fixing changes",
            prefix="CHG",
            queryset=change_model.objects.all(),
            help_text="Requests for change that fix it, e.g. CHG-7.",
        )
        if self.instance.pk:
            self.fields["affected_cis"].initial = self.instance.affected_cis.all()
            self.fields["incidents"].initial = self.instance.incidents.all()
            self.fields["fixing_changes"].initial = self.instance.fixing_changes.all()

    def service_fields(self) -> dict:
        return dict(self.cleaned_data)


class PriorityMatrixForm(forms.Form):
    """The 3 x 3 priority matrix: one P1..P5 per impact x urgency."""

    def __init__(self, *args, matrix: dict, **kwargs):
        super().__init__(*args, **kwargs)
        for impact, _ in Scale.choices:
            for urgency, _ in Scale.choices:
                self.fields[f"p_{impact}_{urgency}"] = forms.TypedChoiceField(
                    choices=[(p, f"P{p}") for p in range(1, 6)],
                    coerce=int,
                    initial=matrix[(impact, urgency)],
                    label=f"Impact {impact} × urgency {urgency}",
                )

    def cells(self) -> dict:
        return {(int(k.split("_")[1]), int(k.split("_")[2])): v for k, v in self.cleaned_data.items()}
