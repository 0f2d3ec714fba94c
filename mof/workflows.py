"""State graphs. Each transition declares, in `custom`:
label     what the button says
form      the form class its input is validated with (reason, ...), shared by page and API
duty      the duty the actor performs (approve, test, ...), read by separation of duties
Conditions are plain functions with a `message` saying why they fail.
Permissions are decided by mof.policy, never here.
"""

from django_fsm import transition

from mof.choices import CIStatus
from mof.transition_forms import ReasonForm


def condition(message: str):
    """Mark a condition function with the reason shown when it fails."""

    def decorate(func):
        func.message = message
        return func

    return decorate


def permission(action: str):
    """A django-fsm permission callable that asks the one policy."""

    def check(instance, user):
        from mof import policy

        return policy.can(user, action, instance)

    check.action = action
    return check


@condition("A CI needs an owner before it goes into service.")
def has_owner(ci) -> bool:
    return ci.owner_id is not None


class ConfigurationItemWorkflow:
    """planned -> in service -> retired; a retired CI may be reinstated as planned."""

    @transition(
        field="status",
        source=CIStatus.PLANNED,
        target=CIStatus.IN_SERVICE,
        conditions=[has_owner],
        permission=permission("ci.transition.commission"),
        custom={"label": "Put into service"},
    )
    def commission(self, *, by=None, **data):
        pass

    @transition(
        field="status",
        source=[CIStatus.PLANNED, CIStatus.IN_SERVICE],
        target=CIStatus.RETIRED,
        permission=permission("ci.transition.retire"),
        custom={"label": "Retire", "form": ReasonForm},
    )
    def retire(self, *, by=None, reason: str = "", **data):
        self.retired_reason = reason

    @transition(
        field="status",
        source=CIStatus.RETIRED,
        target=CIStatus.PLANNED,
        permission=permission("ci.transition.reinstate"),
        custom={"label": "Reinstate", "form": ReasonForm},
    )
    def reinstate(self, *, by=None, reason: str = "", **data):
        self.retired_reason = ""
