from mof import policy
from mof.policy import is_internal, is_manager

RULES = {
    "sla.view": is_internal,
    "sla.edit": is_manager,
    "sla.transition.submit": is_manager,
    "sla.transition.activate": is_manager,
    "sla.transition.retire": is_manager,
    "calendar.view": is_internal,
    "calendar.edit": is_manager,
}


def register():
    for action, rule in RULES.items():
        if action not in policy.RULES:
            policy.register(action, rule)
