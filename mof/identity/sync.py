"""The directory sync: every person under LDAP_USER_BASE matching LDAP_SYNC_FILTER is
created or updated (profile and groups, as at sign-in) so they can be callers and be
assigned before they ever sign in; people the directory disabled or no longer has are
deactivated (mof.identity.services.deactivate_person)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Q

from mof.identity import services
from mof.identity.models import DirectoryProfile, Source

log = logging.getLogger("mof.identity")

PAGE_SIZE = 500


class NotConfigured(Exception):
    pass


@dataclass
class SyncReport:
    seen: int = 0
    imported: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    flagged_assignments: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "seen": self.seen,
            "imported": len(self.imported),
            "updated": len(self.updated),
            "deactivated": len(self.deactivated),
            "flagged_assignments": self.flagged_assignments,
            "errors": self.errors,
        }


def _connect():
    import ldap

    conn = ldap.initialize(settings.AUTH_LDAP_SERVER_URI)
    for option, value in settings.AUTH_LDAP_CONNECTION_OPTIONS.items():
        conn.set_option(option, value)
    if settings.AUTH_LDAP_START_TLS:
        conn.start_tls_s()
    conn.simple_bind_s(settings.AUTH_LDAP_BIND_DN, settings.AUTH_LDAP_BIND_PASSWORD)
    return conn


def _search(conn, base, filterstr, attrs):
    """Every entry, page by page (Active Directory answers at most 1,000 per search)."""
    import ldap
    from ldap.controls import SimplePagedResultsControl

    control = SimplePagedResultsControl(True, size=PAGE_SIZE, cookie="")
    while True:
        msgid = conn.search_ext(base, ldap.SCOPE_SUBTREE, filterstr, attrs, serverctrls=[control])
        _, data, _, controls = conn.result3(msgid)
        for dn, entry in data:
            if dn:  # referrals have none
                yield dn, entry
        cookies = [c.cookie for c in controls if c.controlType == SimplePagedResultsControl.controlType]
        if not cookies or not cookies[0]:
            return
        control.cookie = cookies[0]


def directory_people(conn) -> tuple[dict[str, str], set[str]]:
    """({username: dn} of everyone the sync filter finds, {usernames of the disabled ones})."""
    attr = settings.MOF_LDAP_USERNAME_ATTR
    base = settings.AUTH_LDAP_USER_SEARCH.base_dn
    people = {}
    for dn, entry in _search(conn, base, settings.MOF_LDAP_SYNC_FILTER, [attr]):
        values = entry.get(attr) or next((v for k, v in entry.items() if k.lower() == attr.lower()), None)
        if values:
            people[values[0].decode().lower()] = dn
    disabled = set()
    if settings.MOF_LDAP_DISABLED_FILTER:
        filterstr = f"(&{settings.MOF_LDAP_SYNC_FILTER}{settings.MOF_LDAP_DISABLED_FILTER})"
        for dn, entry in _search(conn, base, filterstr, [attr]):
            values = entry.get(attr) or next((v for k, v in entry.items() if k.lower() == attr.lower()), None)
            if values:
                disabled.add(values[0].decode().lower())
    return people, disabled


def sync_directory(progress: Callable[[int, int, str], None] | None = None) -> SyncReport:
    if not getattr(settings, "MOF_LDAP_ENABLED", False):
        raise NotConfigured("LDAP_SERVER_URI is not set: there is no directory to sync with.")
    from mof.identity.ldap_backend import DirectoryBackend
    from mof.models import User

    report = SyncReport()
    conn = _connect()
    try:
        people, disabled = directory_people(conn)
    finally:
        conn.unbind_s()
    backend = DirectoryBackend()
    known = set(User.objects.filter(username__in=list(people)).values_list("username", flat=True))
    enabled = sorted(set(people) - disabled)
    total = len(enabled)
    active_ids = set()
    for i, username in enumerate(enabled, 1):
        try:
            user = backend.populate_user(username)
        except Exception as exc:  # one bad entry must not stop the sync of everyone else
            log.exception("directory sync: %s", username)
            report.errors.append(f"{username}: {exc}")
            user = None
        if user is not None:
            active_ids.add(user.pk)
            (report.updated if username in known else report.imported).append(username)
        report.seen += 1
        if progress:
            progress(i, total, username)
    # Everyone the directory brought in (sign-in or sync) who is no longer there enabled.
    gone = (
        DirectoryProfile.objects.filter(source=Source.LDAP, user__is_active=True)
        .exclude(user_id__in=active_ids)
        .select_related("user")
    )
    if report.errors:  # a partial read: deactivate only those the directory says are disabled
        gone = gone.filter(Q(user__username__in=disabled))
    for profile in gone:
        user = profile.user
        why = "Disabled in the directory" if user.username in disabled else "No longer in the directory"
        report.flagged_assignments += services.deactivate_person(user, reason=why, source=Source.SYNC)
        report.deactivated.append(user.username)
    log.info("directory sync: %s", report.as_dict())
    return report
