"""Who may do what in the Operating quadrant's service monitoring: added to the one
policy table (freeze and maintenance window rules live with the change rules)."""

from mof import policy
from mof.choices import RoleCluster as R
from mof.policy import any_of, has_role, is_admin, is_internal, is_manager

RULES = {
    # Monitoring integrations are service accounts with the Partner or Operations role.
    "event.post": any_of(is_admin, has_role(R.PARTNER, R.OPERATIONS)),
    # Internal staff read every event; a partner reads those of the CIs it owns (the
    # selectors filter by CI owner for anyone who is not internal staff).
    "event.view": any_of(is_internal, has_role(R.PARTNER)),
    # Mapping a name monitoring uses to a CI is CMDB work.
    "event.map": any_of(is_manager, has_role(R.OPERATIONS, R.INFRASTRUCTURE)),
}


def register():
    for action, rule in RULES.items():
        if action not in policy.RULES:
            policy.register(action, rule)
