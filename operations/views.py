"""Pages of the Operating quadrant: freeze and maintenance windows."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse

from mof import policy
from mof.views import _get_or_404, history_rows, quadrant_page, transition_panel, transition_view
from operations.models import FreezeWindow, MaintenanceWindow

WEEKDAYS = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}


def _freezes(user):
    return FreezeWindow.objects.prefetch_related("services").select_related("proposed_by") if policy.can(user, "freeze.view") else FreezeWindow.objects.none()


def _maintenance(user):
    return MaintenanceWindow.objects.select_related("service", "ci") if policy.can(user, "window.view") else MaintenanceWindow.objects.none()


@login_required
def landing(request):
    """The Operating quadrant: its SMFs, what exists for each, and the review it ends in."""
    stats = []
    if policy.can(request.user, "freeze.view"):
        stats.append({"label": "change freezes in force", "value": _freezes(request.user).in_force().count(), "url": reverse("operations_windows")})
    return quadrant_page(request, "operating", extra_stats=stats)


@login_required
def windows(request):
    maintenance = list(_maintenance(request.user)[:500])
    for window in maintenance:
        window.weekday_names = ", ".join(WEEKDAYS.get(d, str(d)) for d in window.weekdays or [])
    return render(
        request,
        "operations/windows.html",
        {
            "freezes": list(_freezes(request.user).order_by("-start")[:200]),
            "maintenance": maintenance,
            "can_view": policy.can(request.user, "freeze.view") or policy.can(request.user, "window.view"),
        },
    )


def _freeze_get(user, pk):
    return _freezes(user).get(pk=pk)


def _freeze_context(request, freeze, panel=None):
    return {
        "freeze": freeze,
        "services": list(freeze.services.all()),
        "history": history_rows(freeze, user=request.user),
        **(panel or transition_panel(request, freeze, url_name="freeze_transition")),
    }


@login_required
def freeze_detail(request, pk):
    freeze = _get_or_404(_freeze_get, request.user, pk)
    return render(request, "operations/freeze_detail.html", _freeze_context(request, freeze))


@login_required
def freeze_transition(request, pk, name):
    return transition_view(
        request, model=FreezeWindow, pk=pk, name=name, get_object=_freeze_get, url_name="freeze_transition",
        success_url=lambda obj: reverse("freeze_detail", args=[obj.pk]),
        render_page=lambda request, obj, panel, status: render(
            request, "operations/freeze_detail.html", _freeze_context(request, obj, panel), status=status
        ),
    )
