"""Who may manage outbound webhooks: managers (they hand the portal's events to other
tools); the portal itself may disable a subscription that keeps failing."""

from mof import policy
from mof.policy import any_of, is_manager, is_system

RULES = {
    "webhook.view": is_manager,
    "webhook.add": is_manager,
    "webhook.change": is_manager,
    "webhook.rotate_secret": is_manager,
    "webhook.ping": is_manager,
    "webhook.replay": is_manager,
    "webhook.transition.disable": any_of(is_manager, is_system),
    "webhook.transition.enable": is_manager,
}


def register():
    for action, rule in RULES.items():
        if action not in policy.RULES:
            policy.register(action, rule)
