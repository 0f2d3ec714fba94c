"""Service accounts and API tokens: the writes (provision, issue, rotate, revoke), the
reads, and the check of a presented key. A token acts as exactly its user: every
request it authenticates passes the same policy table as that user's own would.

Rotation issues a new token (same name, scope and lifetime) and revokes the old one at
once, or after a grace period of up to MAX_GRACE_MINUTES so a fleet of agents can be
switched over without an outage. Revoking is immediate, also during a grace period.

A user holds at most MOF_MAX_TOKENS_PER_USER live tokens (a rotation's old token counts
until its grace period ends): issuing beyond it is refused, and so is a rotation with a
grace period (one without replaces the old token, so it is always allowed). The API's
rate limits count all of a user's tokens together (mof.api.throttling).
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from mof import audit, policy
from mof.choices import RoleCluster
from mof.models import ApiToken, RoleAssignment, User
from mof.models_access import (
    SHOWN_LENGTH,
    TOKEN_PREFIX,
    TokenScope,
    new_token_key,
    token_digest,
)
from mof.services import _set_memberships, apply_fields

security_log = logging.getLogger("mof.security")

MAX_GRACE_MINUTES = 24 * 60
# last_used_at is written at most this often per token: one UPDATE a minute, not one a request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
SERVICE_ACCOUNT_FIELDS = ("username", "email", "first_name", "is_active")
DEFAULT_SERVICE_ACCOUNT_ROLES = (RoleCluster.PARTNER,)


class TokenRefused(Exception):
    """A presented key does not authenticate; the message is safe to show the caller."""


# --- service accounts -------------------------------------------------------------


def service_account_list(*, user):
    if not policy.can(user, "service_account.manage"):
        return User.objects.none()
    live = Q(api_tokens__revoked_at__isnull=True) | Q(api_tokens__revoked_at__gt=timezone.now())
    return (
        User.objects.filter(is_service_account=True)
        .annotate(
            live_tokens=Count(
                "api_tokens",
                filter=live & (Q(api_tokens__expires_at__isnull=True) | Q(api_tokens__expires_at__gt=timezone.now())),
            )
        )
        .prefetch_related(Prefetch("role_assignments", queryset=RoleAssignment.objects.order_by("role")))
        .order_by("username")
    )


def service_account_get(*, user, pk) -> User:
    """The account if the reader may manage service accounts; DoesNotExist otherwise."""
    return service_account_list(user=user).get(pk=pk)


def _check_roles(roles):
    roles = list(roles)
    if not roles:
        raise ValidationError(
            {"roles": "Give the account at least one role cluster: it acts with that role's permissions."}
        )
    return roles


def service_account_create(*, actor, username: str, roles=DEFAULT_SERVICE_ACCOUNT_ROLES, **fields) -> User:
    """A user who can act only through API tokens: no usable password, never a manager or an admin."""
    policy.require(actor, "service_account.manage")
    account = User(is_service_account=True)
    apply_fields(account, {"username": username, **fields}, SERVICE_ACCOUNT_FIELDS, exclude=["password"])
    roles = _check_roles(roles)
    with audit.acting_as(actor), transaction.atomic():
        account.set_unusable_password()
        account.save()
        _set_memberships(account, roles, None)
    security_log.info("service account %s created by %s", account.username, actor.username)
    return account


def service_account_update(*, actor, account: User, roles=None, **fields) -> User:
    policy.require(actor, "service_account.manage")
    if not account.is_service_account:
        raise ValidationError("This user is a person, not a service account.")
    apply_fields(account, fields, SERVICE_ACCOUNT_FIELDS, exclude=["password"])
    if roles is not None:
        roles = _check_roles(roles)
    with audit.acting_as(actor), transaction.atomic():
        account.save()
        _set_memberships(account, roles, None)
    return account


# --- tokens -----------------------------------------------------------------------


def token_list(*, user, owner):
    """The tokens of `owner` the reader may see: all of a service account's for admins, one's own."""
    if not policy.can(user, "token.issue", owner) and not policy.is_admin(user):
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user=owner).select_related("user", "created_by").order_by("-created_at", "-id")


def token_get(*, user, owner, pk) -> ApiToken:
    return token_list(user=user, owner=owner).get(pk=pk)


def _validate(name: str, scope: str, expires_at, now):
    errors = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Name the token after what uses it."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    if scope not in TokenScope.values:
        errors["scope"] = f"Choose one of: {', '.join(TokenScope.values)}."
    if expires_at is not None and expires_at <= now:
        errors["expires_at"] = "The expiry must lie in the future."
    if errors:
        raise ValidationError(errors)
    return name


def live_token_count(owner, now=None) -> int:
    now = now or timezone.now()
    return (
        ApiToken.objects.filter(user=owner)
        .filter(
            Q(revoked_at__isnull=True) | Q(revoked_at__gt=now),
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
        )
        .count()
    )


def _check_room(owner, now, *, doing: str) -> None:
    """Refuse a token beyond the owner's cap. Call inside the transaction that creates it:
    the owner's row is locked, so two requests at once cannot both take the last place (FOR NO
    KEY UPDATE: rows referencing the user may still be written meanwhile)."""
    User.objects.select_for_update(no_key=True).filter(pk=owner.pk).values_list("pk").first()
    cap = settings.MOF_MAX_TOKENS_PER_USER
    if live_token_count(owner, now) >= cap:
        security_log.warning("token for %s refused: it holds %d live tokens, the cap", owner.username, cap)
        raise ValidationError(
            f"{owner.username} already holds {cap} live API token{'' if cap == 1 else 's'}, the most allowed "
            f"(MOF_MAX_TOKENS_PER_USER): "
            f"revoke one it no longer uses before {doing}."
        )


def _create(*, actor, owner, name, scope, expires_at, rotated_from=None) -> tuple[ApiToken, str]:
    key = new_token_key()
    token = ApiToken(
        user=owner,
        name=name,
        prefix=key[:SHOWN_LENGTH],
        digest=token_digest(key),
        scope=scope,
        created_by=actor,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    token.save()
    return token, key


def token_issue(
    *, actor, owner, name: str, scope: str = TokenScope.READ_WRITE, expires_at=None
) -> tuple[ApiToken, str]:
    """A new token for `owner`; returns it with its key, which is never shown again."""
    policy.require(actor, "token.issue", owner)
    now = timezone.now()
    name = _validate(name, scope, expires_at, now)
    if not owner.is_active:
        raise ValidationError("The account is deactivated: activate it before issuing a token.")
    with audit.acting_as(actor), transaction.atomic():
        _check_room(owner, now, doing="issuing another")
        token, key = _create(actor=actor, owner=owner, name=name, scope=scope, expires_at=expires_at)
    security_log.info("token %s (%s) issued for %s by %s", token.prefix, token.name, owner.username, actor.username)
    return token, key


def token_issue_at_sign_in(*, user) -> tuple[ApiToken, str]:
    """POST /api/v1/auth/token/: a person exchanged a password for a personal token, which
    expires after MOF_SIGN_IN_TOKEN_DAYS (it is listed and revocable under "My API tokens")."""
    expires_at = timezone.now() + timedelta(days=settings.MOF_SIGN_IN_TOKEN_DAYS)
    return token_issue(actor=user, owner=user, name="API sign-in", expires_at=expires_at)


def token_rotate(*, actor, token: ApiToken, grace_minutes: int = 0) -> tuple[ApiToken, str]:
    """Issue the successor of `token` and revoke `token` now or after `grace_minutes`."""
    policy.require(actor, "token.rotate", token)
    if (
        isinstance(grace_minutes, bool)
        or not isinstance(grace_minutes, int)
        or not 0 <= grace_minutes <= MAX_GRACE_MINUTES
    ):
        raise ValidationError({"grace_minutes": f"A whole number of minutes from 0 to {MAX_GRACE_MINUTES}."})
    now = timezone.now()
    with audit.acting_as(actor), transaction.atomic():
        # Locked: two rotations at once would leave two successors.
        old = ApiToken.objects.select_for_update().get(pk=token.pk)
        if old.revoked_at is not None or not old.is_live(now):
            raise ValidationError(
                "Only an active token can be rotated (this one is revoked, rotated or expired): issue a new one."
            )
        if grace_minutes:  # the old token stays live meanwhile: one more than before
            _check_room(old.user, now, doing="rotating with a grace period (or rotate without one)")
        expires_at = None
        if old.expires_at is not None:  # the successor gets the same lifetime
            expires_at = now + (old.expires_at - old.created_at)
        new, key = _create(
            actor=actor, owner=old.user, name=old.name, scope=old.scope, expires_at=expires_at, rotated_from=old
        )
        old.revoked_at = now + timedelta(minutes=grace_minutes)
        old.save(update_fields=["revoked_at"])
    security_log.info(
        "token %s of %s rotated by %s to %s (old one valid %d more minute(s))",
        old.prefix,
        old.user.username,
        actor.username,
        new.prefix,
        grace_minutes,
    )
    return new, key


def token_revoke(*, actor, token: ApiToken) -> ApiToken:
    """Refuse the token from now on (also cuts a rotation's grace period short)."""
    policy.require(actor, "token.revoke", token)
    now = timezone.now()
    with audit.acting_as(actor), transaction.atomic():
        token = ApiToken.objects.select_for_update().select_related("user").get(pk=token.pk)
        if token.revoked_at is not None and token.revoked_at <= now:
            return token  # already revoked: nothing to write
        token.revoked_at = now
        token.save(update_fields=["revoked_at"])
    security_log.warning("token %s of %s revoked by %s", token.prefix, token.user.username, actor.username)
    return token


# --- authentication ----------------------------------------------------------------


def looks_like_token(key: str) -> bool:
    return key.startswith(TOKEN_PREFIX)


@functools.cache
def _token_lookup(alias: str):
    """The SQL of the token lookup (the token, its user, the user's role clusters: one row per
    role, or one with a NULL role), and the converters of its columns; built once from the models."""
    connection = connections[alias]
    quote = connection.ops.quote_name
    token, user, role = ApiToken._meta, User._meta, RoleAssignment._meta
    fields = [*token.concrete_fields, *user.concrete_fields]
    columns = [f"t.{quote(f.column)}" for f in token.concrete_fields] + [
        f"u.{quote(f.column)}" for f in user.concrete_fields
    ]
    sql = (
        f"SELECT {', '.join(columns)}, r.{quote(role.get_field('role').column)} "
        f"FROM {quote(token.db_table)} t "
        f"INNER JOIN {quote(user.db_table)} u ON u.{quote(user.pk.column)} = t.{quote(token.get_field('user').column)} "
        f"LEFT OUTER JOIN {quote(role.db_table)} r ON r.{quote(role.get_field('user').column)} = u.{quote(user.pk.column)} "
        f"WHERE t.{quote(token.get_field('digest').column)} = %s"
    )
    # What a queryset would apply to each column (SQLite's booleans and date-times, say).
    converters = []
    for i, field in enumerate(fields):
        column = field.get_col(field.model._meta.db_table)
        found = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if found:
            converters.append((i, column, found))
    return sql, converters, len(token.concrete_fields), len(fields)


def _token_with_user(digest: str) -> ApiToken | None:
    """The token of `digest` with its user and the user's roles, in one query: every API
    request authenticates, and the roles decide the policy checks that follow (read apart,
    they were a second query per request). Nothing is cached across requests: a revoked
    token, a deactivated user or a withdrawn role takes effect on the next request."""
    alias = ApiToken.objects.db
    connection = connections[alias]
    sql, converters, split, width = _token_lookup(alias)
    with connection.cursor() as cursor:
        cursor.execute(sql, [digest])
        rows = cursor.fetchall()
    if not rows:
        return None
    values = list(rows[0][:width])
    for i, column, functions in converters:
        for convert in functions:
            values[i] = convert(values[i], column, connection)
    token = ApiToken.from_db(alias, [f.attname for f in ApiToken._meta.concrete_fields], values[:split])
    user = User.from_db(alias, [f.attname for f in User._meta.concrete_fields], values[split:])
    user._roles_cache = frozenset(row[width] for row in rows if row[width] is not None)
    ApiToken._meta.get_field("user").set_cached_value(token, user)
    return token


def authenticate_key(key: str, *, remote_addr: str = "") -> ApiToken:
    """The live token of `key` with its user, or TokenRefused (logged). Writes at most one
    UPDATE a minute per token (last_used_at)."""
    now = timezone.now()
    token = _token_with_user(token_digest(key))
    shown = key[:SHOWN_LENGTH]
    if token is None:
        security_log.warning("unknown API token %s… from %s", shown, remote_addr)
        raise TokenRefused("Invalid token.")
    status = token.status(now)
    if status == "revoked":
        security_log.warning("revoked API token %s of %s used from %s", token.prefix, token.user.username, remote_addr)
        raise TokenRefused("This token has been revoked.")
    if status == "expired":
        security_log.warning("expired API token %s of %s used from %s", token.prefix, token.user.username, remote_addr)
        raise TokenRefused("This token has expired.")
    if not token.user.is_active:
        security_log.warning(
            "API token %s of deactivated %s used from %s", token.prefix, token.user.username, remote_addr
        )
        raise TokenRefused("The token's account is deactivated.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        # The plain manager: a usage stamp is not a change worth an audit entry.
        ApiToken._base_manager.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
        security_log.info("API token %s of %s in use from %s", token.prefix, token.user.username, remote_addr)
    return token
