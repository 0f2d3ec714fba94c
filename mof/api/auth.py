"""API authentication by the portal's own tokens (mof.tokens): `Authorization: Token <key>`
or `Authorization: Bearer <key>`. The request then acts as the token's user, through the
same policy table as everything else; a read-only token is refused unsafe methods."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, TokenAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS

from mof import audit, tokens
from mof.lockout import client_address

KEYWORDS = ("token", "bearer")


class PortalTokenAuthentication(BaseAuthentication):
    """The portal's hashed tokens; keys of DRF's authtoken table (issued before them, kept
    in clear) are still accepted so existing integrations keep working until revoked."""

    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].decode("latin-1").lower() not in KEYWORDS:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Invalid Authorization header: give exactly one key after the keyword."
            )
        try:
            key = parts[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        if not tokens.looks_like_token(key):
            return TokenAuthentication().authenticate_credentials(key)  # legacy key
        try:
            token = tokens.authenticate_key(key, remote_addr=client_address(request))
        except tokens.TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        if token.read_only and request.method not in SAFE_METHODS:
            refusal = exceptions.PermissionDenied("This token is read-only: it may only read (GET, HEAD, OPTIONS).")
            audit.record_refusal(
                actor=token.user,
                action=f"{request.method} {request.path}",
                target=token,
                reasons=[str(refusal.detail)],
                via="api",
            )
            refusal.recorded = True  # the error handler must not record it twice
            raise refusal
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class PortalTokenScheme(OpenApiAuthenticationExtension):
    """Same scheme as DRF's token authentication in the schema (one `tokenAuth`)."""

    target_class = "mof.api.auth.PortalTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Token")
