"""Password sign-in for people only: service accounts act through API tokens, never
through the login page, the admin or a session (ModelBackend.get_user asks the same).
With MOF_LOCAL_LOGIN=break-glass only break-glass administrators sign in with a local
password (mof.identity.local); everyone else uses the directory or single sign-on."""

from django.contrib.auth.backends import ModelBackend


class PortalBackend(ModelBackend):
    def user_can_authenticate(self, user):
        from mof.identity import local

        return (
            super().user_can_authenticate(user)
            and not getattr(user, "is_service_account", False)
            and local.password_allowed(user)
        )
