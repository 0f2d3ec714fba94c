"""Reactions to transitions of review meetings, registered with the one door (mof.transitions)
when the app is ready: models know nothing of services."""

from django.dispatch import receiver

from mof.transitions import transitioned
from reviews.models import Meeting


@receiver(transitioned, sender=Meeting, dispatch_uid="reviews_meeting_transitioned")
def meeting_transitioned(sender, instance, name, **kwargs):
    from reviews.services import meeting_after_transition

    meeting_after_transition(instance, name)
