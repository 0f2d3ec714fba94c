"""Reads of the Operating quadrant that other apps may use.

A freeze is *in force* when it is approved or active and its period overlaps: in force
is derived from time, not from the `active` status, so a freeze blocks changes planned
inside it from the moment it is approved, whether or not the clock task has marked it
active yet (operations.tasks.freeze_clock only keeps the recorded status in step).
"""

from __future__ import annotations

from django.db.models import Q

from mof import policy


def freeze_windows_overlapping(start, end, *, service_ids=None):
    """Freezes in force overlapping [start, end). With `service_ids`, only the global
    ones (no services named) and those naming one of these services."""
    from operations.models import FreezeWindow

    qs = FreezeWindow.objects.in_force().filter(start__lt=end, end__gt=start)
    if service_ids is not None:
        qs = qs.filter(Q(services__isnull=True) | Q(services__in=list(service_ids))).distinct()
    return list(qs.order_by("start", "pk"))


def maintenance_windows_for(*, service_ids=(), ci_ids=()):
    from operations.models import MaintenanceWindow

    service_ids, ci_ids = list(service_ids), list(ci_ids)
    if not service_ids and not ci_ids:
        return []
    return list(
        MaintenanceWindow.objects.filter(Q(service_id__in=service_ids) | Q(ci_id__in=ci_ids))
        .select_related("service", "ci")
        .order_by("pk")
    )


def freeze_list(*, user):
    from operations.models import FreezeWindow

    if not policy.can(user, "freeze.view"):
        return FreezeWindow.objects.none()
    return FreezeWindow.objects.select_related("proposed_by", "approved_by").prefetch_related("services")


def maintenance_list(*, user):
    from operations.models import MaintenanceWindow

    if not policy.can(user, "window.view"):
        return MaintenanceWindow.objects.none()
    return MaintenanceWindow.objects.select_related("service", "ci")


def maintenance_occurrences(*, user, start, end, service_ids=None, ci_ids=None):
    """Occurrences of the maintenance windows the user may see in [start, end)."""
    from operations.schedule import occurrences

    qs = maintenance_list(user=user)
    if service_ids is not None or ci_ids is not None:
        qs = qs.filter(Q(service_id__in=list(service_ids or ())) | Q(ci_id__in=list(ci_ids or ())))
    found = []
    for window in qs.order_by("pk"):
        found.extend((window, occ) for occ in occurrences(window, start, end))
    found.sort(key=lambda pair: (pair[1].start, pair[0].pk))
    return found


def feed_token_for(*, user):
    from operations.models import CalendarFeedToken

    return CalendarFeedToken.objects.live().filter(user=user).first()
