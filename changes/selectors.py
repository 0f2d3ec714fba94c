"""Reads of the Changing quadrant, restricted to what the reader may see."""

from django.db.models import Q

from changes.models import Release, RequestForChange, StandardChangeTemplate
from mof import policy


def visible_changes(user, queryset=None):
    qs = RequestForChange.objects.all() if queryset is None else queryset
    if policy.is_internal(user):
        return qs
    if user is not None and user.is_authenticated and user.is_active:
        return qs.filter(
            Q(requester=user) | Q(change_manager=user) | Q(developer=user) | Q(tester=user) | Q(implementer=user)
        )
    return qs.none()


def change_list(*, user):
    return visible_changes(user).select_related(
        "requester", "change_manager", "implementer", "risk_assessment", "template"
    )


def change_get(*, user, pk) -> RequestForChange:
    return change_list(user=user).get(pk=pk)


def template_list(*, user):
    return (
        StandardChangeTemplate.objects.select_related("owner")
        if policy.can(user, "changetemplate.view")
        else StandardChangeTemplate.objects.none()
    )


def release_list(*, user):
    return (
        Release.objects.select_related("release_manager")
        if policy.can(user, "release.view")
        else Release.objects.none()
    )
