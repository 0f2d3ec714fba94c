"""Forms of the pages. State is never a form field: it moves only by transitions."""

from __future__ import annotations

from contextlib import contextmanager

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from mof.choices import RelationshipType
from mof.models import ConfigurationItem, Service, User
from mof.pagination import parse_id
from mof.safe_json import SafeDecoder


class ReasonForm(forms.Form):
    """Input of a transition that must say why."""

    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why: recorded in the history.",
    )


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Show a ValidationError raised by a service on the form: on its field where the form
    has one, otherwise at the top of the form."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            target = field if field in form.fields else None
            for e in errors:
                messages = e.messages
                for message in messages:
                    text = message if target or field == NON_FIELD_ERRORS else f"{field}: {message}"
                    form.add_error(target, text)
    else:
        for message in error.messages:
            form.add_error(None, message)


def _people():
    return User.objects.filter(is_active=True).order_by("username")


class CIForm(forms.ModelForm):
    attributes = forms.JSONField(
        required=False,
        decoder=SafeDecoder,  # NaN, 1e309 or deep nesting: "Enter a valid JSON", not a 500
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono", "spellcheck": "false"}),
        help_text='A JSON object of names and values, e.g. {"ip": "10.0.0.1", "firmware": "15.2"}.',
    )

    class Meta:
        model = ConfigurationItem
        fields = ["name", "ci_class", "owner", "environment", "services", "attributes", "description"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "services": forms.SelectMultiple(attrs={"size": 6}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _people()
        self.fields["owner"].label_from_instance = lambda u: f"{u.get_full_name() or u.username} ({u.username})"
        self.fields["services"].queryset = Service.objects.order_by("name")
        self.fields["services"].required = False
        self.fields["services"].help_text = "The IT services this item helps deliver (Ctrl or ⌘ to choose several)."

    def clean_attributes(self):
        value = self.cleaned_data.get("attributes")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise ValidationError('Attributes must be a JSON object of names and values, e.g. {"ip": "10.0.0.1"}.')
        return value

    def service_fields(self) -> dict:
        data = {
            name: self.cleaned_data[name]
            for name in ("name", "ci_class", "owner", "environment", "attributes", "description")
        }
        return data


class ServiceForm(forms.ModelForm):
    class Meta:
        model = Service
        fields = ["name", "owner", "criticality", "hours_of_service", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = _people()
        self.fields["owner"].label_from_instance = lambda u: f"{u.get_full_name() or u.username} ({u.username})"

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class RelationshipForm(forms.Form):
    """'<this CI> <type> <target>': the target is named by its name or its id."""

    type = forms.ChoiceField(choices=RelationshipType.choices, initial=RelationshipType.DEPENDS_ON)
    target = forms.CharField(
        max_length=150,
        label="Target CI",
        widget=forms.TextInput(attrs={"list": "ci-names", "placeholder": "name or id", "autocomplete": "off"}),
    )

    def __init__(self, *args, source: ConfigurationItem, visible, **kwargs):
        super().__init__(*args, **kwargs)
        self.source = source
        self.visible = visible

    def clean_target(self):
        value = self.cleaned_data["target"].strip()
        target = self.visible.filter(name=value).first()
        if target is None and parse_id(value) is not None:
            target = self.visible.filter(pk=parse_id(value)).first()
        if target is None:
            raise ValidationError("No configuration item with this name or id.")
        if target.pk == self.source.pk:
            raise ValidationError("A CI cannot depend on itself.")
        return target


class AttachmentForm(forms.Form):
    """A file for a ticket (mof.attachments checks it); `internal` only for IT staff."""

    file = forms.FileField(label="File", allow_empty_file=True)  # an empty file gets the service's own message
    internal = forms.BooleanField(label="Internal: never shown to the caller", required=False)

    def __init__(self, *args, may_mark_internal=False, **kwargs):
        super().__init__(*args, **kwargs)
        if not may_mark_internal:
            del self.fields["internal"]


class _Failed(Exception):
    """A write was refused with a message the form shows; carries the HTTP status."""

    def __init__(self, status):
        self.status = status


@contextmanager
def service_errors(form):
    """Run a service call for `form`: its refusals become form errors and a 400 (409 when
    the state moved under us), never a 500. Refused (policy) stays a 403."""
    from mof.transitions import (
        ConcurrentTransition,
        TransitionBlocked,
        TransitionNotAllowed,
    )

    try:
        yield
    except ValidationError as exc:
        add_service_errors(form, exc)
        raise _Failed(400) from exc
    except TransitionBlocked as exc:
        for field, errors in (exc.field_errors or {}).items():
            for message in errors:
                form.add_error(field if field in form.fields else None, message)
        if not exc.field_errors:
            for reason in exc.reasons:
                form.add_error(None, reason)
        raise _Failed(400) from exc
    except (TransitionNotAllowed, ConcurrentTransition) as exc:
        form.add_error(
            None,
            "This is not possible in the current state: someone may have changed it first. The page now shows the current state.",
        )
        raise _Failed(409) from exc


def attempt(form, call):
    """(result, None) after success, (None, status) after a refusal shown on the form."""
    try:
        with service_errors(form):
            return call(), None
    except _Failed as failed:
        return None, failed.status
