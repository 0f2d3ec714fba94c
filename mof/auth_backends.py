"""Password sign-in for people only: service accounts act through API tokens, never
through the login page, the admin or a session (ModelBackend.get_user asks the same)."""
from django.contrib.auth.backends import ModelBackend


class PortalBackend(ModelBackend):
    def user_can_authenticate(self, user):
        return super().user_can_authenticate(user) and not getattr(user, "is_service_account", False)
