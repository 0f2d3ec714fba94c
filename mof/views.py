"""Pages of the shared core: home (the MOF cycle), the CMDB, IT services, the risk
matrix, and the generic transition view every app reuses.

Views are thin: reads through mof.selectors, writes through mof.services and
mof.transitions, permission through mof.policy. Exceptions map to HTTP here once:
TransitionUnknown 404, TransitionNotAllowed/ConcurrentTransition 409, Refused 403,
TransitionBlocked 400.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from mof import csv_io, graph, impact, policy, selectors, services
from mof.choices import CIStatus, ReviewKind, RiskLevel
from mof.context_processors import QUADRANTS, REVIEWS
from mof.deletion import HistoryKept
from mof.filtersets import CIFilterSet
from mof.forms import CIForm, RelationshipForm, ServiceForm, add_service_errors
from mof.models import (
    CIClass,
    CIRelationship,
    ConfigurationItem,
    ReviewDecisionRecord,
    RiskAssessment,
)
from mof.pagination import paginate, parse_positive_int
from mof.transitions import (
    ConcurrentTransition,
    TransitionBlocked,
    TransitionNotAllowed,
    TransitionUnknown,
    available_transitions,
    perform_transition,
)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
DATALIST_SIZE = 200


# --- errors ---------------------------------------------------------------------


def permission_denied(request, exception=None):
    message = str(exception) if exception and str(exception) else "You do not have permission to do this."
    return render(request, "403.html", {"message": message}, status=403)


def page_not_found(request, exception=None):
    if request.path.startswith("/api/"):  # API clients get the API's JSON error shape
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", {"path": request.path}, status=404)


def history_rows(obj, limit: int = 100, *, user=None, redact: tuple = ()) -> list:
    """The object's audit trail, newest first, with each field change as (field, from, to)
    or, for many-to-many fields, (field, verb, names). Names of configuration items are
    shown only to a reader who may see the whole CMDB (`user`), ids otherwise; the values
    of `redact` fields are not shown at all."""
    entries = list(selectors.history(obj)[:limit])
    wanted: dict[str, set] = {}
    for entry in entries:
        for field, change in (entry.changes or {}).items():
            if isinstance(change, dict):
                wanted.setdefault(field, set()).update(pk for ids in change.values() for pk in ids)
    names: dict[str, dict] = {}
    for field, ids in wanted.items():
        try:
            related = type(obj)._meta.get_field(field).related_model
        except Exception:
            related = None
        if related is None or (related is ConfigurationItem and not (user is not None and policy.is_internal(user))):
            continue
        names[field] = {o.pk: str(o) for o in related._default_manager.filter(pk__in=ids)}
    for entry in entries:
        rows = []
        for field, change in (entry.changes or {}).items():
            if field in redact:
                rows.append({"field": field, "verb": "changed", "items": "(not shown)"})
            elif isinstance(change, (list, tuple)) and len(change) == 2:
                rows.append({"field": field, "from": change[0], "to": change[1]})
            elif isinstance(change, dict):
                for verb, ids in change.items():
                    labels = [names.get(field, {}).get(i, f"#{i}") for i in ids]
                    rows.append({"field": field, "verb": verb, "items": ", ".join(labels) or "all"})
            else:
                rows.append({"field": field, "to": change})
        entry.change_rows = rows
    return entries


def _get_or_404(getter: Callable, *args, **kwargs):
    try:
        return getter(*args, **kwargs)
    except ObjectDoesNotExist:
        raise Http404("No such object, or you may not see it.") from None


# --- home: the MOF cycle ------------------------------------------------------------


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


@login_required
def home(request):
    user = request.user
    by_status = dict(
        policy.visible_cis(user).order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    decisions = dict(
        ReviewDecisionRecord.objects.order_by().values_list("kind").annotate(n=Count("pk")).values_list("kind", "n")
    )
    service_count = selectors.service_list(user=user).count()
    unowned_services = selectors.service_list(user=user).filter(owner__isnull=True).count()

    lines = {
        "changing": [_plural(by_status.get(CIStatus.PLANNED, 0), "CI planned", "CIs planned"), "awaiting service"],
        "operating": [_plural(by_status.get(CIStatus.IN_SERVICE, 0), "CI in service", "CIs in service")],
        "supporting": [_plural(service_count, "service supported", "services supported")],
        "optimizing": [_plural(unowned_services, "service", "services") + " without", "an owner"],
    }
    quadrants = [
        {"slug": q.slug, "name": q.name, "url": reverse(q.url_name), "lines": lines[q.slug]} for q in QUADRANTS
    ]
    queue = selectors.review_queue(user)
    reviews = [
        {
            "name": q.review_label,
            "url": reverse("reviews") + f"#{q.review}",
            "lines": [
                f"{sum(item['count'] for item in queue.get(q.review, [])):,} waiting",
                _plural(decisions.get(q.review, 0), "decision") + " recorded",
            ],
        }
        for q in QUADRANTS
    ]
    summary = [
        {
            "label": "Configuration items planned",
            "value": by_status.get(CIStatus.PLANNED, 0),
            "url": reverse("ci_list") + "?status=planned",
        },
        {
            "label": "Configuration items in service",
            "value": by_status.get(CIStatus.IN_SERVICE, 0),
            "url": reverse("ci_list") + "?status=in_service",
        },
        {
            "label": "Configuration items retired",
            "value": by_status.get(CIStatus.RETIRED, 0),
            "url": reverse("ci_list") + "?status=retired",
        },
        {"label": "IT services in the catalogue", "value": service_count, "url": reverse("service_list")},
        {"label": "Review decisions recorded", "value": sum(decisions.values()), "url": reverse("reviews")},
    ]
    return render(
        request,
        "mof/home.html",
        {"cycle_svg": graph.render_mof_cycle(quadrants, reviews), "summary": summary, "quadrants": QUADRANTS},
    )


# --- quadrant landing pages (used by the apps' views) ----------------------------------


def quadrant_stats(user, slug: str) -> list[dict]:
    """Live figures for a quadrant's landing page, from what exists and the reader may see."""
    if slug == "changing":
        by_status = dict(
            policy.visible_cis(user).order_by().values_list("status").annotate(n=Count("pk")).values_list("status", "n")
        )
        return [
            {
                "label": "planned, awaiting service",
                "value": by_status.get(CIStatus.PLANNED, 0),
                "url": reverse("ci_list") + "?status=planned",
            },
            {
                "label": "in service",
                "value": by_status.get(CIStatus.IN_SERVICE, 0),
                "url": reverse("ci_list") + "?status=in_service",
            },
            {
                "label": "retired",
                "value": by_status.get(CIStatus.RETIRED, 0),
                "url": reverse("ci_list") + "?status=retired",
            },
        ]
    services_qs = selectors.service_list(user=user)
    if slug == "operating":
        return [
            {"label": "IT services in the catalogue", "value": services_qs.count(), "url": reverse("service_list")},
            {
                "label": "configuration items in service",
                "value": policy.visible_cis(user).filter(status=CIStatus.IN_SERVICE).count(),
                "url": reverse("ci_list") + "?status=in_service",
            },
        ]
    if slug == "optimizing":
        return [
            {
                "label": "critical IT services",
                "value": services_qs.filter(criticality="critical").count(),
                "url": reverse("service_list"),
            },
            {
                "label": "IT services without an owner",
                "value": services_qs.filter(owner__isnull=True).count(),
                "url": reverse("service_list"),
            },
            {
                "label": "risk assessments recorded",
                "value": RiskAssessment.objects.count(),
                "url": reverse("risk_matrix"),
            },
        ]
    return []


def quadrant_page(request, slug: str, extra: dict | None = None, extra_stats: list[dict] | None = None):
    from mof.context_processors import quadrant

    q = quadrant(slug)
    review = next(r for r in REVIEWS if r["kind"] == q.review)
    stats = (extra_stats or []) + quadrant_stats(request.user, slug)
    context = {"quadrant": q, "review": review, "stats": stats, **(extra or {})}
    return render(request, "mof/quadrant.html", context)


def reviews_page(request, extra: dict | None = None):
    decisions = dict(
        ReviewDecisionRecord.objects.order_by().values_list("kind").annotate(n=Count("pk")).values_list("kind", "n")
    )
    queue = selectors.review_queue(request.user)
    milestones = [
        {
            **r,
            "label": ReviewKind(r["kind"]).label,
            "decisions": decisions.get(r["kind"], 0),
            "waiting": queue.get(r["kind"], []),
        }
        for r in REVIEWS
    ]
    recent = ReviewDecisionRecord.objects.select_related("decided_by")[:20]
    return render(request, "mof/reviews.html", {"milestones": milestones, "recent": recent, **(extra or {})})


# --- generic transition view ------------------------------------------------------------


# Transitions that stop, refuse or undo the work: shown apart, in red, and confirmed. A
# transition may say so itself with custom={"destructive": True} (or False to override).
DESTRUCTIVE_TRANSITIONS = frozenset(
    {
        "cancel",
        "reject",
        "withdraw",
        "dismiss",
        "retire",
        "back_out",
        "fail_tests",
        "close_no_fix",
        "miss",
        "back_to_draft",
        "defer",
    }
)


def _custom(model, name: str) -> dict:
    meta = getattr(getattr(model, name, None), "_django_fsm", None)
    for t in meta.transitions.values() if meta else ():
        return t.custom
    return {}


def _is_destructive(model, name: str) -> bool:
    flag = _custom(model, name).get("destructive")
    return bool(flag) if flag is not None else name in DESTRUCTIVE_TRANSITIONS


def _declared_primary(model, name: str, state) -> bool:
    flag = _custom(model, name).get("primary")
    return flag is True or (isinstance(flag, (list, tuple, set, frozenset)) and state in flag)


def _arrange(options: list[dict], model, state) -> None:
    """Mark each option primary, secondary or danger: the primary is the one a workflow
    declares (custom={"primary": True}, or a list of the states it is primary from) or else
    the first non-destructive one that can be taken now (the first non-destructive one when
    none can)."""
    for o in options:
        o["role"] = "danger" if _is_destructive(model, o["option"].name) else "secondary"
    candidates = [o for o in options if o["role"] != "danger"]
    primary = (
        next((o for o in candidates if o["option"].allowed and _declared_primary(model, o["option"].name, state)), None)
        or next((o for o in candidates if o["option"].allowed), None)
        or next(iter(candidates), None)
    )
    if primary is not None:
        primary["role"] = "primary"


def _form_parts(form) -> tuple[list, list]:
    """The fields a transition needs (shown) and its optional free-text ones (folded)."""
    from django import forms as dj_forms

    needed, optional = [], []
    for field in form.visible_fields():
        folded = not field.field.required and isinstance(field.field.widget, dj_forms.Textarea) and not field.errors
        (optional if folded else needed).append(field)
    return needed, optional


def transition_panel(request, obj, *, url_name: str, failed: dict | None = None, elsewhere: dict | None = None) -> dict:
    """Context of templates/mof/_transitions.html for `obj`: every transition the user is
    permitted to take from its state, each with its form and, after a failed attempt,
    the reasons and field errors; one primary, the others secondary, destructive ones apart.
    `elsewhere` maps a transition to the anchor of the page's own form for it (a change is
    assessed with the page's risk form): its button leads there."""
    from mof.transitions import _state_field

    failed = failed or {}
    state_field = _state_field(type(obj))
    labels = dict(state_field.choices or ())
    options = []
    seen = set()
    for option in available_transitions(obj, request.user):
        if option.name in seen or _is_automatic(type(obj), option.name):
            continue  # listed once per source state; automatic ones are fired by the system
        seen.add(option.name)
        is_failed = failed.get("name") == option.name
        form = None
        if option.form_class is not None:
            auto_id = f"t-{option.name}-%s"  # unique ids when several forms share a page
            if is_failed and failed.get("data") is not None:
                form = option.form_class(data=failed["data"], auto_id=auto_id)
                form.is_valid()
            else:
                form = option.form_class(auto_id=auto_id, initial=_prefill(obj, option.form_class))
            _html5_widgets(form)
        needed, optional = _form_parts(form) if form is not None else ([], [])
        options.append(
            {
                "option": option,
                "url": reverse(url_name, args=[obj.pk, option.name]),
                "form": form,
                "fields": needed,
                "optional_fields": optional,
                "failed": is_failed,
                "target_label": labels.get(option.target, option.target),
                "elsewhere": (elsewhere or {}).get(option.name),
            }
        )
    state = getattr(obj, state_field.name)
    _arrange(options, type(obj), state)
    return {
        "transition_obj": obj,
        "transition_options": options,
        "transition_primary": next((o for o in options if o["role"] == "primary"), None),
        "transition_secondary": [o for o in options if o["role"] == "secondary"],
        "transition_danger": [o for o in options if o["role"] == "danger"],
        "transition_failed": failed,
        "transition_state_value": state,
        "transition_state": labels.get(state, state),
        "transition_url_name": url_name,
    }


def _is_automatic(model, name: str) -> bool:
    meta = getattr(getattr(model, name, None), "_django_fsm", None)
    return bool(meta) and any(t.custom.get("automatic") for t in meta.transitions.values())


def _prefill(obj, form_class) -> dict:
    """A transition's form starts from the object's values where the names match
    (a schedule shows the planned dates already set)."""
    initial = {}
    for name in form_class.base_fields:
        if name != "reason" and hasattr(obj, name):
            value = getattr(obj, name)
            if value not in (None, ""):
                initial[name] = value
    return initial


def _html5_widgets(form) -> None:
    from django import forms as dj_forms

    for field in form.fields.values():
        if isinstance(field, dj_forms.DateTimeField) and type(field.widget) is dj_forms.DateTimeInput:
            field.widget.input_type = "datetime-local"
            field.widget.format = "%Y-%m-%dT%H:%M"
        elif isinstance(field, dj_forms.DateField) and type(field.widget) is dj_forms.DateInput:
            field.widget.input_type = "date"
            field.widget.format = "%Y-%m-%d"


@require_POST
def transition_view(
    request,
    *,
    model,
    pk,
    name: str,
    get_object: Callable,
    url_name: str,
    render_page: Callable | None = None,
    partial_template: str = "mof/_transitions.html",
    success_url: Callable | None = None,
    elsewhere: dict | None = None,
):
    """Take transition `name` on `model` `pk` from a page (htmx or plain form POST).

    get_object(user, pk) returns the object the user may see or raises DoesNotExist (404).
    render_page(request, obj, panel, status) renders the full page after a failure
    without JavaScript; the default shows the object with its transitions only.
    success_url(obj) is where a plain POST lands after success (default: the object's URL).
    elsewhere: as in transition_panel (transitions whose form is the page's own).
    """
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={request.path}")
    obj = _get_or_404(get_object, request.user, pk)
    data = request.POST.copy()
    data.pop("csrfmiddlewaretoken", None)
    failed: dict = {"name": name}
    try:
        obj = perform_transition(model=model, pk=obj.pk, name=name, actor=request.user, data=data)
    except TransitionUnknown:
        raise Http404(f"No transition {name!r}.") from None
    except policy.Refused as exc:
        if not request.htmx:
            raise
        failed.update(status=403, reasons=[str(exc)])
    except TransitionBlocked as exc:
        failed.update(status=400, reasons=exc.reasons, field_errors=exc.field_errors, data=data)
    except (TransitionNotAllowed, ConcurrentTransition):
        failed.update(
            status=409,
            reasons=[
                "This is not possible in the current state: someone may have changed it first. The page now shows the current state."
            ],
        )
    else:
        obj = _get_or_404(get_object, request.user, pk)
        done = f"{obj}: {_label_of(model, name)} done."
        messages.success(request, done)
        if request.htmx:
            # The panel for the moment, then a refresh of the whole page: the state in the
            # header, the history and every other panel the move changed show it at once
            # (the success message is shown after the refresh, from the session).
            panel = transition_panel(request, obj, url_name=url_name, elsewhere=elsewhere)
            response = render(request, partial_template, panel)
            response["HX-Trigger"] = "transitioned"
            response["HX-Refresh"] = "true"
            return response
        return HttpResponseRedirect(success_url(obj) if success_url else obj.get_absolute_url())

    obj = _get_or_404(get_object, request.user, pk)
    panel = transition_panel(request, obj, url_name=url_name, failed=failed, elsewhere=elsewhere)
    if request.htmx:
        return render(request, partial_template, panel, status=failed["status"])
    if render_page is not None:
        return render_page(request, obj, panel, failed["status"])
    return render(request, "mof/transition_page.html", {"object": obj, **panel}, status=failed["status"])


def _label_of(model, name: str) -> str:
    transition = getattr(getattr(model, name, None), "_django_fsm", None)
    if transition is None:
        return name
    for t in transition.transitions.values():
        return str(t.custom.get("label", name))
    return name


# --- CMDB: configuration items ----------------------------------------------------------


def _ci_get(user, pk):
    return selectors.ci_get(user=user, pk=pk)


# What the list's "Export CSV" writes; the headers are the import's columns, so an
# export edited in a spreadsheet imports back (status and updated are ignored there).
CI_EXPORT_COLUMNS = csv_io.columns(
    ("Name", "name"),
    ("Class", "ci_class.name"),
    ("Status", "get_status_display"),
    ("Environment", "get_environment_display"),
    ("Owner", "owner.username"),
    ("Services", lambda ci: [s.name for s in ci.services.all()]),
    ("Attributes", "attributes"),
    ("Description", "description"),
    ("Updated", "updated_at"),
)


@login_required
def ci_list(request):
    user = request.user
    base = selectors.ci_list(user=user).prefetch_related("services")
    filterset = CIFilterSet(request.GET, queryset=base)
    qs = filterset.qs
    ordering = list(qs.query.order_by)
    if ordering:
        qs = qs.order_by(*ordering, "pk")
    if (
        csv_io.export_requested(request) and filterset.is_valid()
    ):  # a refused filter is shown, never exported as no filter
        return csv_io.export_csv(qs, CI_EXPORT_COLUMNS, filename="configuration-items")
    page = paginate(
        qs,
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=parse_positive_int(request.GET.get("page_size"), PAGE_SIZE, MAX_PAGE_SIZE),
    )
    return render(
        request,
        "mof/ci_list.html",
        {
            "filterset": filterset,
            "page": page,
            "can_add": policy.can(user, "ci.add"),
            "is_internal": policy.is_internal(user),
            "sort": request.GET.get("sort", ""),
        },
    )


CI_CLASS_EXPORT_COLUMNS = csv_io.columns(
    ("Class", lambda row: row[0].name),
    ("Description", lambda row: row[0].description),
    ("Configuration items", lambda row: row[1]),
    ("Built in", lambda row: row[0].builtin),
)


@login_required
def ci_class_list(request):
    visible = policy.visible_cis(request.user)
    counts = dict(visible.order_by().values_list("ci_class").annotate(n=Count("pk")).values_list("ci_class", "n"))
    classes = [(c, counts.get(c.pk, 0)) for c in CIClass.objects.order_by("name")]
    if csv_io.export_requested(request):  # the counts are of the CIs this reader sees, as on the page
        return csv_io.export_csv(classes, CI_CLASS_EXPORT_COLUMNS, filename="ci-classes")
    return render(request, "mof/ci_class_list.html", {"classes": classes})


def _ci_detail_context(request, ci, *, panel=None, rel_form=None):
    user = request.user
    rels = selectors.ci_relationships(ci=ci)
    depends_on, dependents = list(rels["depends_on"]), list(rels["dependents"])
    if not policy.is_internal(user):  # partners see only the ends they may see
        visible = set(policy.visible_cis(user).values_list("pk", flat=True))
        depends_on = [r for r in depends_on if r.target_id in visible]
        dependents = [r for r in dependents if r.source_id in visible]
    for rel in depends_on + dependents:
        rel.can_delete = policy.can(user, "relationship.delete", rel)

    direction = request.GET.get("direction", impact.DOWNSTREAM)
    if direction not in impact.DIRECTIONS:
        direction = impact.DOWNSTREAM
    analysis = svg = None
    if policy.is_internal(user):
        analysis = impact.analyse([ci.pk], direction=direction)
        svg = graph.render_impact(analysis)

    can_add_rel = policy.can(user, "relationship.add", CIRelationship(source=ci))
    datalist = []
    if can_add_rel:
        rel_form = rel_form or RelationshipForm(source=ci, visible=policy.visible_cis(user))
        datalist = list(
            policy.visible_cis(user).exclude(pk=ci.pk).order_by("name").values_list("name", flat=True)[:DATALIST_SIZE]
        )
    attributes = sorted(ci.attributes.items()) if isinstance(ci.attributes, dict) else []
    return {
        "ci": ci,
        "attributes": attributes,
        "ci_services": list(ci.services.order_by("name")),
        "depends_on": depends_on,
        "dependents": dependents,
        "rel_form": rel_form,
        "datalist": datalist,
        "can_change": policy.can(user, "ci.change", ci),
        "can_delete": policy.can(user, "ci.delete", ci),
        "direction": direction,
        "analysis": analysis,
        "impact_svg": svg,
        "history": history_rows(ci, user=user),
        **(panel or transition_panel(request, ci, url_name="ci_transition")),
    }


@login_required
def ci_detail(request, pk):
    ci = _get_or_404(_ci_get, request.user, pk)
    return render(request, "mof/ci_detail.html", _ci_detail_context(request, ci))


def _render_ci_page(request, ci, panel, status):
    return render(request, "mof/ci_detail.html", _ci_detail_context(request, ci, panel=panel), status=status)


@login_required
def ci_transition(request, pk, name):
    return transition_view(
        request,
        model=ConfigurationItem,
        pk=pk,
        name=name,
        get_object=_ci_get,
        url_name="ci_transition",
        render_page=_render_ci_page,
    )


@login_required
def ci_create(request):
    if not policy.can(request.user, "ci.add"):
        raise PermissionDenied("You may not add configuration items.")
    form = CIForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ci = services.ci_create(actor=request.user, services=form.cleaned_data["services"], **form.service_fields())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Configuration item {ci} created (planned).")
            return redirect(ci)
    status = 400 if request.method == "POST" else 200
    return render(request, "mof/ci_form.html", {"form": form, "ci": None}, status=status)


@login_required
def ci_edit(request, pk):
    ci = _get_or_404(_ci_get, request.user, pk)
    if not policy.can(request.user, "ci.change", ci):
        raise PermissionDenied("You may not change this configuration item.")
    # The form validates a copy; the service decides on the record as stored.
    form = CIForm(request.POST or None, instance=_ci_get(request.user, pk))
    if request.method == "POST" and form.is_valid():
        try:
            ci = services.ci_update(
                actor=request.user, ci=ci, services=form.cleaned_data["services"], **form.service_fields()
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"Configuration item {ci} saved.")
            return redirect(ci)
    status = 400 if request.method == "POST" else 200
    return render(request, "mof/ci_form.html", {"form": form, "ci": ci}, status=status)


@login_required
@require_POST
def ci_delete(request, pk):
    ci = _get_or_404(_ci_get, request.user, pk)
    name = str(ci)
    try:
        services.ci_delete(actor=request.user, ci=ci)
    except HistoryKept as exc:  # it would lose history: say why, delete nothing
        messages.error(request, str(exc))
        return redirect(ci.get_absolute_url())
    messages.success(request, f"Configuration item {name} deleted.")
    return redirect("ci_list")


@login_required
@require_POST
def relationship_create(request, pk):
    ci = _get_or_404(_ci_get, request.user, pk)
    policy.require(request.user, "relationship.add", CIRelationship(source=ci))
    form = RelationshipForm(request.POST, source=ci, visible=policy.visible_cis(request.user))
    if form.is_valid():
        target = form.cleaned_data["target"]
        try:
            rel = services.relationship_create(
                actor=request.user, source=ci, target=target, type=form.cleaned_data["type"]
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{ci} {rel.get_type_display()} {target}: recorded.")
            return redirect(ci)
    return render(request, "mof/ci_detail.html", _ci_detail_context(request, ci, rel_form=form), status=400)


@login_required
@require_POST
def relationship_delete(request, pk):
    visible = policy.visible_cis(request.user)
    rel = CIRelationship.objects.select_related("source", "target").filter(pk=pk, source__in=visible).first()
    if rel is None:
        raise Http404("No such relationship, or you may not see it.")
    back = rel.source
    if request.POST.get("from") == str(rel.target_id) and visible.filter(pk=rel.target_id).exists():
        back = rel.target
    text = f"{rel.source} {rel.get_type_display()} {rel.target}"
    services.relationship_delete(actor=request.user, relationship=rel)
    messages.success(request, f"Relationship removed: {text}.")
    return redirect(back)


# --- IT services ----------------------------------------------------------------------


SERVICE_EXPORT_COLUMNS = csv_io.columns(
    ("Name", "name"),
    ("Criticality", "get_criticality_display"),
    ("Owner", "owner.username"),
    ("Hours of service", "hours_of_service"),
    ("CIs", "ci_count"),
    ("Description", "description"),
)


@login_required
def service_list(request):
    qs = selectors.service_list(user=request.user, search=request.GET.get("q", "").strip()).annotate(
        ci_count=Count("cis")
    )
    if csv_io.export_requested(request):
        return csv_io.export_csv(qs, SERVICE_EXPORT_COLUMNS, filename="it-services")
    page = paginate(
        qs,
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=parse_positive_int(request.GET.get("page_size"), PAGE_SIZE, MAX_PAGE_SIZE),
    )
    return render(
        request,
        "mof/service_list.html",
        {"page": page, "q": request.GET.get("q", ""), "can_add": policy.can(request.user, "service.add")},
    )


def _service_get(user, pk):
    return selectors.service_list(user=user).get(pk=pk)


@login_required
def service_detail(request, pk):
    service = _get_or_404(_service_get, request.user, pk)
    cis = policy.visible_cis(request.user).filter(services=service).select_related("ci_class", "owner")
    page = paginate(cis, page=parse_positive_int(request.GET.get("page"), 1), page_size=PAGE_SIZE)
    return render(
        request,
        "mof/service_detail.html",
        {
            "service": service,
            "page": page,
            "history": history_rows(service, user=request.user),
            "can_change": policy.can(request.user, "service.change", service),
        },
    )


@login_required
def service_create(request):
    if not policy.can(request.user, "service.add"):
        raise PermissionDenied("Only managers may add IT services.")
    form = ServiceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            service = services.service_create(actor=request.user, **form.service_fields())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"IT service {service} created.")
            return redirect(service)
    status = 400 if request.method == "POST" else 200
    return render(request, "mof/service_form.html", {"form": form, "service": None}, status=status)


@login_required
def service_edit(request, pk):
    service = _get_or_404(_service_get, request.user, pk)
    if not policy.can(request.user, "service.change", service):
        raise PermissionDenied("You may not change this IT service.")
    form = ServiceForm(request.POST or None, instance=_service_get(request.user, pk))
    if request.method == "POST" and form.is_valid():
        try:
            service = services.service_update(actor=request.user, service=service, **form.service_fields())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"IT service {service} saved.")
            return redirect(service)
    status = 400 if request.method == "POST" else 200
    return render(request, "mof/service_form.html", {"form": form, "service": service}, status=status)


# --- Risk Model -----------------------------------------------------------------------

APPROVAL_PATHS = {
    RiskLevel.LOW: "May be a pre-approved standard change.",
    RiskLevel.MEDIUM: "Approved by the change manager.",
    RiskLevel.HIGH: "Decided by the CAB at the Release Approved Review.",
    RiskLevel.CRITICAL: "Decided by the CAB at the Release Approved Review; the emergency CAB if it cannot wait.",
}


@login_required
def risk_matrix(request):
    thresholds = services.risk_thresholds()
    assessed = {
        (p, i): n
        for p, i, n in RiskAssessment.objects.order_by()
        .values_list("probability", "impact")
        .annotate(n=Count("pk"))
        .values_list("probability", "impact", "n")
    }
    impacts = list(RiskAssessment.Impact.choices)
    rows = []
    for probability, p_label in reversed(RiskAssessment.Probability.choices):
        cells = []
        for impact_value, _ in impacts:
            score = probability * impact_value
            cells.append(
                {
                    "score": score,
                    "level": services.risk_level_for(score, thresholds),
                    "assessed": assessed.get((probability, impact_value), 0),
                }
            )
        rows.append({"value": probability, "label": p_label, "cells": cells})
    levels = []
    ordered = sorted(thresholds)
    for index, (min_score, level) in enumerate(ordered):
        max_score = ordered[index + 1][0] - 1 if index + 1 < len(ordered) else 25
        levels.append(
            {
                "level": level,
                "label": RiskLevel(level).label,
                "min": min_score,
                "max": max_score,
                "path": APPROVAL_PATHS.get(level, ""),
            }
        )
    return render(
        request,
        "mof/risk_matrix.html",
        {
            "rows": rows,
            "impacts": impacts,
            "levels": levels,
            "can_configure": policy.can(request.user, "risk.configure"),
        },
    )
