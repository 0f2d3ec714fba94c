"""Pages of the Changing quadrant: requests for change, releases and standard-change
templates. Reads through changes.selectors, state changes through the one generic
transition view (mof.views.transition_view) and changes.services.change_transition."""
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import render
from django.urls import reverse

from changes import selectors, services
from changes.choices import ChangeStatus, ChangeType
from changes.models import Release, RequestForChange, StandardChangeTemplate
from mof import policy
from mof.models import ConfigurationItem
from mof.pagination import paginate, parse_positive_int
from mof.views import PAGE_SIZE, MAX_PAGE_SIZE, _get_or_404, history_rows, quadrant_page, transition_panel, transition_view


@login_required
def landing(request):
    """The Changing quadrant: its SMFs, what exists for each, and the review it ends in."""
    changes = selectors.change_list(user=request.user).order_by()
    stats = [
        {"label": "changes awaiting a decision", "value": changes.filter(status__in=[ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED]).count(), "url": reverse("change_list") + "?status=assessed"},
        {"label": "changes ready for deployment", "value": changes.filter(status=ChangeStatus.READY).count(), "url": reverse("change_list") + "?status=ready_for_deployment"},
    ]
    return quadrant_page(request, "changing", extra_stats=stats)


def _page(request, qs):
    return paginate(
        qs,
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=parse_positive_int(request.GET.get("page_size"), PAGE_SIZE, MAX_PAGE_SIZE),
    )


# --- requests for change ----------------------------------------------------------------


def _change_get(user, pk):
    return selectors.change_get(user=user, pk=pk)


@login_required
def change_list(request):
    qs = selectors.change_list(user=request.user)
    status, change_type, q = request.GET.get("status", ""), request.GET.get("type", ""), request.GET.get("q", "").strip()
    if status in ChangeStatus.values:
        qs = qs.filter(status=status)
    if change_type in ChangeType.values:
        qs = qs.filter(type=change_type)
    if q:
        number = q.upper().removeprefix("CHG-")
        qs = qs.filter(number=int(number)) if number.isdigit() else qs.filter(title__icontains=q)
    by_status = dict(
        selectors.change_list(user=request.user).order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    return render(
        request,
        "changes/change_list.html",
        {
            "page": _page(request, qs),
            "statuses": [(value, label, by_status.get(value, 0)) for value, label in ChangeStatus.choices],
            "types": ChangeType.choices,
            "status": status,
            "type": change_type,
            "q": q,
        },
    )


def _change_context(request, change, panel=None):
    user = request.user
    visible_ci_ids = set(policy.visible_cis(user).filter(pk__in=change.impacted_ci_ids or []).values_list("pk", flat=True))
    return {
        "change": change,
        "show_paths": policy.is_internal(user),  # paths name CIs a partner may not see
        "affected_cis": list(policy.visible_cis(user).filter(changes=change).select_related("ci_class")),
        "test_environment": list(policy.visible_cis(user).filter(test_changes=change).select_related("ci_class")),
        "impacted_cis": list(ConfigurationItem.objects.filter(pk__in=visible_ci_ids).select_related("ci_class").order_by("name")[:200]),
        "stakeholders": list(change.stakeholders.select_related("user")),
        "comments": list(change.comments.select_related("author")),
        "releases": list(change.releases.all()) if policy.can(user, "release.view") else [],
        "history": history_rows(
            change, user=user, redact=() if policy.is_internal(user) else ("affected_services", "impacted_ci_ids")
        ),
        **(panel or transition_panel(request, change, url_name="change_transition")),
    }


@login_required
def change_detail(request, pk):
    change = _get_or_404(_change_get, request.user, pk)
    return render(request, "changes/change_detail.html", _change_context(request, change))


def _change_perform(*, actor, pk, name, data):
    return services.change_transition(actor=actor, change_id=pk, name=name, data=data)


@login_required
def change_transition(request, pk, name):
    return transition_view(
        request, model=RequestForChange, pk=pk, name=name, get_object=_change_get, url_name="change_transition",
        perform=_change_perform,
        render_page=lambda request, obj, panel, status: render(
            request, "changes/change_detail.html", _change_context(request, obj, panel), status=status
        ),
    )


# --- releases ---------------------------------------------------------------------------


def _release_get(user, pk):
    return selectors.release_list(user=user).get(pk=pk)


@login_required
def release_list(request):
    qs = selectors.release_list(user=request.user).annotate(change_count=Count("changes"))
    return render(request, "changes/release_list.html", {"page": _page(request, qs), "can_view": policy.can(request.user, "release.view")})


def _release_context(request, release, panel=None):
    return {
        "release": release,
        "changes": list(selectors.visible_changes(request.user, release.changes.all()).order_by("-number")),
        "artifacts": list(release.artifacts.all()),
        "history": history_rows(release, user=request.user),
        **(panel or transition_panel(request, release, url_name="release_transition")),
    }


@login_required
def release_detail(request, pk):
    release = _get_or_404(_release_get, request.user, pk)
    return render(request, "changes/release_detail.html", _release_context(request, release))


@login_required
def release_transition(request, pk, name):
    return transition_view(
        request, model=Release, pk=pk, name=name, get_object=_release_get, url_name="release_transition",
        render_page=lambda request, obj, panel, status: render(
            request, "changes/release_detail.html", _release_context(request, obj, panel), status=status
        ),
    )


# --- standard-change templates -----------------------------------------------------------


def _template_get(user, pk):
    return selectors.template_list(user=user).get(pk=pk)


@login_required
def change_template_list(request):
    qs = selectors.template_list(user=request.user).annotate(change_count=Count("changes"))
    return render(
        request, "changes/template_list.html", {"page": _page(request, qs), "can_view": policy.can(request.user, "changetemplate.view")}
    )


def _template_context(request, template, panel=None):
    from mof.services import risk_level_for

    score = template.risk_probability * template.risk_impact
    return {
        "template": template,
        "risk_score": score,
        "risk_level": risk_level_for(score),
        "recent_changes": list(selectors.visible_changes(request.user, template.changes.all()).order_by("-number")[:20]),
        "history": history_rows(template, user=request.user),
        **(panel or transition_panel(request, template, url_name="change_template_transition")),
    }


@login_required
def change_template_detail(request, pk):
    template = _get_or_404(_template_get, request.user, pk)
    return render(request, "changes/template_detail.html", _template_context(request, template))


@login_required
def change_template_transition(request, pk, name):
    return transition_view(
        request, model=StandardChangeTemplate, pk=pk, name=name, get_object=_template_get,
        url_name="change_template_transition",
        render_page=lambda request, obj, panel, status: render(
            request, "changes/template_detail.html", _template_context(request, obj, panel), status=status
        ),
    )


