"""A webhook subscription: active <-> disabled. Disabled by a manager, or by the portal
itself after repeated failed deliveries; only a manager enables it again."""

from django.utils import timezone
from django_fsm import transition

from integrations.choices import SubscriptionStatus as S
from mof.transition_forms import ReasonForm
from mof.workflows import permission


class WebhookSubscriptionWorkflow:
    @transition(
        field="status",
        source=S.ACTIVE,
        target=S.DISABLED,
        permission=permission("webhook.transition.disable"),
        custom={"label": "Disable", "form": ReasonForm},
    )
    def disable(self, *, by=None, reason="", **data):
        self.disabled_reason = reason
        self.disabled_at = timezone.now()

    @transition(
        field="status",
        source=S.DISABLED,
        target=S.ACTIVE,
        permission=permission("webhook.transition.enable"),
        custom={"label": "Enable"},
    )
    def enable(self, *, by=None, **data):
        # A fresh start: the failures that disabled it are history (kept in the delivery log).
        self.consecutive_failures = 0
        self.disabled_reason = ""
        self.disabled_at = None
