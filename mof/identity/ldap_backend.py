"""Sign-in against Active Directory (or any LDAP directory) with django-auth-ldap: a service
bind finds the person by sAMAccountName or userPrincipalName (disabled accounts excluded by
the search filter), their password is checked by binding as them, the profile is copied and
their nested groups are mapped onto the Team Model (mof.identity.services)."""

from __future__ import annotations

from django.conf import settings
from django_auth_ldap.backend import LDAPBackend

from mof import audit
from mof.identity import services
from mof.identity.models import Source


def _first(attrs, name: str) -> str:
    values = (attrs or {}).get(name) or (attrs or {}).get(name.lower()) or []
    return str(values[0]) if values else ""


class DirectoryBackend(LDAPBackend):
    def get_or_build_user(self, username, ldap_user):
        # One portal account per directory account, whichever name was typed.
        name = _first(ldap_user.attrs, settings.MOF_LDAP_USERNAME_ATTR) or username
        return super().get_or_build_user(name.lower(), ldap_user)

    def authenticate_ldap_user(self, ldap_user, password):
        with audit.acting_as(None, via=services.via(Source.LDAP), reason="Signed in with the directory"):
            user = super().authenticate_ldap_user(ldap_user, password)
        return self._finish(user, ldap_user, Source.LDAP)

    def populate_user(self, username):
        """The sync: create or update the person from the directory, without their password."""
        with audit.acting_as(None, via=services.via(Source.SYNC), reason="Directory sync"):
            user = super().populate_user(username)
        return self._finish(user, getattr(user, "ldap_user", None), Source.SYNC)

    def get_user(self, user_id):
        # A session of someone deactivated since (by the sync or an administrator) ends.
        user = super().get_user(user_id)
        if user is None or not user.is_active or user.is_service_account or user.is_system:
            return None
        return user

    def _finish(self, user, ldap_user, source):
        if user is None or ldap_user is None:
            return None
        if user.is_service_account or user.is_system:
            return None  # the directory never speaks for the portal's own accounts
        attrs = ldap_user.attrs
        groups = sorted(ldap_user.group_dns)
        services.update_profile(
            user,
            source=source,
            external_id=ldap_user.dn or "",
            department=_first(attrs, "department"),
            phone=_first(attrs, "telephoneNumber"),
            manager_dn=_first(attrs, "manager"),
            groups=groups,
        )
        services.reactivate_if_directory_deactivated(user, source=source)
        if not user.is_active:
            return None  # deactivated in the portal by an administrator
        services.apply_directory_groups(user, groups, source)
        user.forget_cached_memberships()
        return user
