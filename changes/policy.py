"""Who may do what with changes, templates, releases and windows: added to the one policy table."""

from changes.choices import ApprovalPath, ChangeStatus
from mof import policy
from mof.choices import RoleCluster as R
from mof.policy import any_of, has_role, holds, is_internal, is_manager

PARTIES = ("requester", "change_manager", "developer", "tester", "implementer")


def _is(field):
    def rule(user, change):
        return (
            change is not None
            and user is not None
            and user.is_authenticated
            and getattr(change, f"{field}_id", None) == user.pk
        )

    return rule


def is_party(user, change) -> bool:
    return any(_is(f)(user, change) for f in PARTIES)


def change_visible(user, change=None) -> bool:
    return is_internal(user) or (change is not None and is_party(user, change))


EDITABLE_BY_REQUESTER = [ChangeStatus.DRAFT, ChangeStatus.SUBMITTED]


def change_editable(user, change) -> bool:
    if change is None:
        return False
    if change.status in (ChangeStatus.CLOSED, ChangeStatus.CANCELLED, ChangeStatus.REJECTED):
        return False
    if is_manager(user) or _is("change_manager")(user, change):
        return True
    if change.status in EDITABLE_BY_REQUESTER and _is("requester")(user, change):
        return True
    # After approval the builders record their part (test results, test environment).
    return change.status in (ChangeStatus.IN_DEVELOPMENT, ChangeStatus.IN_TEST) and (
        _is("developer")(user, change) or _is("tester")(user, change)
    )


def may_approve(user, change) -> bool:
    if change is not None and change.approval_path == ApprovalPath.CHANGE_MANAGER:
        return _is("change_manager")(user, change) or is_manager(user)
    return is_manager(user)  # the CAB's chair fires it when the meeting decides


RULES = {
    "change.view": change_visible,
    "change.add": is_internal,
    "change.change": change_editable,
    "change.comment": change_visible,
    "change.attach": change_visible,
    "change.analyse_impact": any_of(is_manager, _is("change_manager"), _is("requester"), has_role(R.RELEASE)),
    "change.transition.submit": any_of(is_manager, _is("requester"), _is("change_manager")),
    "change.transition.pre_approve": any_of(is_manager, _is("requester"), _is("change_manager")),
    "change.transition.assess": any_of(is_manager, _is("change_manager"), has_role(R.RELEASE)),
    "change.transition.approve": may_approve,
    "change.transition.schedule": any_of(is_manager, _is("change_manager"), _is("requester"), _is("implementer")),
    "change.transition.develop": any_of(is_manager, _is("change_manager"), _is("developer")),
    "change.transition.test": any_of(is_manager, _is("change_manager"), _is("tester")),
    "change.transition.readiness": is_manager,
    "change.transition.implement": any_of(is_manager, _is("change_manager"), _is("implementer")),
    "change.transition.close": any_of(is_manager, _is("change_manager")),
    "change.transition.cancel": any_of(is_manager, _is("change_manager"), _is("requester")),
    "changetemplate.view": is_internal,
    "changetemplate.add": any_of(is_manager, has_role(R.RELEASE)),
    "changetemplate.change": any_of(is_manager, holds("owner_id")),
    "changetemplate.transition.approve": is_manager,
    "changetemplate.transition.retire": is_manager,
    "release.view": is_internal,
    "release.add": any_of(is_manager, has_role(R.RELEASE)),
    "release.change": any_of(is_manager, holds("release_manager_id")),
    "release.transition.manage": any_of(is_manager, holds("release_manager_id")),
    "release.transition.readiness": is_manager,
    "release.transition.close": is_manager,
    "freeze.view": is_internal,
    "freeze.add": is_manager,
    "freeze.transition.approve": is_manager,
    "freeze.transition.activate": is_manager,
    "window.view": is_internal,
    "window.edit": is_manager,
}


def register():
    for action, rule in RULES.items():
        if action not in policy.RULES:
            policy.register(action, rule)
