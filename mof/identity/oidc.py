"""Single sign-on with OpenID Connect (Microsoft Entra ID, ADFS, Keycloak...) through
mozilla-django-oidc: the authorization code flow (with PKCE), the ID token checked against
the provider's keys, claims mapped to the portal's user, the groups claim mapped onto the
Team Model like directory groups, and signing out at the provider too."""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib.auth.views import LogoutView
from django.http import Http404
from django.urls import reverse
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import absolutify, import_from_settings
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from mof import audit
from mof.identity import services
from mof.identity.config import ENDPOINTS
from mof.identity.models import Source
from mof.models import User

log = logging.getLogger("mof.identity")

DISCOVERY_TTL = 3600
_discovery: dict[str, tuple[float, dict]] = {}
_lock = threading.Lock()


def discovered(key: str) -> str:
    """A value of the provider's discovery document (fetched once an hour)."""
    url = getattr(settings, "MOF_OIDC_DISCOVERY", "")
    if not url:
        return ""
    with _lock:
        cached = _discovery.get(url)
        if cached is None or time.monotonic() - cached[0] > DISCOVERY_TTL:
            response = requests.get(url, timeout=getattr(settings, "OIDC_TIMEOUT", 10))
            response.raise_for_status()
            cached = (time.monotonic(), response.json())
            _discovery[url] = cached
    return cached[1].get(key) or ""


def oidc_setting(attr, *args):
    if attr in ENDPOINTS:
        value = getattr(settings, attr, "") or discovered(ENDPOINTS[attr])
        if value:
            return value
    return import_from_settings(attr, *args)


def enabled() -> bool:
    return bool(getattr(settings, "MOF_OIDC_ENABLED", False))


class PortalOIDCBackend(OIDCAuthenticationBackend):
    get_settings = staticmethod(oidc_setting)

    def _username(self, claims) -> str:
        return str(claims.get(settings.MOF_OIDC_USERNAME_CLAIM) or "").strip().lower()[:150]

    def get_userinfo(self, access_token, id_token, payload):
        # The ID token's claims (Entra ID puts groups there), then the user info endpoint's;
        # kept for get_or_create_user.
        self._claims = {**payload, **super().get_userinfo(access_token, id_token, payload)}
        return self._claims

    def verify_claims(self, claims):
        return bool(claims.get("sub") and self._username(claims))

    def filter_users_by_claims(self, claims):
        people = User.objects.filter(is_service_account=False, is_system=False)
        by_subject = people.filter(directory_profile__source=Source.OIDC, directory_profile__external_id=claims["sub"])
        if by_subject.exists():
            return by_subject
        return people.filter(username__iexact=self._username(claims))

    def create_user(self, claims):
        with audit.acting_as(None, via=services.via(Source.OIDC), reason="Signed in with single sign-on"):
            user = User(username=self._username(claims))
            self._copy(user, claims)
            user.set_unusable_password()  # the provider holds the password
            user.save()
        return user

    def update_user(self, user, claims):
        with audit.acting_as(None, via=services.via(Source.OIDC), reason="Signed in with single sign-on"):
            changed = self._copy(user, claims)
            if changed:
                user.save(update_fields=changed)
        return user

    @staticmethod
    def _copy(user, claims) -> list[str]:
        changed = []
        for field, claim, limit in (
            ("first_name", "given_name", 150),
            ("last_name", "family_name", 150),
            ("email", "email", 254),
        ):
            value = str(claims.get(claim) or "")[:limit]
            if value and getattr(user, field) != value:
                setattr(user, field, value)
                changed.append(field)
        return changed

    def get_or_create_user(self, access_token, id_token, payload):
        user = super().get_or_create_user(access_token, id_token, payload)
        if user is None or not user.is_active:
            return None
        claims = self._claims
        groups = claims.get(settings.MOF_OIDC_GROUPS_CLAIM) or []
        if isinstance(groups, str):
            groups = [groups]
        services.update_profile(
            user,
            source=Source.OIDC,
            external_id=str(claims["sub"]),
            department=str(claims.get("department") or ""),
            phone=str(claims.get("phone_number") or ""),
            groups=[str(g) for g in groups],
        )
        services.apply_directory_groups(user, [str(g) for g in groups], Source.OIDC)
        return user

    def authenticate(self, request, **kwargs):
        if not enabled():
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        user = super().get_user(user_id)
        if user is not None and (user.is_service_account or user.is_system or not user.is_active):
            return None
        return user


class SignIn(OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)


class Callback(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)


class SignOut(OIDCLogoutView):
    get_settings = staticmethod(oidc_setting)


def provider_logout_url(request) -> str:
    """Where the portal's sign-out continues: the provider's end-session endpoint (RP-initiated
    logout), which comes back to the portal's sign-in page; the sign-in page if it has none."""
    back = absolutify(request, reverse("login"))
    endpoint = oidc_setting("MOF_OIDC_LOGOUT_ENDPOINT", "")
    if not endpoint:
        return back
    params = {"post_logout_redirect_uri": back, "client_id": settings.OIDC_RP_CLIENT_ID}
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{endpoint}?{urlencode(params)}"


def sign_in(request):
    if not enabled():
        raise Http404("Single sign-on is not configured.")
    return SignIn.as_view()(request)


def callback(request):
    if not enabled():
        raise Http404("Single sign-on is not configured.")
    return Callback.as_view()(request)


def sign_out(request):
    """The portal's one sign-out: at the provider too for a person who came through it."""
    if enabled() and request.session.get("oidc_id_token"):
        return SignOut.as_view()(request)
    return LogoutView.as_view()(request)
