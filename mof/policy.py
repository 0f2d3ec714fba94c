"""Who may do what: decided here, from role clusters, the manager flag and ownership.

Pages, the API, the admin and the transition service all ask `can()`; `require()` asks
and records a refusal. Querysets of what a person may see come from `visible_*`.
"""

from __future__ import annotations

from typing import Callable

from django.core.exceptions import PermissionDenied

from mof.choices import RoleCluster as R

Rule = Callable[[object, object], bool]

CMDB_EDITORS = (R.INFRASTRUCTURE, R.OPERATIONS, R.RELEASE)


def _active(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def is_admin(user, obj=None) -> bool:
    return _active(user) and user.is_superuser


def is_manager(user, obj=None) -> bool:
    return _active(user) and (user.is_manager or user.is_superuser)


def is_internal(user, obj=None) -> bool:
    return _active(user) and user.is_internal_staff


def has_role(*roles) -> Rule:
    def rule(user, obj=None):
        return _active(user) and user.has_role(*roles)

    return rule


def holds(field: str) -> Rule:
    """The person named in the record's `field` (its release manager, its problem manager):
    an active person, and never a match of two blanks (no one named, no one signed in)."""

    def rule(user, obj=None):
        return _active(user) and obj is not None and getattr(obj, field, None) == user.pk

    return rule


owns = holds("owner_id")


def is_system(user, obj=None) -> bool:
    """The portal's own account, used by scheduled tasks (auto-close, sweeps)."""
    return _active(user) and getattr(user, "is_system", False)


def authenticated(user, obj=None) -> bool:
    return _active(user)


def any_of(*rules: Rule) -> Rule:
    def rule(user, obj=None):
        return any(r(user, obj) for r in rules)

    return rule


def ci_visible(user, obj=None) -> bool:
    return is_internal(user) or (obj is not None and owns(user, obj))


def relationship_editable(user, relationship) -> bool:
    # Editing an edge edits what its source depends on.
    source = getattr(relationship, "source", None)
    return can(user, "ci.change", source)


def token_owner_may(user, owner) -> bool:
    """Tokens of a service account are an admin's; a person's own tokens are theirs."""
    if owner is None or not _active(user):
        return False
    if getattr(owner, "is_service_account", False):
        return is_admin(user)
    return owner.pk == user.pk and not user.is_service_account and not getattr(user, "is_system", False)


RULES: dict[str, Rule] = {
    # IT services: everyone may read the catalogue; managers and owners maintain it.
    "service.view": authenticated,
    "service.add": is_manager,
    "service.change": any_of(is_manager, owns),
    "service.delete": is_manager,
    # CMDB: internal staff read it all; partners read the CIs they own.
    "ci.view": ci_visible,
    "ci.add": any_of(is_manager, has_role(*CMDB_EDITORS)),
    "ci.change": any_of(is_manager, has_role(*CMDB_EDITORS), owns),
    "ci.delete": is_manager,
    "ci.transition.commission": any_of(is_manager, has_role(R.INFRASTRUCTURE, R.OPERATIONS, R.RELEASE)),
    "ci.transition.retire": any_of(is_manager, has_role(R.INFRASTRUCTURE, R.OPERATIONS)),
    "ci.transition.reinstate": is_manager,
    "relationship.add": relationship_editable,
    "relationship.delete": relationship_editable,
    "ciclass.add": is_manager,
    # Team Model: admins provision people; internal staff may look colleagues up.
    "user.view_all": is_internal,
    "user.provision": is_admin,
    # Risk Model.
    "risk.assess": any_of(is_manager, has_role(R.RELEASE, R.INFRASTRUCTURE, R.OPERATIONS, R.SECURITY)),
    "risk.configure": is_manager,
    # Separation-of-duties rules and the audit trail's security events.
    "separation.configure": is_manager,
    "audit.view_security": any_of(is_admin, has_role(R.SECURITY)),
    "review.decide": is_manager,
    # Attachments marked internal (on a work note): IT staff attach and read them, never a caller.
    "attachment.internal": is_internal,
    # Security administration: admins provision service accounts and their tokens; a
    # person keeps personal tokens; admins (and Security read-only) watch login lockouts.
    "service_account.manage": is_admin,
    "token.issue": lambda user, owner=None: token_owner_may(user, owner),
    "token.rotate": lambda user, token=None: token is not None and token_owner_may(user, token.user),
    # An admin may also revoke a person's token (a leaked key), never use or rotate it.
    "token.revoke": lambda user, token=None: (
        token is not None and (is_admin(user) or token_owner_may(user, token.user))
    ),
    "lockout.view": any_of(is_admin, has_role(R.SECURITY)),
    "lockout.clear": is_admin,
}


def can(user, action: str, obj=None) -> bool:
    try:
        rule = RULES[action]
    except KeyError:  # an unknown action is a programming error, never a silent yes
        raise KeyError(f"No policy rule for {action!r}") from None
    return bool(rule(user, obj))


class Refused(PermissionDenied):
    """A refusal already recorded in the audit trail."""

    recorded = True


def require(user, action: str, obj=None) -> None:
    """Raise Refused (and record the refusal) unless `user` may do `action`."""
    if not can(user, action, obj):
        from mof import audit

        audit.record_refusal(
            actor=user if _active(user) else None, action=action, target=obj, reasons=["not permitted"]
        )
        raise Refused(f"You may not {action.replace('.', ' ').replace('_', ' ')}.")


# --- what a person may see ---------------------------------------------------------


def visible_cis(user, queryset=None):
    from mof.models import ConfigurationItem

    qs = ConfigurationItem.objects.all() if queryset is None else queryset
    if is_internal(user):
        return qs
    if _active(user):
        return qs.filter(owner=user)
    return qs.none()


def visible_users(user, queryset=None):
    from mof.models import User

    qs = User.objects.all() if queryset is None else queryset
    if can(user, "user.view_all"):
        return qs
    if _active(user):
        return qs.filter(pk=user.pk)
    return qs.none()


def register(action: str, rule: Rule) -> None:
    """Later apps add their actions here, so the policy stays one table."""
    if action in RULES:
        raise ValueError(f"Policy rule {action!r} is already defined")
    RULES[action] = rule
