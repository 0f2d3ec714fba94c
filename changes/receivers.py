"""Reactions to transitions of changes and releases, registered with the one door
(mof.transitions) when the app is ready: models know nothing of services."""

from django.dispatch import receiver

from changes.models import Release, RequestForChange
from mof.transitions import transition_starting, transitioned


@receiver(transition_starting, sender=RequestForChange, dispatch_uid="changes_lock_schedule_marks")
def lock_schedule_marks(sender, name, **kwargs):
    """Before the row lock, as every marks refresh does: one lock order, no deadlock. Only for
    transitions into or out of the scheduled states: the others refresh nothing."""
    from changes.conflicts import lock_marks, transition_moves_schedule

    if transition_moves_schedule(sender, name):
        lock_marks()


@receiver(transitioned, sender=RequestForChange, dispatch_uid="changes_change_transitioned")
def change_transitioned(sender, instance, name, actor, **kwargs):
    from changes.conflicts import refresh_marks_around
    from changes.services import change_after_transition, change_window_after_transition

    refresh_marks_around(instance)
    change_window_after_transition(instance, name)
    change_after_transition(instance, name, actor=actor)


@receiver(transitioned, sender=Release, dispatch_uid="changes_release_transitioned")
def release_transitioned(sender, instance, name, actor, data, **kwargs):
    from changes.services import release_after_transition

    release_after_transition(instance, name, actor=actor, data=data)
