"""Login lockout: a burst of wrong passwords for one username, or from one IP address,
locks out further sign-ins for a while, on the web login page and at
POST /api/v1/auth/token/ alike. While locked, even the right password is refused, with
the same message whether or not the user exists.

Failures are counted in the database (LoginLockout), one row per username and per
address, under a row lock: concurrent failures never lose a count, and every server
process sees the same state. Settings: MOF_LOGIN_LOCKOUT_ATTEMPTS (per username),
MOF_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS (per IP address), MOF_LOGIN_LOCKOUT_WINDOW (seconds
in which failures add up) and MOF_LOGIN_LOCKOUT_SECONDS (how long a lockout lasts).
A daily task (mof.lockouts_prune) forgets the records that no longer count anything,
after MOF_LOGIN_LOCKOUT_RETENTION_DAYS: an attacker's many usernames and addresses
would otherwise pile up for ever.
"""
from __future__ import annotations

import logging
import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.db.models import Max, Q
from django.dispatch import receiver
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from mof import audit, policy
from mof.models import LoginLockout
from mof.models_access import LockoutKind

security_log = logging.getLogger("mof.security")


class LockedOut(Exception):
    def __init__(self, seconds: int):
        self.seconds = seconds
        minutes = max(1, math.ceil(seconds / 60))
        super().__init__(
            f"Too many failed sign-in attempts. Sign-in is locked for {minutes} more minute{'s' if minutes != 1 else ''}; "
            "try again later or ask an administrator."
        )


def client_address(request) -> str:
    """The caller's IP address, as the API throttles see it (X-Forwarded-For only behind
    the number of proxies set in MOF_NUM_PROXIES)."""
    return BaseThrottle().get_ident(request) or ""


def _username_key(username) -> str:
    # Usernames differing only in case are one target for an attacker.
    return str(username or "").strip().lower()[:150]


def _keys(username, address):
    keys = []
    if _username_key(username):
        keys.append((LockoutKind.USERNAME, _username_key(username), settings.MOF_LOGIN_LOCKOUT_ATTEMPTS))
    if address:
        keys.append((LockoutKind.ADDRESS, address[:150], settings.MOF_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS))
    return keys


def locked_seconds(*, username, address, now=None) -> int:
    """Seconds until sign-in is possible again for this username from this address (0: now)."""
    now = now or timezone.now()
    match = Q()
    for kind, key, _limit in _keys(username, address):
        match |= Q(kind=kind, key=key)
    if not match:
        return 0
    until = LoginLockout.objects.filter(match, locked_until__gt=now).aggregate(until=Max("locked_until"))["until"]
    return math.ceil((until - now).total_seconds()) if until else 0


def ensure_not_locked(*, username, address, via: str) -> None:
    """Raise LockedOut (and log it) if the username or the address is locked out."""
    seconds = locked_seconds(username=username, address=address)
    if seconds:
        security_log.warning("sign-in refused during lockout: %r from %s via %s", str(username)[:150], address, via)
        raise LockedOut(seconds)


def record_failure(*, username, address, now=None) -> None:
    now = now or timezone.now()
    for kind, key, limit in _keys(username, address):
        _count_failure(kind, key, limit, now)


def _count_failure(kind, key, limit, now) -> None:
    window = timedelta(seconds=settings.MOF_LOGIN_LOCKOUT_WINDOW)
    # The plain manager: counting is not an audited change (each failure has its own
    # login_failed entry). Insert-if-missing, then lock the row: race-safe on PostgreSQL
    # (row lock) and SQLite (one writer at a time).
    rows = LoginLockout._base_manager
    with transaction.atomic():
        row = None
        while row is None:  # a second time only if the pruning deleted the row in between
            rows.bulk_create([LoginLockout(kind=kind, key=key)], ignore_conflicts=True)
            row = rows.select_for_update().filter(kind=kind, key=key).first()
        lock_served = row.locked_until is not None and row.locked_until <= now
        if row.window_started_at is None or row.window_started_at <= now - window or lock_served:
            failures, started = 1, now  # a fresh window
        else:
            failures, started = row.failures + 1, row.window_started_at
        locked_until, times_locked = row.locked_until, row.times_locked
        if failures >= limit and not row.is_locked(now):
            locked_until = now + timedelta(seconds=settings.MOF_LOGIN_LOCKOUT_SECONDS)
            times_locked += 1
            security_log.warning(
                "sign-in locked out for %s %r after %d failures, until %s", kind, key, failures, locked_until.isoformat()
            )
        rows.filter(pk=row.pk).update(
            failures=failures, window_started_at=started, last_failure_at=now, locked_until=locked_until, times_locked=times_locked
        )


def record_success(*, username) -> None:
    """A right password resets the username's count (never the address's: a password
    sprayer with one valid account must not reset its own count)."""
    LoginLockout._base_manager.filter(kind=LockoutKind.USERNAME, key=_username_key(username), failures__gt=0).update(
        failures=0, window_started_at=None
    )


# Every failed password check, from the web login page or the API, counts.
@receiver(user_login_failed, dispatch_uid="mof_lockout_count_failure")
def _on_login_failed(sender, credentials, request=None, **kwargs):
    record_failure(username=credentials.get("username", ""), address=client_address(request) if request is not None else "")


@receiver(user_logged_in, dispatch_uid="mof_lockout_reset")
def _on_logged_in(sender, request, user, **kwargs):
    record_success(username=user.get_username())


def lockouts_prune(*, now=None, chunk: int = 1000) -> int:
    """Delete the lockout records that no longer count anything: no lock in force and no
    failure for MOF_LOGIN_LOCKOUT_RETENTION_DAYS (never less than a counting window or a
    lockout, so no count in progress is lost; admins see recent lockouts until then).
    Each deletion is in the audit trail, by the system via this task (as the admin's
    clearing is by the admin). Returns how many."""
    now = now or timezone.now()
    keep = max(
        timedelta(days=settings.MOF_LOGIN_LOCKOUT_RETENTION_DAYS),
        timedelta(seconds=settings.MOF_LOGIN_LOCKOUT_WINDOW),
        timedelta(seconds=settings.MOF_LOGIN_LOCKOUT_SECONDS),
    )
    stale = LoginLockout._base_manager.filter(Q(last_failure_at__lt=now - keep) | Q(last_failure_at__isnull=True)).exclude(locked_until__gt=now)
    total = 0
    with audit.acting_as(None, via="task:mof.lockouts_prune"):
        while True:
            ids = list(stale.order_by().values_list("pk", flat=True)[:chunk])
            if not ids:
                break
            with transaction.atomic():
                # The condition again: a failure counted since the ids were read keeps its row.
                total += stale.filter(pk__in=ids).delete()[0]
    if total:
        security_log.info("%d sign-in lockout record(s) past their retention pruned", total)
    return total


# --- reads and the admin's clearing ---------------------------------------------------


def lockout_list(*, user, locked_only: bool = False):
    if not policy.can(user, "lockout.view"):
        return LoginLockout.objects.none()
    qs = LoginLockout.objects.order_by("-last_failure_at", "-id")
    if locked_only:
        qs = qs.filter(locked_until__gt=timezone.now())
    return qs


def lockout_clear(*, actor, lockout: LoginLockout) -> None:
    """Lift a lockout and forget its count (recorded in the audit trail)."""
    policy.require(actor, "lockout.clear", lockout)
    with audit.acting_as(actor), transaction.atomic():
        lockout.delete()
    security_log.warning("sign-in lockout of %s %r cleared by %s", lockout.kind, lockout.key, actor.username)
