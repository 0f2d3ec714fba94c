"""One door for what the directory says about a person: `apply_directory_groups` (used by LDAP
sign-in, OpenID Connect sign-in and the sync), profile updates, and deactivation."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mof import audit, notifications
from mof.choices import RoleCluster
from mof.identity.models import (
    DirectoryGrant,
    DirectoryGroupMapping,
    DirectoryProfile,
    GrantKind,
    group_keys,
    normalise_group,
)
from mof.links import absolute_url
from mof.models import RoleAssignment, Team, User

log = logging.getLogger("mof.identity")


@dataclass
class GroupChanges:
    granted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self):
        return bool(self.granted or self.removed)


def via(source: str) -> str:
    return f"directory-{source}"


def matching_mappings(group_names) -> list[DirectoryGroupMapping]:
    keys = set()
    for name in group_names or ():
        keys |= group_keys(name)
    if not keys:
        return []
    return [m for m in DirectoryGroupMapping.objects.prefetch_related("teams") if m.key in keys]


def apply_directory_groups(user: User, group_names, source: str) -> GroupChanges:
    """Give `user` what the mappings of `group_names` give, and take away what the directory
    gave before and the groups no longer give. Roles, teams and flags set by hand (no
    DirectoryGrant) are never taken away; one the person already had by hand is not recorded
    as the directory's. Every change is an audited write (via directory-<source>)."""
    mappings = matching_mappings(group_names)
    want: dict[str, set[str]] = {
        GrantKind.ROLE: {r for m in mappings for r in m.roles if r in RoleCluster.values},
        GrantKind.TEAM: {str(t.pk) for m in mappings for t in m.teams.all()},
        GrantKind.MANAGER: {""} if any(m.is_manager for m in mappings) else set(),
        GrantKind.ADMIN: {""} if any(m.is_admin for m in mappings) else set(),
    }
    changes = GroupChanges()
    reason = "Directory groups: " + (", ".join(m.group for m in mappings) or "none mapped")
    with transaction.atomic(), audit.acting_as(None, via=via(source), reason=reason[:1000]):
        person, user = user, User.objects.select_for_update().get(pk=user.pk)
        grants = {(g.kind, g.value): g for g in DirectoryGrant.objects.filter(user=user)}
        have = {
            GrantKind.ROLE: set(RoleAssignment.objects.filter(user=user).values_list("role", flat=True)),
            GrantKind.TEAM: {str(pk) for pk in user.teams.values_list("pk", flat=True)},
            GrantKind.MANAGER: {""} if user.is_manager else set(),
            GrantKind.ADMIN: {""} if (user.is_staff and user.is_superuser) else set(),
        }
        flags_changed = False
        for kind, wanted in want.items():
            for value in sorted(wanted - have[kind]):
                flags_changed |= _grant(user, kind, value)
                DirectoryGrant.objects.create(user=user, kind=kind, value=value, source=source)
                changes.granted.append(_label(kind, value))
            for (g_kind, value), grant in grants.items():
                if g_kind != kind or value in wanted:
                    continue
                if value in have[kind]:
                    flags_changed |= _revoke(user, kind, value)
                    changes.removed.append(_label(kind, value))
                grant.delete()
        if flags_changed:
            user.save(update_fields=["is_manager", "is_staff", "is_superuser"])
    for flag in ("is_manager", "is_staff", "is_superuser"):  # the caller's instance sees the flags too
        setattr(person, flag, getattr(user, flag))
    person.forget_cached_memberships()
    if changes:
        log.info(
            "directory groups (%s) of %s: granted %s, removed %s",
            source,
            user.username,
            changes.granted,
            changes.removed,
        )
    return changes


def _grant(user, kind, value) -> bool:
    if kind == GrantKind.ROLE:
        RoleAssignment.objects.create(user=user, role=value)
    elif kind == GrantKind.TEAM:
        Team.objects.get(pk=int(value)).members.add(user)
    elif kind == GrantKind.MANAGER:
        user.is_manager = True
        return True
    elif kind == GrantKind.ADMIN:
        user.is_staff = user.is_superuser = True
        return True
    return False


def _revoke(user, kind, value) -> bool:
    if kind == GrantKind.ROLE:
        for assignment in RoleAssignment.objects.filter(user=user, role=value):
            assignment.delete()  # one by one: each delete is in the audit trail
    elif kind == GrantKind.TEAM:
        team = Team.objects.filter(pk=int(value)).first()
        if team is not None:
            team.members.remove(user)
    elif kind == GrantKind.MANAGER:
        user.is_manager = False
        return True
    elif kind == GrantKind.ADMIN:
        user.is_staff = user.is_superuser = False
        return True
    return False


def _label(kind, value) -> str:
    if kind == GrantKind.ROLE:
        return f"role {RoleCluster(value).label}"
    if kind == GrantKind.TEAM:
        team = Team.objects.filter(pk=int(value)).first()
        return f"team {team.name if team else value}"
    return "manager" if kind == GrantKind.MANAGER else "administrator"


# --- profile -------------------------------------------------------------------------


def update_profile(
    user: User,
    *,
    source: str,
    external_id: str = "",
    department: str = "",
    phone: str = "",
    manager_dn: str = "",
    groups=(),
) -> DirectoryProfile:
    """The directory's attributes the User has no field for; the manager is found by the DN of
    their own profile (they may be imported later: the next sync links them)."""
    manager = None
    if manager_dn:
        found = DirectoryProfile.objects.filter(external_id__iexact=manager_dn).select_related("user").first()
        manager = found.user if found else None
    values = {
        "source": source if source != "sync" else "ldap",
        "external_id": external_id[:500],
        "department": department[:150],
        "phone": phone[:64],
        "manager": manager,
        "manager_dn": manager_dn[:500],
        "groups": sorted(normalise_group(g) for g in groups),
        "last_seen_at": timezone.now(),
    }
    with audit.acting_as(None, via=via(source), reason="Directory profile"):
        profile, created = DirectoryProfile.objects.get_or_create(user=user, defaults=values)
        if not created:
            changed = [k for k, v in values.items() if getattr(profile, k) != v]
            for k in changed:
                setattr(profile, k, values[k])
            if changed:
                profile.save(update_fields=changed)
    return profile


def reactivate_if_directory_deactivated(user: User, *, source: str) -> User:
    """The directory enables a person again whom it had disabled: the portal follows. A person
    an administrator deactivated by hand stays deactivated."""
    profile = DirectoryProfile.objects.filter(user=user, deactivated_at__isnull=False).first()
    if profile is None or user.is_active:
        return user
    with transaction.atomic(), audit.acting_as(None, via=via(source), reason="Enabled again in the directory"):
        user.is_active = True
        user.save(update_fields=["is_active"])
        profile.deactivated_at = None
        profile.save(update_fields=["deactivated_at"])
    return user


# --- deactivation ---------------------------------------------------------------------


def open_assignments(user: User) -> list:
    """What is still assigned to the person: open incidents and problems, changes they are to implement."""
    from changes.models import RequestForChange
    from incidents.choices import OPEN_STATES
    from incidents.models import Incident

    found = list(
        Incident.objects.filter(assignee=user, status__in=OPEN_STATES).select_related("assignment_group__manager")
    )
    found += list(RequestForChange.objects.filter(implementer=user).exclude(status__in=_closed_change_states()))
    return found


def _closed_change_states():
    from changes.choices import ChangeStatus

    return [
        ChangeStatus.REJECTED,
        ChangeStatus.IMPLEMENTED,
        ChangeStatus.BACKED_OUT,
        ChangeStatus.CLOSED,
        ChangeStatus.CANCELLED,
    ]


def deactivate_person(user: User, *, reason: str, source: str = "sync") -> int:
    """The directory disabled or removed `user`: they can no longer sign in; tickets, history,
    ownerships and assignments stay. The managers of the groups their open assignments sit
    with (else the managers of their teams, else the portal's managers) are told by mail what
    to reassign. Returns how many open assignments were flagged."""
    with transaction.atomic(), audit.acting_as(None, via=via(source), reason=reason):
        user.is_active = False
        user.save(update_fields=["is_active"])
        DirectoryProfile.objects.filter(user=user).update(deactivated_at=timezone.now())
        assignments = open_assignments(user)
        if assignments:
            by_manager: dict[int, tuple[User, list]] = {}
            for item in assignments:
                for manager in _managers_for(user, item):
                    by_manager.setdefault(manager.pk, (manager, []))[1].append(item)
            for manager, items in by_manager.values():
                name = notifications.person(user)
                notifications.write_from_template(
                    [manager],
                    "identity/deactivated",
                    {
                        "name": name,
                        "username": user.username,
                        "reason": reason,
                        "items": [{"label": str(item), "url": absolute_url(item)} for item in items],
                    },
                    subject=f"{name} left the directory: {len(items)} open assignment(s) to reassign",
                )
    return len(assignments)


def _managers_for(user, item) -> list[User]:
    group = getattr(item, "assignment_group", None)
    if group is not None and group.manager_id and group.manager.is_active and group.manager_id != user.pk:
        return [group.manager]
    managers = [
        t.manager
        for t in user.teams.select_related("manager")
        if t.manager_id and t.manager.is_active and t.manager_id != user.pk
    ]
    if managers:
        return list({m.pk: m for m in managers}.values())
    return list(
        User.objects.filter(is_active=True, is_manager=True, is_service_account=False, is_system=False).exclude(
            pk=user.pk
        )
    )


# --- mappings from settings -----------------------------------------------------------


def seed_mappings(mapping: dict | None = None) -> list[DirectoryGroupMapping]:
    """Add the mappings of MOF_DIRECTORY_GROUP_MAP that the database does not have yet:
    {"<group DN or name>": {"roles": ["support"], "teams": ["Service desk"], "manager": false,
    "admin": false}}. A team named there that does not exist is created in the role cluster of
    the mapping's first role (Support if it has none)."""
    mapping = settings.MOF_DIRECTORY_GROUP_MAP if mapping is None else mapping
    added = []
    existing = {m.key for m in DirectoryGroupMapping.objects.all()}
    with transaction.atomic(), audit.acting_as(None, via="settings", reason="MOF_DIRECTORY_GROUP_MAP"):
        for group, spec in (mapping or {}).items():
            if normalise_group(group) in existing:
                continue
            roles = [r for r in spec.get("roles", ()) if r in RoleCluster.values]
            m = DirectoryGroupMapping.objects.create(
                group=group,
                roles=roles,
                is_manager=bool(spec.get("manager")),
                is_admin=bool(spec.get("admin")),
                description=str(spec.get("description", ""))[:200],
                from_settings=True,
            )
            for name in spec.get("teams", ()):
                team, _ = Team.objects.get_or_create(
                    name=name, defaults={"role_cluster": roles[0] if roles else RoleCluster.SUPPORT}
                )
                m.teams.add(team)
            added.append(m)
    return added


def seed_mappings_after_migrate(sender, **kwargs):
    if getattr(settings, "MOF_DIRECTORY_GROUP_MAP", None):
        seed_mappings()
