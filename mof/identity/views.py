"""The sign-in page (local password, and single sign-on when configured) and password reset by
mail with Django's own views, for local accounts only."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm
from django.urls import reverse_lazy

from mof.forms_accounts import LockoutAuthenticationForm
from mof.identity import local, oidc


class PortalLoginView(auth_views.LoginView):
    redirect_authenticated_user = True
    authentication_form = LockoutAuthenticationForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            {
                "sso": oidc.enabled(),
                "sso_name": getattr(settings, "MOF_OIDC_PROVIDER_NAME", ""),
                "sso_failed": self.request.GET.get("sso") == "failed",
                "break_glass": local.mode() == local.BREAK_GLASS,
            }
        )
        return context


class LocalPasswordResetForm(PasswordResetForm):
    """Only people who sign in with a local password get a reset link: not service accounts,
    not the portal's own account, not people of the directory or the identity provider (no
    usable password), and with MOF_LOCAL_LOGIN=break-glass only break-glass administrators."""

    def get_users(self, email):
        for user in super().get_users(email):
            if not (user.is_service_account or user.is_system) and local.password_allowed(user):
                yield user


class PasswordResetView(auth_views.PasswordResetView):
    form_class = LocalPasswordResetForm
    success_url = reverse_lazy("password_reset_done")
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        self.extra_email_context = {"base_url": settings.MOF_BASE_URL.rstrip("/")}
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    pass


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    success_url = reverse_lazy("password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    pass
