"""Login lockout, on the web login page, the admin's and POST /api/v1/auth/token/ alike.

The policy (no one can lock someone else out from elsewhere):
- Failures are counted per (username, client address). After MOF_LOGIN_LOCKOUT_ATTEMPTS
  of them the pair must wait before its next try: MOF_LOGIN_LOCKOUT_DELAY_SECONDS, then
  twice, four times... as long with each further failure, at most MOF_LOGIN_LOCKOUT_SECONDS.
  An attacker guessing from address A slows only (username, A): the user signs in from B.
- Password spraying (one address, many usernames): failures from an address for usernames
  it has never signed in as also count for the address; after
  MOF_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS the address waits the same growing delays, except for
  the usernames that signed in from it before (a colleague behind the same office NAT
  whose own pair is clean is not slowed by someone else's spraying).
- A right password clears its pair's count and remembers the pair as known. A count is
  forgotten after MOF_LOGIN_LOCKOUT_WINDOW seconds without a failure once its delay is over.
- While a delay runs even the right password is refused, with the same message whether or
  not the user exists; the refused try is not counted (nothing was checked).

The client address is what the API throttles see: the connection's address, or behind
MOF_NUM_PROXIES trusted reverse proxies the X-Forwarded-For entry they added. Behind a
proxy or a load balancer with MOF_NUM_PROXIES=0 every client has the proxy's address: one
spraying count for everyone, and pairs that tell no one apart (see README).

Counts live in the database (LoginLockout), one row per pair and per address, updated
under a row lock: concurrent failures never lose a count and every process sees the same
state. A daily task (mof.lockouts_prune) forgets the rows that no longer count anything
after MOF_LOGIN_LOCKOUT_RETENTION_DAYS.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.db import transaction
from django.db.models import Q
from django.dispatch import receiver
from django.utils import timezone
from rest_framework.throttling import BaseThrottle

from mof import audit, policy
from mof.models import LoginLockout
from mof.models_access import LockoutKind

security_log = logging.getLogger("mof.security")

ADDRESS_LENGTH = 64


class LockedOut(Exception):
    def __init__(self, seconds: int):
        self.seconds = seconds
        if seconds < 60:
            wait = f"{seconds} more second{'s' if seconds != 1 else ''}"
        else:
            minutes = math.ceil(seconds / 60)
            wait = f"{minutes} more minute{'s' if minutes != 1 else ''}"
        super().__init__(
            f"Too many failed sign-in attempts. Sign-in is locked for {wait}; try again later or ask an administrator."
        )


def client_address(request) -> str:
    """The caller's IP address, as the API throttles see it (X-Forwarded-For only behind
    the number of proxies set in MOF_NUM_PROXIES). Something there that is no IP address
    (a misconfigured proxy, or a client writing its own header) counts as the connection's."""
    ident = (BaseThrottle().get_ident(request) or "").strip()
    for candidate in (ident, request.META.get("REMOTE_ADDR", "")):
        try:
            return str(ipaddress.ip_address(candidate))[:ADDRESS_LENGTH]
        except ValueError:
            continue
    return ident[:ADDRESS_LENGTH]


def _username_key(username) -> str:
    # Usernames differing only in case are one target for an attacker.
    return str(username or "").strip().lower()[:150]


def _address_key(address) -> str:
    return str(address or "")[:ADDRESS_LENGTH]


def delay_seconds(failures: int, limit: int) -> int:
    """The wait after the `failures`-th failure of a count whose limit is `limit` (0 below it)."""
    if failures < limit:
        return 0
    base = max(1, settings.MOF_LOGIN_LOCKOUT_DELAY_SECONDS)
    return min(base * 2 ** min(failures - limit, 30), settings.MOF_LOGIN_LOCKOUT_SECONDS)


def _rows(username, address):
    user, addr = _username_key(username), _address_key(address)
    match = Q()
    if user:
        match |= Q(kind=LockoutKind.PAIR, key=user, address=addr)
    if addr:
        match |= Q(kind=LockoutKind.ADDRESS, key=addr, address="")
    return LoginLockout._base_manager.filter(match) if match else None


def locked_seconds(*, username, address, now=None) -> int:
    """Seconds until this username may try again from this address (0: now). One query."""
    now = now or timezone.now()
    rows = _rows(username, address)
    if rows is None:
        return 0
    found = list(rows.values_list("kind", "locked_until", "last_success_at"))
    known = any(kind == LockoutKind.PAIR and success for kind, _until, success in found)
    until = max(
        (until for kind, until, _success in found if until and until > now and (kind == LockoutKind.PAIR or not known)),
        default=None,
    )
    return math.ceil((until - now).total_seconds()) if until else 0


def ensure_not_locked(*, username, address, via: str) -> None:
    """Raise LockedOut (and log it) if this username must wait before trying from this address."""
    seconds = locked_seconds(username=username, address=address)
    if seconds:
        security_log.warning("sign-in refused during lockout: %r from %s via %s", str(username)[:150], address, via)
        raise LockedOut(seconds)


def record_failure(*, username, address, now=None) -> None:
    now = now or timezone.now()
    user, addr = _username_key(username), _address_key(address)
    known = False
    if user:
        known = (
            _count_failure(LockoutKind.PAIR, user, addr, settings.MOF_LOGIN_LOCKOUT_ATTEMPTS, now).last_success_at
            is not None
        )
    if addr and not known:  # a known user's typo is no spraying
        _count_failure(LockoutKind.ADDRESS, addr, "", settings.MOF_LOGIN_LOCKOUT_ADDRESS_ATTEMPTS, now)


def _count_failure(kind, key, address, limit, now) -> LoginLockout:
    quiet = timedelta(seconds=settings.MOF_LOGIN_LOCKOUT_WINDOW)
    # The plain manager: counting is not an audited change (each failure has its own
    # login_failed entry). Insert-if-missing, then lock the row: race-safe on PostgreSQL
    # (row lock) and SQLite (one writer at a time).
    rows = LoginLockout._base_manager
    with transaction.atomic():
        row = None
        while row is None:  # a second time only if the pruning deleted the row in between
            rows.bulk_create([LoginLockout(kind=kind, key=key, address=address)], ignore_conflicts=True)
            row = rows.select_for_update().filter(kind=kind, key=key, address=address).first()
        # Quiet since the last failure or, if a delay followed it, since the delay ended.
        quiet_since = max(t for t in (row.last_failure_at, row.locked_until) if t) if row.last_failure_at else None
        if not row.failures or quiet_since is None or quiet_since <= now - quiet:
            failures, started = 1, now  # a fresh count
        else:
            failures, started = row.failures + 1, row.window_started_at or now
        locked_until, times_locked = row.locked_until, row.times_locked
        delay = delay_seconds(failures, limit)
        if delay:
            locked_until, times_locked = now + timedelta(seconds=delay), times_locked + 1
            what = (
                f"{key!r} from {address}"
                if kind == LockoutKind.PAIR
                else f"address {key} (usernames it never signed in as)"
            )
            security_log.warning(
                "sign-in locked out for %s after %d failures: %d s, until %s",
                what,
                failures,
                delay,
                locked_until.isoformat(),
            )
        rows.filter(pk=row.pk).update(
            failures=failures,
            window_started_at=started,
            last_failure_at=now,
            locked_until=locked_until,
            times_locked=times_locked,
        )
    return row


def record_success(*, username, address, now=None) -> None:
    """A right password clears its pair's count and marks the pair as known (the
    address's spraying delay no longer applies to it). Never the address's own count:
    a sprayer with one valid account must not reset it."""
    user = _username_key(username)
    if not user:
        return
    LoginLockout._base_manager.bulk_create(
        [
            LoginLockout(
                kind=LockoutKind.PAIR, key=user, address=_address_key(address), last_success_at=now or timezone.now()
            )
        ],
        update_conflicts=True,
        unique_fields=["kind", "key", "address"],
        update_fields=["failures", "window_started_at", "locked_until", "last_success_at"],
    )


# Every failed password check, from the web login page or the API, counts.
@receiver(user_login_failed, dispatch_uid="mof_lockout_count_failure")
def _on_login_failed(sender, credentials, request=None, **kwargs):
    record_failure(
        username=credentials.get("username", ""), address=client_address(request) if request is not None else ""
    )


@receiver(user_logged_in, dispatch_uid="mof_lockout_reset")
def _on_logged_in(sender, request, user, **kwargs):
    record_success(username=user.get_username(), address=client_address(request) if request is not None else "")


def lockouts_prune(*, now=None, chunk: int = 1000) -> int:
    """Delete the lockout records that no longer count anything: no lock in force and no
    failure (nor, for a known pair, sign-in) for MOF_LOGIN_LOCKOUT_RETENTION_DAYS (never less than a counting window or a
    lockout, so no count in progress is lost; admins see recent lockouts until then).
    Each deletion is in the audit trail, by the system via this task (as the admin's
    clearing is by the admin). Returns how many."""
    now = now or timezone.now()
    keep = max(
        timedelta(days=settings.MOF_LOGIN_LOCKOUT_RETENTION_DAYS),
        timedelta(seconds=settings.MOF_LOGIN_LOCKOUT_WINDOW),
        timedelta(seconds=settings.MOF_LOGIN_LOCKOUT_SECONDS),
    )
    idle = (Q(last_failure_at__lt=now - keep) | Q(last_failure_at__isnull=True)) & (
        Q(last_success_at__lt=now - keep) | Q(last_success_at__isnull=True)
    )
    stale = LoginLockout._base_manager.filter(idle).exclude(locked_until__gt=now)
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
