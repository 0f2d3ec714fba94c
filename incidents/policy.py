"""Who may do what in the service desk: added to the one policy table."""

from mof import policy
from mof.choices import RoleCluster as R
from mof.policy import any_of, has_role, holds, is_internal, is_manager, is_system

desk = any_of(is_manager, has_role(R.SUPPORT, R.OPERATIONS, R.INFRASTRUCTURE))


def is_caller(user, incident) -> bool:
    return incident is not None and getattr(user, "pk", None) is not None and incident.caller_id == user.pk


def in_group(user, incident) -> bool:
    return (
        incident is not None
        and incident.assignment_group_id is not None
        and incident.assignment_group_id in getattr(user, "team_ids", ())
    )


def is_assignee(user, incident) -> bool:
    return incident is not None and getattr(user, "pk", None) is not None and incident.assignee_id == user.pk


def raised_by_system(user, incident) -> bool:
    """The portal's own account works the incidents it raised itself (monitoring
    events, failed jobs): it resolves them when the condition clears."""
    return is_system(user) and is_caller(user, incident)


def incident_visible(user, incident=None) -> bool:
    return is_internal(user) or is_caller(user, incident)


RULES = {
    "incident.view": incident_visible,
    "incident.add": policy.authenticated,
    # The system account files for monitoring and the job schedule with impact and CIs.
    "incident.file_for_others": any_of(desk, is_system),
    "incident.change": any_of(desk, in_group, is_assignee),
    "incident.comment": any_of(is_internal, is_caller),
    "incident.work_note": is_internal,
    "incident.read_work_notes": is_internal,
    # Files (mof.attachments): whoever may comment may attach; internal ones are IT staff's.
    "incident.attach": any_of(is_internal, is_caller),
    "incident.transition.work": any_of(desk, in_group, is_assignee, raised_by_system),
    "incident.transition.reopen": any_of(is_caller, desk),
    "incident.transition.close": any_of(desk, is_system),
    "incident.declare_major": is_manager,
    "incident.bulk": desk,
    "priority.configure": is_manager,
    "assignmentgroup.view": policy.authenticated,
    "problem.view": is_internal,
    "problem.add": any_of(desk, has_role(R.RELEASE)),
    "problem.change": any_of(desk, holds("problem_manager_id")),
    "problem.attach": is_internal,
    "problem.transition.work": any_of(desk, holds("problem_manager_id")),
    "problem.transition.resolve": any_of(is_internal, is_system),
    "problem.transition.close_no_fix": any_of(is_manager, holds("problem_manager_id")),
    "problemproposal.decide": any_of(is_manager, has_role(R.SUPPORT)),
    "knownerror.view": policy.authenticated,
    # Mail into the service desk (incidents.mailbox): the desk sees what came in and decides
    # what was parked (open it as an incident for a person, or drop it).
    "inbound_mail.view": desk,
    "inbound_mail.decide": desk,
}


def register():
    for action, rule in RULES.items():
        if action not in policy.RULES:
            policy.register(action, rule)
