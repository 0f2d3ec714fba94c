"""Reactions to other apps' lifecycles, through the one door."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from incidents.models import Incident, Problem
from mof.transitions import transitioned


@receiver(transitioned, dispatch_uid="incidents_change_closed")
def resolve_problems_fixed_by_a_closed_change(sender, instance, name, actor, **kwargs):
    """A problem is resolved when the change that fixes it closes: driven by the change, not by hand."""
    if sender._meta.label_lower != "changes.requestforchange" or name != "close":
        return
    from incidents.services import problems_fixed_by_change_closed

    problems_fixed_by_change_closed(change=instance, actor=actor)


@receiver(transitioned, sender=Incident, dispatch_uid="incidents_incident_transitioned")
def incident_transitioned(sender, instance, name, actor, data, **kwargs):
    from incidents.services import incident_after_transition

    incident_after_transition(instance, name, actor=actor, data=data)


@receiver(transitioned, sender=Problem, dispatch_uid="incidents_problem_transitioned")
def problem_transitioned(sender, instance, name, actor, data, **kwargs):
    from incidents.services import problem_after_transition

    problem_after_transition(instance, name, actor=actor, data=data)


@receiver(post_save, sender="incidents.Incident", dispatch_uid="incidents_new_in_queue_mail")
def mail_the_group_of_a_new_incident(sender, instance, created, raw=False, **kwargs):
    """A new incident filed into a group's queue: the group's mail is stored in the save's own
    transaction (a filing needs no outer one), so it commits, or rolls back, with the incident."""
    if not created or raw or not instance.assignment_group_id:
        return
    from incidents.mail import incident_mail

    incident_mail("landed_in_queue", instance)
