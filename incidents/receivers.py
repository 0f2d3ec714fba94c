"""Reactions to other apps' lifecycles, through the one door."""
from django.dispatch import receiver

from mof.transitions import transitioned


@receiver(transitioned, dispatch_uid="incidents_change_closed")
def resolve_problems_fixed_by_a_closed_change(sender, instance, name, actor, **kwargs):
    """A problem is resolved when the change that fixes it closes: driven by the change, not by hand."""
    if sender._meta.label_lower != "changes.requestforchange" or name != "close":
        return
    from incidents.services import problems_fixed_by_change_closed

    problems_fixed_by_change_closed(change=instance, actor=actor)
