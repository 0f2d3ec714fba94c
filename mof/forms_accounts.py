"""Forms of Security administration: the sign-in forms that honour login lockout, and
the forms of service accounts and API tokens."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from mof import lockout
from mof.choices import RoleCluster
from mof.models_access import TokenScope
from mof.tokens import DEFAULT_SERVICE_ACCOUNT_ROLES, MAX_GRACE_MINUTES


class LockoutMixin:
    """Refuse before the password is checked while this username must wait from this
    address (mof.lockout): a right password changes nothing, and the message is the same
    for every name."""

    via = "web"

    def clean(self):
        username = self.cleaned_data.get("username")
        if username is not None and self.cleaned_data.get("password"):
            try:
                lockout.ensure_not_locked(username=username, address=lockout.client_address(self.request), via=self.via)
            except lockout.LockedOut as exc:
                raise ValidationError(str(exc), code="locked_out") from None
        return super().clean()


class LockoutAuthenticationForm(LockoutMixin, AuthenticationForm):
    pass


class LockoutAdminAuthenticationForm(LockoutMixin, AdminAuthenticationForm):
    via = "admin"


class ServiceAccountForm(forms.Form):
    username = forms.CharField(max_length=150, help_text="E.g. svc-nagios. Letters, digits and @/./+/-/_ only.")
    first_name = forms.CharField(
        max_length=150, required=False, label="Display name", help_text="What it is, e.g. “Nagios monitoring”."
    )
    email = forms.EmailField(
        required=False, label="Contact e-mail", help_text="Who to tell when its tokens expire or misbehave."
    )
    roles = forms.MultipleChoiceField(
        choices=RoleCluster.choices,
        initial=list(DEFAULT_SERVICE_ACCOUNT_ROLES),
        widget=forms.CheckboxSelectMultiple,
        help_text="It may do exactly what a person of these role clusters may: Partner for outside tools, Operations for monitoring.",
    )
    is_active = forms.BooleanField(
        required=False, initial=True, label="Active", help_text="A deactivated account's tokens are all refused."
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if editing:  # the username is how its logs and trail know it
            self.fields["username"].disabled = True

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("username", "first_name", "email", "roles", "is_active")}


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. “Nagios on mon01”.")
    scope = forms.ChoiceField(choices=TokenScope.choices, initial=TokenScope.READ_WRITE)
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="Leave empty for a token that lasts until it is revoked.",
    )


class RotateForm(forms.Form):
    grace_minutes = forms.IntegerField(
        min_value=0,
        max_value=MAX_GRACE_MINUTES,
        initial=0,
        label="Keep the old token for (minutes)",
        help_text="0 revokes it at once; a grace period lets every agent switch to the new key first.",
    )
