"""Forms of the Changing pages. No state field: state moves only by transitions.

A form checks the shape of the input (a number on its scale, an end after its start, a
CI that exists and that the reader may see); the service decides everything else, and
its ValidationError is shown on the form (mof.forms.add_service_errors).
"""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from changes import services
from changes.choices import ChangeStatus, ChangeType, TemplateStatus
from changes.models import ReleaseArtifact, StandardChangeTemplate
from mof.models import RiskAssessment, User
from mof.pagination import parse_id

DATALIST_SIZE = 200


def _person_label(user) -> str:
    return f"{user.get_full_name() or user.username} ({user.username})"


def people(*keep_ids):
    """Active people, plus whoever is already named (so an edit never drops them silently)."""
    keep = [pk for pk in keep_ids if pk]
    return User.objects.filter(Q(is_active=True) | Q(pk__in=keep)).order_by("username")


class PersonField(forms.ModelChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(queryset=User.objects.none(), **kwargs)

    def label_from_instance(self, obj):
        return _person_label(obj)


class NamedObjectsField(forms.CharField):
    """Several objects named in one text box, separated by commas or lines, each resolved
    among `queryset` (what the reader may see): an unknown or invisible name is an error
    naming it, never silently dropped. `parse(token)` returns a Q that finds the token."""

    widget = forms.TextInput

    def __init__(self, *, noun: str, parse, display=str, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.noun, self.parse, self.display = noun, parse, display
        self.queryset = None

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)) or hasattr(value, "model"):
            return ", ".join(self.display(obj) for obj in value)
        return value

    def to_python(self, value):
        text = super().to_python(value)
        if len(text or "") > 20000:
            raise ValidationError("This list is too long.")
        tokens = list(dict.fromkeys(t.strip() for t in re.split(r"[,\n]", text or "") if t.strip()))
        if not tokens:
            return []
        if len(tokens) > 100:
            raise ValidationError(f"Name at most 100 {self.noun}s.")
        found, missing = [], []
        for token in tokens:
            condition = self.parse(token)
            match = self.queryset.filter(condition).first() if condition is not None else None
            if match is None:
                missing.append(token)
            elif match not in found:
                found.append(match)
        if missing:
            raise ValidationError(
                f"No {self.noun} named {', '.join(repr(m) for m in missing)} (or you may not see it).",
                code="invalid_choice",
            )
        return found

    def validate(self, value):
        if self.required and not value:
            raise ValidationError(self.error_messages["required"], code="required")

    def run_validators(self, value):
        pass  # the text's length was checked by to_python's CharField


def _ci_token(token):
    pk = parse_id(token)
    return Q(name=token) | Q(pk=pk) if pk is not None else Q(name=token)


def _change_token(token):
    number = token.upper().removeprefix("CHG-").removeprefix("CHG").strip()
    number = parse_id(number)
    return Q(number=number) if number is not None else None


def ci_names_field(**kwargs):
    return NamedObjectsField(noun="configuration item", parse=_ci_token, display=lambda ci: ci.name, **kwargs)


def _datetime_widget():
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _text(rows=3, **kwargs):
    return forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": rows}), max_length=20000, **kwargs)


def _end_after_start(form, data):
    start, end = data.get("planned_start"), data.get("planned_end")
    if start and end and end <= start:
        form.add_error("planned_end", "The end must be after the start.")
    elif bool(start) != bool(end) and "planned_start" not in form.errors and "planned_end" not in form.errors:
        form.add_error(
            "planned_end" if start else "planned_start", "Give both the planned start and the planned end, or neither."
        )


# --- requests for change ----------------------------------------------------------------

CHANGE_FORM_ORDER = [
    "title",
    "type",
    "template",
    "description",
    "business_justification",
    "change_manager",
    "developer",
    "tester",
    "implementer",
    "affected_cis",
    "cost_estimate",
    "expected_benefit_value",
    "expected_benefit",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "planned_start",
    "planned_end",
    "test_results",
    "test_environment",
    "pir_notes",
]
PLAN_FIELDS = ("implementation_plan", "backout_plan", "test_plan")
BEFORE_APPROVAL = (ChangeStatus.DRAFT, ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED)


class ChangeForm(forms.Form):
    """Filing (normal, emergency, or standard from a template) and editing an RFC.

    Which fields appear follows the service: on filing, the request; from a template, the
    template's plans are kept; on editing, what changes.services allows in the state."""

    title = forms.CharField(max_length=200)
    type = forms.ChoiceField(
        choices=[
            (ChangeType.NORMAL, "Normal"),
            (ChangeType.EMERGENCY, "Emergency"),
            (ChangeType.STANDARD, "Standard (from a template)"),
        ],
        initial=ChangeType.NORMAL,
        help_text="Normal changes are assessed and approved by the change manager or the CAB; emergency ones by the emergency CAB; standard ones come from a pre-approved template.",
    )
    template = forms.ModelChoiceField(
        queryset=StandardChangeTemplate.objects.none(),
        required=False,
        label="Standard-change template",
        help_text="Only for a standard change: one of the approved templates of the catalogue.",
    )
    description = _text(4)
    business_justification = _text(3, help_text="Why the business needs it: weighed at the Release Approved Review.")
    change_manager = PersonField(
        help_text="Coordinates the change; may approve a low-risk change alone if so configured."
    )
    developer = PersonField(help_text="Builds the change.")
    tester = PersonField(help_text="Tests it: never the developer nor on the developer's team.")
    implementer = PersonField(help_text="Deploys it to production.")
    affected_cis = ci_names_field(
        label="Affected configuration items",
        help_text="Names (or ids) of the CIs the change touches, separated by commas: impact analysis starts from them.",
        widget=forms.TextInput(
            attrs={"list": "ci-names", "autocomplete": "off", "placeholder": "core-router, hub-transport"}
        ),
    )
    cost_estimate = forms.DecimalField(max_digits=12, decimal_places=2, min_value=0, required=False)
    expected_benefit_value = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        required=False,
        label="Expected benefit (value)",
        help_text="The benefit in money, to weigh against the cost.",
    )
    expected_benefit = _text(2, label="Expected benefit")
    implementation_plan = _text(4)
    backout_plan = _text(3, label="Back-out plan")
    test_plan = _text(3)
    planned_start = forms.DateTimeField(required=False, widget=_datetime_widget())
    planned_end = forms.DateTimeField(required=False, widget=_datetime_widget())
    test_results = _text(4, help_text="What was tested and what was found.")
    test_environment = ci_names_field(
        label="Test environment",
        help_text="CIs of the test lab, mirroring the affected production CIs, in which the tests ran.",
        widget=forms.TextInput(attrs={"list": "ci-names", "autocomplete": "off", "placeholder": "lab-router"}),
    )
    pir_notes = _text(3, label="Post-implementation review notes")

    def __init__(self, *args, user, visible_cis, change=None, template=None, **kwargs):
        self.change, self.from_template = change, template
        if change is not None and "initial" not in kwargs:
            kwargs["initial"] = self.initial_from(change, visible_cis)
        elif template is not None and "initial" not in kwargs:
            kwargs["initial"] = {"title": template.name, "description": template.description}
        super().__init__(*args, **kwargs)
        wanted = self.field_names(change, template)
        for name in list(self.fields):
            if name not in wanted:
                del self.fields[name]
        self.order_fields(CHANGE_FORM_ORDER)
        current = (
            [getattr(change, f"{p}_id", None) for p in ("change_manager", "developer", "tester", "implementer")]
            if change
            else []
        )
        for name in ("change_manager", "developer", "tester", "implementer"):
            if name in self.fields:
                self.fields[name].queryset = people(*current)
        for name in ("affected_cis", "test_environment"):
            if name in self.fields:
                self.fields[name].queryset = visible_cis
        if "template" in self.fields:
            self.fields["template"].queryset = StandardChangeTemplate.objects.filter(
                status=TemplateStatus.APPROVED
            ).order_by("name")

    @staticmethod
    def field_names(change, template) -> list[str]:
        if change is None:
            names = [n for n in CHANGE_FORM_ORDER if n not in ("test_results", "test_environment", "pir_notes")]
            if template is not None:
                names = [n for n in names if n not in ("type", "template", *PLAN_FIELDS)]
            return names
        if change.status in BEFORE_APPROVAL:
            names = [*services.CHANGE_FIELDS, "affected_cis", "test_environment"]
            if change.status != ChangeStatus.DRAFT or change.type == ChangeType.STANDARD:
                names.remove("type")  # the type is chosen while drafting; a standard one stays standard
        else:
            names = [*services.FIELDS_AFTER_APPROVAL, "test_environment"]
        return [n for n in CHANGE_FORM_ORDER if n in names]

    @staticmethod
    def initial_from(change, visible_cis) -> dict:
        initial = {
            name: getattr(change, name)
            for name in services.CHANGE_FIELDS
            if name not in ("change_manager", "developer", "tester", "implementer")
        }
        for name in ("change_manager", "developer", "tester", "implementer"):
            initial[name] = getattr(change, f"{name}_id")
        initial["affected_cis"] = list(visible_cis.filter(changes=change).order_by("name"))
        initial["test_environment"] = list(visible_cis.filter(test_changes=change).order_by("name"))
        return initial

    def clean(self):
        data = super().clean()
        _end_after_start(self, data)
        return data

    def service_fields(self) -> dict:
        """What to hand to change_create / change_update: the fields this form shows."""
        data = {name: self.cleaned_data[name] for name in self.fields if name in self.cleaned_data}
        if self.change is not None:
            data.pop("template", None)
        elif data.get("template") is None:
            data.pop("template", None)
        return data


class AssessForm(forms.Form):
    """The Risk Model's two scales; the score and level follow from them."""

    probability = forms.TypedChoiceField(
        coerce=int,
        choices=[("", "Choose…")] + [(v, f"{v} · {label}") for v, label in RiskAssessment.Probability.choices],
        help_text="How likely the change is to fail (1 rare – 5 almost certain).",
    )
    impact = forms.TypedChoiceField(
        coerce=int,
        choices=[("", "Choose…")] + [(v, f"{v} · {label}") for v, label in RiskAssessment.Impact.choices],
        help_text="How bad a failure would be (1 negligible – 5 severe).",
    )
    notes = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "assess-%s")
        super().__init__(*args, **kwargs)


class CommentForm(forms.Form):
    body = forms.CharField(label="Comment", max_length=10000, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "comment-%s")
        super().__init__(*args, **kwargs)


class TestEvidenceForm(forms.Form):
    """What the tests found and in which lab: passing the tests needs both."""

    test_results = forms.CharField(
        max_length=20000, widget=forms.Textarea(attrs={"rows": 4}), help_text="What was tested and what was found."
    )
    test_environment = ci_names_field(
        required=True,
        label="Test environment",
        help_text="CIs of the test lab that mirror the affected production CIs.",
        widget=forms.TextInput(attrs={"list": "ci-names", "autocomplete": "off"}),
    )

    def __init__(self, *args, visible_cis, **kwargs):
        kwargs.setdefault("auto_id", "evidence-%s")
        super().__init__(*args, **kwargs)
        self.fields["test_environment"].queryset = visible_cis


# --- standard-change templates ----------------------------------------------------------


class TemplateForm(forms.ModelForm):
    class Meta:
        model = StandardChangeTemplate
        fields = list(services.TEMPLATE_FIELDS)
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "implementation_plan": forms.Textarea(attrs={"rows": 4}),
            "backout_plan": forms.Textarea(attrs={"rows": 3}),
            "test_plan": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {
            "risk_probability": "Probability of failure",
            "risk_impact": "Impact of failure",
            "backout_plan": "Back-out plan",
        }

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in services.TEMPLATE_FIELDS}


# --- releases -----------------------------------------------------------------------------


class ReleaseForm(forms.Form):
    name = forms.CharField(max_length=150)
    description = _text(3)
    planned_start = forms.DateTimeField(required=False, widget=_datetime_widget())
    planned_end = forms.DateTimeField(required=False, widget=_datetime_widget())
    changes = NamedObjectsField(
        noun="request for change",
        parse=_change_token,
        display=lambda c: c.reference,
        label="Requests for change",
        help_text="The changes the release bundles, by number, separated by commas (CHG-12, CHG-15).",
        widget=forms.TextInput(attrs={"list": "change-refs", "autocomplete": "off", "placeholder": "CHG-12, CHG-15"}),
    )

    def __init__(self, *args, visible_changes, release=None, **kwargs):
        if release is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": release.name,
                "description": release.description,
                "planned_start": release.planned_start,
                "planned_end": release.planned_end,
                "changes": list(visible_changes.filter(releases=release).order_by("number")),
            }
        super().__init__(*args, **kwargs)
        self.fields["changes"].queryset = visible_changes

    def clean(self):
        data = super().clean()
        _end_after_start(self, data)
        return data

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in services.RELEASE_FIELDS}


class ArtifactForm(forms.ModelForm):
    """A master copy in the definitive software library."""

    class Meta:
        model = ReleaseArtifact
        fields = ["name", "version", "checksum", "location"]
        help_texts = {
            "location": "Where the master copy is kept in the definitive software library, e.g. dsl://exchange/sp3/setup.exe."
        }

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "artifact-%s")
        super().__init__(*args, **kwargs)

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}
