"""Security administration: API tokens (of service accounts and of people) and login
lockouts. Imported by mof.models, so Django sees them as models of the core app."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from mof.audit import AuditedModel, AuditedQuerySet

# Every key starts with this, so a key pasted in a chat or a repository is recognisable
# (and secret scanners can be taught the pattern).
TOKEN_PREFIX = "mof_"
# How much of a key is kept in clear to tell tokens apart: the prefix and 8 characters.
SHOWN_LENGTH = len(TOKEN_PREFIX) + 8


def token_digest(key: str) -> str:
    """SHA-256 of the key. A key carries 256 random bits, so a fast hash is enough:
    nobody can guess one from its digest, and the look-up stays one indexed query."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_token_key() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class TokenScope(models.TextChoices):
    READ_WRITE = "read_write", "Read and write"
    READ_ONLY = "read_only", "Read only (GET, HEAD, OPTIONS)"


class TokenStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ROTATING = "rotating", "Rotated (valid until the grace period ends)"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class ApiTokenQuerySet(AuditedQuerySet):
    def live(self, now=None):
        """Tokens that authenticate now: not revoked (or in a rotation's grace period), not expired."""
        now = now or timezone.now()
        return self.filter(Q(revoked_at__isnull=True) | Q(revoked_at__gt=now)).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )


class ApiToken(AuditedModel):
    """A key for the REST API acting as exactly one user (a service account or a person).
    Only the SHA-256 digest of the key is stored: the key is shown once, at creation."""

    audit_exclude = ("digest", "last_used_at")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What uses it, e.g. “Nagios on mon01”.")
    prefix = models.CharField(max_length=16, editable=False, help_text="The start of the key, to recognise it.")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scope = models.CharField(max_length=12, choices=TokenScope.choices, default=TokenScope.READ_WRITE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    # In the future while a rotated token's grace period runs.
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    rotated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_idx")]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def status(self, now=None) -> str:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return TokenStatus.REVOKED if self.revoked_at <= now else TokenStatus.ROTATING
        if self.expires_at is not None and self.expires_at <= now:
            return TokenStatus.EXPIRED
        return TokenStatus.ACTIVE

    def is_live(self, now=None) -> bool:
        return self.status(now) in (TokenStatus.ACTIVE, TokenStatus.ROTATING)

    @property
    def status_label(self) -> str:
        return TokenStatus(self.status()).label

    @property
    def read_only(self) -> bool:
        return self.scope == TokenScope.READ_ONLY


class LockoutKind(models.TextChoices):
    PAIR = "pair", "Username from an address"
    ADDRESS = "address", "IP address (many usernames)"


class LoginLockout(AuditedModel):
    """Failed sign-ins counted per (username, IP address) and, for password spraying, per
    IP address across the usernames it never signed in as (mof.lockout); past the limit a
    key waits until `locked_until`, a delay that doubles with each further failure. The
    counting bypasses the audit trail (each failure is already a `login_failed` entry); an
    admin clearing a lockout is recorded."""

    kind = models.CharField(max_length=10, choices=LockoutKind.choices)
    key = models.CharField(
        max_length=150, help_text="The username (lower case), or the IP address of a spraying count."
    )
    address = models.CharField(
        max_length=64, blank=True, default="", help_text="The IP address the username was tried from (pairs only)."
    )
    failures = models.PositiveIntegerField(default=0, help_text="Failures in the current count.")
    window_started_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True, db_index=True)
    locked_until = models.DateTimeField(null=True, blank=True, db_index=True)
    times_locked = models.PositiveIntegerField(default=0)
    last_success_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The last right password for this username from this address: its address's spraying delay does not apply.",
    )

    class Meta:
        ordering = ["-last_failure_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "key", "address"], name="unique_login_lockout_pair")]

    def __str__(self):
        if self.kind == LockoutKind.ADDRESS:
            return f"IP address {self.key}"
        return f"Username {self.key} from {self.address}" if self.address else f"Username {self.key}"

    def is_locked(self, now=None) -> bool:
        return self.locked_until is not None and self.locked_until > (now or timezone.now())
