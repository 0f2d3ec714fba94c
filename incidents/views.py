"""Pages of the Supporting quadrant: the service desk (queues, filing, self-service),
incidents, problems, known errors, problem proposals, the priority matrix and search.

Thin: reads through incidents.selectors, writes through incidents.services and the one
generic transition view (mof.views.transition_view); a service's refusal is a form error
and a 400 (409 when the state moved), never a half-written record."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, OuterRef
from django.http import Http404, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from incidents import selectors, services
from incidents.choices import (
    OPEN_STATES,
    IncidentStatus,
    ProblemStatus,
    ProposalStatus,
    Scale,
)
from incidents.filtersets import IncidentFilterSet
from incidents.forms import (
    AssignForm,
    BulkForm,
    CommunicationForm,
    DeclareMajorForm,
    EscalateForm,
    IncidentEditForm,
    IncidentForm,
    LinkChildForm,
    NoteForm,
    PriorityMatrixForm,
    ProblemForm,
    SavedFilterForm,
    SelfServiceForm,
)
from incidents.models import (
    InboundMessage,
    InboundOutcome,
    Incident,
    KnownError,
    PriorityRule,
    Problem,
    ProblemProposal,
    SavedFilter,
)
from mof import csv_io, impact, policy
from mof.forms import attempt
from mof.models import Service, Team
from mof.pagination import paginate, parse_id, parse_positive_int
from mof.views import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    _get_or_404,
    history_rows,
    transition_panel,
    transition_view,
)
from mof.views_attachments import attach_from_form, attachment_context, attachment_form

DATALIST_SIZE = 200
SUGGESTIONS = 5


def _page(request, qs, default=PAGE_SIZE):
    return paginate(
        qs,
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=parse_positive_int(request.GET.get("page_size"), default, MAX_PAGE_SIZE),
    )


def _is_desk(user) -> bool:
    return policy.is_internal(user)


def _ci_names(user) -> list[str]:
    return list(policy.visible_cis(user).order_by("name").values_list("name", flat=True)[:DATALIST_SIZE])


# --- landing --------------------------------------------------------------------------


@login_required
def landing(request):
    """The Supporting quadrant: its SMFs, what exists for each, and the review it ends in."""
    user = request.user
    stats = [
        {
            "label": "my open incidents (self-service)",
            "value": Incident.objects.filter(caller=user, status__in=OPEN_STATES).count(),
            "url": reverse("self_service"),
        }
    ]
    if _is_desk(user):
        stats += [
            {
                "label": "assigned to me, open",
                "value": selectors.queue(user=user, name="mine").order_by().count(),
                "url": reverse("incident_queue") + "?queue=mine",
            },
            {
                "label": "unassigned in my groups",
                "value": selectors.queue(user=user, name="unassigned").order_by().count(),
                "url": reverse("incident_queue") + "?queue=unassigned",
            },
            {
                "label": "problems under investigation",
                "value": Problem.objects.filter(status__in=[ProblemStatus.NEW, ProblemStatus.INVESTIGATING]).count(),
                "url": reverse("problem_list"),
            },
            {
                "label": "problem proposals to decide",
                "value": ProblemProposal.objects.filter(status=ProposalStatus.PROPOSED).count(),
                "url": reverse("proposal_list"),
            },
        ]
    if policy.can(user, "inbound_mail.view"):
        stats.append(
            {
                "label": "parked mail to decide",
                "value": InboundMessage.objects.filter(outcome=InboundOutcome.PARKED).count(),
                "url": reverse("inbound_mail"),
            }
        )
    links = [
        ("Self-service: report a fault, follow my incidents", reverse("self_service")),
        ("Known errors", reverse("known_error_list")),
        ("Search", reverse("support_search")),
    ]
    if _is_desk(user):
        links = [
            ("Service desk queues", reverse("incident_queue")),
            ("File an incident", reverse("incident_create")),
            ("Problems", reverse("problem_list")),
            ("Problem proposals", reverse("proposal_list")),
            ("Priority matrix", reverse("priority_matrix")),
        ] + links
    if policy.can(user, "inbound_mail.view"):
        links.insert(1, ("Mail to the service desk (parked mail)", reverse("inbound_mail")))
    return _landing(request, links, stats)


def _landing(request, links, stats):
    """mof.views.quadrant_page's context, rendered with the service desk's doors below it."""
    from mof.context_processors import REVIEWS, quadrant
    from mof.views import quadrant_stats

    q = quadrant("supporting")
    review = next(r for r in REVIEWS if r["kind"] == q.review)
    context = {
        "quadrant": q,
        "review": review,
        "stats": stats + quadrant_stats(request.user, "supporting"),
        "supporting_links": links,
    }
    return render(request, "incidents/landing.html", context)


# --- incident detail ------------------------------------------------------------------


def _incident_get(user, pk):
    """The incident if `user` may see it (a caller: only their own), else DoesNotExist."""
    return (
        selectors.incident_list(user=user)
        .select_related("problem", "known_error", "major_incident_manager", "parent")
        .get(pk=pk)
    )


def _cmdb_context(ci_ids, *, exclude_pk=None) -> dict:
    """The services these CIs affect, and the incidents already open on them or on what
    they depend on (a likely common cause)."""
    ci_ids = list(ci_ids)
    if not ci_ids:
        return {"cmdb_services": [], "cmdb_incidents": [], "cmdb_upstream": []}
    downstream = impact.analyse(ci_ids, impact.DOWNSTREAM)
    upstream = impact.analyse(ci_ids, impact.UPSTREAM)
    reached = [ci.id for ci in upstream.cis]
    names = {ci.id: ci.name for ci in upstream.cis}
    origin = set(ci_ids)
    open_incidents = list(
        selectors.open_incidents_on(reached).exclude(pk=exclude_pk).prefetch_related("affected_cis")[:50]
    )
    for other in open_incidents:
        on = [names.get(ci.pk, ci.name) for ci in other.affected_cis.all() if ci.pk in names]
        other.on_cis = on
        other.common_cause = any(ci.pk not in origin for ci in other.affected_cis.all() if ci.pk in names)
    return {
        "cmdb_services": downstream.services,
        "cmdb_incidents": open_incidents,
        "cmdb_upstream": [ci for ci in upstream.cis if ci.depth > 0],
    }


def _incident_context(request, incident, *, panel=None, forms=None) -> dict:
    user = request.user
    forms = forms or {}
    is_closed = incident.status in (IncidentStatus.CLOSED, IncidentStatus.CANCELLED)
    desk = policy.can(user, "incident.read_work_notes", incident)
    can_comment = not is_closed and policy.can(user, "incident.comment", incident)
    from slas.views import clock_context

    context = {
        "sla_clocks": clock_context(incident, user=user),
        "incident": incident,
        "desk_view": desk,
        "notes": list(selectors.incident_notes(user=user, incident=incident)),
        "note_form": forms.get("note")
        or (NoteForm(user=user, incident=incident, auto_id="note-%s") if can_comment else None),
        "is_closed": is_closed,
        **(panel or transition_panel(request, incident, url_name="incident_transition")),
        **attachment_context(
            user,
            incident,
            url=reverse("incident_attach", args=[incident.pk]),
            form=forms.get("attach"),
            can_attach=not is_closed and policy.can(user, "incident.attach", incident),
        ),
    }
    if not desk:  # the caller's view: comments, status, resolution, reopen; nothing internal
        return context
    can_change = not is_closed and policy.can(user, "incident.change", incident)
    can_work = not is_closed and policy.can(user, "incident.transition.work", incident)
    can_declare = (
        not is_closed
        and incident.status != IncidentStatus.RESOLVED
        and not incident.is_major
        and policy.can(user, "incident.declare_major", incident)
    )
    affected_cis = list(incident.affected_cis.select_related("ci_class").order_by("name"))
    context.update(
        {
            "affected_cis": affected_cis,
            "related_incidents": list(incident.related_incidents.select_related("service").order_by("-number")[:50]),
            "related_changes": list(incident.related_changes.all()[:50]),
            "children": list(incident.children.order_by("-number")[:100]) if incident.is_major else [],
            "communications": list(incident.communications.select_related("author")) if incident.is_major else [],
            "history": history_rows(incident, user=user),
            "can_change": can_change,
            "can_work": can_work,
            "take_groups": [g for g in Team.objects.filter(pk__in=user.team_ids).order_by("name")]
            if can_change and incident.assignee_id != user.pk
            else [],
            "assign_form": forms.get("assign")
            or (AssignForm(incident=incident, auto_id="assign-%s") if can_change else None),
            "escalate_form": forms.get("escalate")
            or (EscalateForm(auto_id="escalate-%s") if can_work and incident.assignment_group_id else None),
            "declare_form": forms.get("declare") or (DeclareMajorForm(auto_id="major-%s") if can_declare else None),
            "communication_form": forms.get("communicate")
            or (CommunicationForm(auto_id="comm-%s") if incident.is_major and can_change else None),
            "child_form": forms.get("child")
            or (LinkChildForm(auto_id="child-%s") if incident.is_major and can_change else None),
            "suggested_known_errors": list(
                selectors.known_error_search(q=incident.title, service=incident.service_id, limit=SUGGESTIONS)
            )
            if can_change and not incident.known_error_id
            else [],
            **_cmdb_context([ci.pk for ci in affected_cis], exclude_pk=incident.pk),
        }
    )
    return context


def _render_incident(request, incident, status=200, **kwargs):
    return render(
        request, "incidents/incident_detail.html", _incident_context(request, incident, **kwargs), status=status
    )


@login_required
def incident_detail(request, pk):
    incident = _get_or_404(_incident_get, request.user, pk)
    return _render_incident(request, incident)


def _render_incident_page(request, incident, panel, status):
    return _render_incident(request, incident, status, panel=panel)


@login_required
def incident_transition(request, pk, name):
    return transition_view(
        request,
        model=Incident,
        pk=pk,
        name=name,
        get_object=_incident_get,
        url_name="incident_transition",
        render_page=_render_incident_page,
    )


def _incident_post(request, pk, form_key, build, call, done):
    """POST handler shape of the detail page's small forms: validate `build()`, run
    `call(form, incident)` through the services, redirect with `done` or re-render with errors."""
    incident = _get_or_404(_incident_get, request.user, pk)
    form = build(incident)
    status = 400
    if form.is_valid():
        _, status = attempt(form, lambda: call(form, incident))
        if status is None:
            messages.success(request, done)
            return redirect(reverse("incident_detail", args=[pk]) + f"#{form_key}")
    return _render_incident(request, _get_or_404(_incident_get, request.user, pk), status, forms={form_key: form})


@login_required
@require_POST
def incident_note(request, pk):
    return _incident_post(
        request,
        pk,
        "note",
        lambda inc: NoteForm(request.POST, user=request.user, incident=inc, auto_id="note-%s"),
        lambda form, inc: services.incident_note(
            actor=request.user, incident=inc, kind=form.cleaned_data["kind"], body=form.cleaned_data["body"]
        ),
        "Note added.",
    )


@login_required
@require_POST
def incident_attach(request, pk):
    """A file from the detail page (the caller's too): errors shown on the page."""
    return _incident_post(
        request,
        pk,
        "attach",
        lambda inc: attachment_form(request),
        lambda form, inc: attach_from_form(request, form, inc),
        "File attached.",
    )


def _assign(actor, form, incident):
    data = form.cleaned_data
    if data["assignee"] is not None:
        return services.incident_assign(
            actor=actor,
            incident=incident,
            assignment_group=data["assignment_group"],
            assignee=data["assignee"],
            reason=data["reason"],
        )
    return services.incident_update(
        actor=actor, incident=incident, assignment_group=data["assignment_group"], assignee=None, reason=data["reason"]
    )


@login_required
@require_POST
def incident_assign(request, pk):
    return _incident_post(
        request,
        pk,
        "assign",
        lambda inc: AssignForm(request.POST, incident=inc, auto_id="assign-%s"),
        lambda form, inc: _assign(request.user, form, inc),
        "Assignment saved.",
    )


@login_required
@require_POST
def incident_take(request, pk):
    """Assign to me (in the incident's group) and start work: the queue's one click."""
    incident = _get_or_404(_incident_get, request.user, pk)
    mine = request.user.team_ids
    chosen = request.POST.get("assignment_group", "")
    if parse_id(chosen) in mine:
        group_id = int(chosen)
    elif incident.assignment_group_id in mine:
        group_id = incident.assignment_group_id
    else:
        group_id = min(mine) if mine else ""
    if incident.assignment_group_id and group_id != incident.assignment_group_id:
        form = AssignForm(
            {"assignment_group": incident.assignment_group_id, "assignee": request.user.pk},
            incident=incident,
            auto_id="assign-%s",
        )
        form.is_valid()
        form.add_error(
            None, f"You are not in {incident.assignment_group}: move it with a reason in the assignment form instead."
        )
        return _render_incident(request, incident, 400, forms={"assign": form})
    form = AssignForm(
        {"assignment_group": group_id, "assignee": request.user.pk}, incident=incident, auto_id="assign-%s"
    )
    if form.is_valid():
        _, status = attempt(
            form,
            lambda: services.incident_assign(
                actor=request.user,
                incident=incident,
                assignment_group=form.cleaned_data["assignment_group"],
                assignee=request.user,
            ),
        )
        if status is None:
            messages.success(request, f"{incident.reference} is yours.")
            return redirect("incident_detail", pk=pk)
    else:
        status = 400
    return _render_incident(request, _get_or_404(_incident_get, request.user, pk), status, forms={"assign": form})


@login_required
@require_POST
def incident_escalate(request, pk):
    return _incident_post(
        request,
        pk,
        "escalate",
        lambda inc: EscalateForm(request.POST, auto_id="escalate-%s"),
        lambda form, inc: services.incident_escalate(
            actor=request.user, incident=inc, reason=form.cleaned_data["reason"]
        ),
        "Escalated: the group's manager is told.",
    )


@login_required
@require_POST
def incident_declare_major(request, pk):
    return _incident_post(
        request,
        pk,
        "declare",
        lambda inc: DeclareMajorForm(request.POST, auto_id="major-%s"),
        lambda form, inc: services.incident_declare_major(actor=request.user, incident=inc, **form.cleaned_data),
        "Declared a major incident.",
    )


@login_required
@require_POST
def incident_communicate(request, pk):
    return _incident_post(
        request,
        pk,
        "communicate",
        lambda inc: CommunicationForm(request.POST, auto_id="comm-%s"),
        lambda form, inc: services.major_incident_communicate(
            actor=request.user, incident=inc, body=form.cleaned_data["body"], recipients=form.cleaned_data["recipients"]
        ),
        "Update logged; it is being sent.",
    )


def _link_children(actor, form, parent):
    with transaction.atomic():
        for child in form.cleaned_data["child"]:
            services.incident_link_child(actor=actor, parent=parent, child=child)


@login_required
@require_POST
def incident_link_child(request, pk):
    return _incident_post(
        request,
        pk,
        "child",
        lambda inc: LinkChildForm(request.POST, queryset=selectors.visible_incidents(request.user), auto_id="child-%s"),
        lambda form, inc: _link_children(request.user, form, inc),
        "Child incidents linked.",
    )


@login_required
@require_POST
def incident_link_known_error(request, pk):
    incident = _get_or_404(_incident_get, request.user, pk)
    known_error_id = parse_id(request.POST.get("known_error"))
    known_error = (
        KnownError.objects.filter(pk=known_error_id, active=True).first() if known_error_id is not None else None
    )
    if known_error is None:
        raise Http404("No such known error.")
    try:
        services.link_known_error(actor=request.user, incident=incident, known_error=known_error)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Linked to {known_error}; its workaround is on the page.")
    return redirect("incident_detail", pk=pk)


@login_required
@require_GET
def assignee_options(request):
    """htmx: the assignee <select> for the chosen group (its members only)."""
    if not _is_desk(request.user):
        raise PermissionDenied
    group_id = parse_id(request.GET.get("assignment_group"))
    group = Team.objects.filter(pk=group_id).first() if group_id is not None else None
    members = list(group.members.filter(is_active=True).order_by("username")) if group else []
    return render(
        request,
        "incidents/_assignee_options.html",
        {
            "members": members,
            "field_id": request.GET.get("field_id")
            if request.GET.get("field_id") in ("id_assignee", "assign-id_assignee")
            else "assign-id_assignee",
        },
    )


# --- filing -----------------------------------------------------------------------------


@login_required
def incident_create(request):
    user = request.user
    if not policy.can(user, "incident.file_for_others"):
        return redirect("self_service")
    initial = {"caller": user.pk}
    form = IncidentForm(request.POST or None, initial=initial, visible_cis=policy.visible_cis(user))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            incident, status = attempt(
                form,
                lambda: services.incident_create(
                    actor=user, caller=data["caller"], affected_cis=data["affected_cis"], **form.service_fields()
                ),
            )
            if status is None:
                messages.success(request, f"{incident.reference} filed (P{incident.priority}).")
                return redirect(incident)
    return render(
        request,
        "incidents/incident_form.html",
        {"form": form, "incident": None, "ci_names": _ci_names(user)},
        status=status,
    )


@login_required
def incident_edit(request, pk):
    user = request.user
    incident = _get_or_404(_incident_get, user, pk)
    if not policy.can(user, "incident.change", incident):
        raise PermissionDenied("You may not change this incident.")
    form = IncidentEditForm(
        request.POST or None, instance=_incident_get(user, pk), visible_cis=policy.visible_cis(user)
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            _, status = attempt(
                form,
                lambda: services.incident_update(
                    actor=user,
                    incident=incident,
                    affected_cis=data["affected_cis"],
                    reason=data.get("reason") or "",
                    **form.service_fields(),
                ),
            )
            if status is None:
                messages.success(request, f"{incident.reference} saved.")
                return redirect(incident)
    return render(
        request,
        "incidents/incident_form.html",
        {"form": form, "incident": incident, "ci_names": _ci_names(user)},
        status=status,
    )


@login_required
@require_GET
def known_error_suggestions(request):
    """htmx partial: known errors matching what the agent types, for the chosen service/CI."""
    service = parse_id(request.GET.get("service"))
    ci = None
    names = [n.strip() for n in request.GET.get("affected_cis", "").split(",") if n.strip()]
    if names:
        ci = policy.visible_cis(request.user).filter(name=names[0]).values_list("pk", flat=True).first()
    q = " ".join(filter(None, [request.GET.get("title", ""), request.GET.get("description", "")]))
    found = (
        list(selectors.known_error_search(q=q, service=service, ci=ci, limit=SUGGESTIONS))
        if q.strip() or service or ci
        else []
    )
    return render(
        request,
        "incidents/_known_error_suggestions.html",
        {"suggestions": found, "selected": request.GET.get("known_error", "")},
    )


@login_required
@require_GET
def incident_cmdb_context(request):
    """htmx partial for the filing form: what the named CIs affect and what is already open
    on them or on what they depend on."""
    if not _is_desk(request.user):
        raise PermissionDenied
    names = [n.strip() for n in request.GET.get("affected_cis", "").split(",") if n.strip()][:20]
    affected_cis = (
        list(policy.visible_cis(request.user).filter(name__in=names).select_related("ci_class").order_by("name"))
        if names
        else []
    )
    context = {"affected_cis": affected_cis, **_cmdb_context([ci.pk for ci in affected_cis])}
    return render(request, "incidents/_cmdb_context.html", context)


# What the caller sees of their own incidents on the page, no more.
MY_INCIDENT_EXPORT_COLUMNS = csv_io.columns(
    ("Number", "reference"),
    ("What", "title"),
    ("Service", "service.name"),
    ("Status", "get_status_display"),
    ("Reported", "created_at"),
)


@login_required
def self_service(request):
    """Any employee: report a fault in plain words and follow their own incidents."""
    user = request.user
    form = SelfServiceForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            incident, status = attempt(
                form, lambda: services.incident_create(actor=user, caller=user, channel="portal", **data)
            )
            if status is None:
                messages.success(
                    request, f"Thank you. Your incident is {incident.reference}; the service desk will pick it up."
                )
                return redirect(incident)
    mine = Incident.objects.filter(caller=user).select_related("service").order_by("-number")
    show = request.GET.get("show", "open")
    show_error = None if show in ("open", "all") else "Show “open” or “all” incidents."
    if show != "all":
        mine = mine.filter(status__in=[*OPEN_STATES, IncidentStatus.RESOLVED])
    if (
        csv_io.export_requested(request) and show_error is None
    ):  # a refused filter is shown, never exported as no filter
        return csv_io.export_csv(mine, MY_INCIDENT_EXPORT_COLUMNS, filename="my-incidents")
    if show_error and request.method == "GET":
        status = 400
    return render(
        request,
        "incidents/self_service.html",
        {"form": form, "page": _page(request, mine, 20), "show": show, "show_error": show_error},
        status=status,
    )


# --- service desk queues ----------------------------------------------------------------

BREACHING_SOON_HOURS = getattr(settings, "MOF_BREACHING_SOON_HOURS", 4)


def _breaching_soon(qs):
    """Open incidents whose running SLA clock is due within BREACHING_SOON_HOURS (or that
    breached already), annotated with the earliest due time: one subquery, no row walk."""
    from slas.selectors import earliest_due, tickets_due_by

    horizon = timezone.now() + dt.timedelta(hours=BREACHING_SOON_HOURS)
    due_soon = tickets_due_by("incidents.incident", horizon)
    return qs.filter(pk__in=due_soon).annotate(sla_due=earliest_due("incidents.incident", OuterRef("pk")))


QUEUES = [
    ("triage", "Triage: no group yet"),
    ("mine", "My work"),
    ("unassigned", "Unassigned in my groups"),
    ("on_hold", "On hold"),
    ("breaching", "Breaching soon"),
    ("open", "All open"),
]


INCIDENT_EXPORT_COLUMNS = csv_io.columns(
    ("Number", "reference"),
    ("Title", "title"),
    ("Priority", "priority"),
    ("Status", "get_status_display"),
    ("Hold reason", "get_hold_reason_display"),
    ("Major", "is_major"),
    ("Service", "service.name"),
    ("Group", "assignment_group.name"),
    ("Assignee", "assignee.username"),
    ("Caller", "caller.username"),
    ("Created", "created_at"),
    ("SLA due", lambda i: getattr(i, "sla_due", None)),
)


def _default_queue(user) -> str:
    """The first queue with work in it (a few EXISTS queries), so nobody lands on an empty tab."""
    for name in ("mine", "unassigned"):
        if selectors.queue(user=user, name=name).exists():
            return name
    if selectors.incident_list(user=user).filter(status=IncidentStatus.NEW, assignment_group__isnull=True).exists():
        return "triage"
    return "open"


def _with_sla(qs):
    """Each row with the due time and start of its earliest running SLA clock (subqueries of
    the one query: the page costs the same whatever its size)."""
    from slas.selectors import earliest_due, earliest_due_started

    if "sla_due" not in qs.query.annotations:
        qs = qs.annotate(sla_due=earliest_due("incidents.incident", OuterRef("pk")))
    return qs.annotate(sla_started=earliest_due_started("incidents.incident", OuterRef("pk")))


def _order_by(fields: list) -> list:
    """The queue's ordering: by due time, tickets without a running clock come last either way."""
    from django.db.models import F

    ordered = []
    for field in fields:
        if field in ("sla_due", "-sla_due"):
            expression = F("sla_due")
            ordered.append(
                expression.desc(nulls_last=True) if field.startswith("-") else expression.asc(nulls_last=True)
            )
        else:
            ordered.append(field)
    return ordered


def _queue_context(request, *, bulk_form=None, save_form=None) -> dict:
    user = request.user
    name = request.GET.get("queue") or _default_queue(user)
    if name not in dict(QUEUES):
        name = "mine"
    my_groups = list(Team.objects.filter(pk__in=user.team_ids).order_by("name"))
    group_ids = None
    chosen = request.GET.get("in_group", "")
    if parse_id(chosen) in user.team_ids:
        group_ids = [int(chosen)]
    if name == "breaching":
        base = _breaching_soon(
            selectors.queue(
                user=user, name="open", group_ids=group_ids if group_ids is not None else list(user.team_ids)
            )
        )
    elif name == "triage":  # filed (e.g. on the self-service page) and not yet routed to a group
        base = selectors.incident_list(user=user).filter(status=IncidentStatus.NEW, assignment_group__isnull=True)
    else:
        base = selectors.queue(user=user, name=name, group_ids=group_ids)
    base = _with_sla(base)
    filterset = IncidentFilterSet(request.GET, queryset=base, request=request)
    qs = filterset.qs
    ordering = list(qs.query.order_by) if request.GET.get("sort") else []
    default = ["sla_due", "priority"] if name == "breaching" else ["priority", "-number"]
    qs = qs.order_by(*_order_by(ordering), "-pk") if ordering else qs.order_by(*_order_by(default))
    if (
        csv_io.export_requested(request) and filterset.is_valid()
    ):  # the whole queue, not a page; never a refused filter as none
        return {"csv": csv_io.export_csv(qs, INCIDENT_EXPORT_COLUMNS, filename=f"incidents-{name}")}
    from slas.selectors import sla_standing

    page = _page(request, qs)
    now = timezone.now()
    for incident in page.items:
        incident.sla = sla_standing(incident.sla_due, incident.sla_started, now)
    params = request.GET.copy()
    for key in ("page", "csrfmiddlewaretoken"):
        params.pop(key, None)
    return {
        "queues": QUEUES,
        "queue": name,
        "my_groups": my_groups,
        "in_group": chosen,
        "filterset": filterset,
        "page": page,
        "sort": request.GET.get("sort", ""),
        "sortable": [("number", "Number"), ("title", "Title"), ("priority", "Priority"), ("status", "Status")],
        "sla_sort": "due",
        "saved_filters": list(SavedFilter.objects.filter(user=user)),
        "querystring": params.urlencode(),
        "bulk_form": bulk_form or BulkForm(auto_id="bulk-%s", user=user),
        "save_form": save_form or SavedFilterForm(initial={"querystring": params.urlencode()}, auto_id="save-%s"),
        "can_bulk": policy.can(user, "incident.bulk"),
        "now": now,
        "breaching_hours": BREACHING_SOON_HOURS,
    }


@login_required
def incident_queue(request):
    if not _is_desk(request.user):
        return redirect("self_service")
    context = _queue_context(request)
    if "csv" in context:
        return context["csv"]
    return render(request, "incidents/queue.html", context)


@login_required
@require_POST
def incident_bulk(request):
    user = request.user
    if not policy.can(user, "incident.bulk"):
        raise PermissionDenied("You may not act on incidents in bulk.")
    back = request.POST.get("back", "")
    form = BulkForm(request.POST, auto_id="bulk-%s")
    status = 400
    if form.is_valid():
        ids = form.cleaned_data["incidents"]
        visible = set(selectors.visible_incidents(user).filter(pk__in=ids).values_list("pk", flat=True))
        if len(visible) != len(set(ids)):
            form.add_error("incidents", "Some of these incidents do not exist or you may not see them.")
        else:
            done, status = attempt(
                form,
                lambda: services.incident_bulk(
                    actor=user, incident_ids=ids, action=form.cleaned_data["action"], params=form.params()
                ),
            )
            if status is None:
                messages.success(request, f"{len(done)} incident{'s' if len(done) != 1 else ''} updated.")
                return HttpResponseRedirect(reverse("incident_queue") + (f"?{back}" if back else ""))
    request.GET = QueryDict(back, mutable=False)
    context = _queue_context(request, bulk_form=form)
    context["bulk_failed"] = True
    return render(request, "incidents/queue.html", context, status=status)


@login_required
@require_POST
def saved_filter_create(request):
    if not _is_desk(request.user):
        raise PermissionDenied
    form = SavedFilterForm(request.POST, auto_id="save-%s")
    if form.is_valid():
        querystring = form.cleaned_data["querystring"].lstrip("?")
        SavedFilter.objects.update_or_create(
            user=request.user, name=form.cleaned_data["name"], defaults={"querystring": querystring}
        )
        messages.success(request, f"Filter {form.cleaned_data['name']!r} saved.")
        return HttpResponseRedirect(reverse("incident_queue") + (f"?{querystring}" if querystring else ""))
    request.GET = QueryDict(request.POST.get("querystring", ""), mutable=False)
    return render(request, "incidents/queue.html", _queue_context(request, save_form=form), status=400)


@login_required
@require_POST
def saved_filter_delete(request, pk):
    deleted, _ = SavedFilter.objects.filter(pk=pk, user=request.user).delete()
    if not deleted:
        raise Http404("No such saved filter.")
    messages.success(request, "Saved filter deleted.")
    return redirect("incident_queue")


# --- problems -------------------------------------------------------------------------


def _problem_get(user, pk):
    if not policy.can(user, "problem.view"):
        raise Problem.DoesNotExist
    return Problem.objects.select_related("problem_manager").get(pk=pk)


def _require_problems(user):
    if not policy.can(user, "problem.view"):
        raise Http404("No such page.")


PROBLEM_EXPORT_COLUMNS = csv_io.columns(
    ("Number", "reference"),
    ("Title", "title"),
    ("Status", "get_status_display"),
    ("Problem manager", "problem_manager.username"),
    ("Incidents", "incident_count"),
    ("Recorded", "created_at"),
)


@login_required
def problem_list(request):
    _require_problems(request.user)
    qs = Problem.objects.select_related("problem_manager").order_by("-number")
    status, q = request.GET.get("status", ""), request.GET.get("q", "").strip()
    error = None
    if status in ProblemStatus.values:
        qs = qs.filter(status=status)
    elif status:
        error = f"No such status: choose one of {', '.join(ProblemStatus.values)}, or any status."
    if q:
        number = parse_id(q.upper().removeprefix("PRB-"))
        qs = qs.filter(number=number) if number is not None else qs.filter(title__icontains=q)
    qs = qs.annotate(incident_count=Count("incidents"))
    if csv_io.export_requested(request) and error is None:  # a refused filter is shown, never exported as no filter
        return csv_io.export_csv(qs, PROBLEM_EXPORT_COLUMNS, filename="problems")
    return render(
        request,
        "incidents/problem_list.html",
        {
            "page": _page(request, qs.none() if error else qs),
            "statuses": ProblemStatus.choices,
            "status": status,
            "q": q,
            "can_add": policy.can(request.user, "problem.add"),
            "error": error,
        },
        status=400 if error else 200,
    )


def _problem_context(request, problem, panel=None, attach_form=None) -> dict:
    user = request.user
    return {
        "problem": problem,
        "incidents": list(problem.incidents.select_related("service", "assignee").order_by("-number")[:100]),
        "services": list(problem.services.order_by("name")),
        "affected_cis": list(problem.affected_cis.select_related("ci_class").order_by("name")),
        "fixing_changes": list(problem.fixing_changes.all()),
        "known_error": KnownError.objects.filter(problem=problem).first(),
        "history": history_rows(problem, user=user),
        "can_edit": problem.status not in (ProblemStatus.CLOSED, ProblemStatus.CLOSED_NO_FIX)
        and policy.can(user, "problem.change", problem),
        **(panel or transition_panel(request, problem, url_name="problem_transition")),
        **attachment_context(
            user,
            problem,
            url=reverse("problem_attach", args=[problem.pk]),
            form=attach_form,
            internal_choice=False,  # problems are internal
            can_attach=problem.status not in (ProblemStatus.CLOSED, ProblemStatus.CLOSED_NO_FIX)
            and policy.can(user, "problem.attach", problem),
        ),
    }


@login_required
def problem_detail(request, pk):
    problem = _get_or_404(_problem_get, request.user, pk)
    return render(request, "incidents/problem_detail.html", _problem_context(request, problem))


@login_required
@require_POST
def problem_attach(request, pk):
    problem = _get_or_404(_problem_get, request.user, pk)
    form = attachment_form(request, internal_choice=False)
    status = 400
    if form.is_valid():
        _, status = attempt(form, lambda: attach_from_form(request, form, problem))
        if status is None:
            messages.success(request, "File attached.")
            return redirect(reverse("problem_detail", args=[pk]) + "#attach")
    return render(
        request, "incidents/problem_detail.html", _problem_context(request, problem, attach_form=form), status=status
    )


def _render_problem_page(request, problem, panel, status):
    return render(request, "incidents/problem_detail.html", _problem_context(request, problem, panel), status=status)


@login_required
def problem_transition(request, pk, name):
    if name == "resolve":  # driven by the fixing change closing, never by hand
        raise Http404("A problem is resolved when its fixing changes close.")
    return transition_view(
        request,
        model=Problem,
        pk=pk,
        name=name,
        get_object=_problem_get,
        url_name="problem_transition",
        render_page=_render_problem_page,
    )


def _problem_form(request, problem=None):
    user = request.user
    return ProblemForm(
        request.POST or None,
        instance=problem,
        visible_cis=policy.visible_cis(user),
        incidents=selectors.visible_incidents(user),
        initial=_problem_initial(request) if problem is None else None,
    )


def _problem_initial(request) -> dict:
    initial = {}
    incident = parse_id(request.GET.get("incident"))
    if incident is not None:
        found = selectors.visible_incidents(request.user).filter(pk=incident).first()
        if found:
            initial.update(
                title=found.title, incidents=[found], services=[found.service_id] if found.service_id else []
            )
    return initial


@login_required
def problem_create(request):
    user = request.user
    if not policy.can(user, "problem.add"):
        raise PermissionDenied("You may not record problems.")
    form = _problem_form(request)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            problem, status = attempt(form, lambda: services.problem_create(actor=user, **form.service_fields()))
            if status is None:
                messages.success(request, f"{problem.reference} recorded.")
                return redirect(problem)
    return render(
        request,
        "incidents/problem_form.html",
        {"form": form, "problem": None, "ci_names": _ci_names(user)},
        status=status,
    )


@login_required
def problem_edit(request, pk):
    user = request.user
    problem = _get_or_404(_problem_get, user, pk)
    if not policy.can(user, "problem.change", problem):
        raise PermissionDenied("You may not change this problem.")
    form = _problem_form(request, _problem_get(user, pk))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            _, status = attempt(
                form, lambda: services.problem_update(actor=user, problem=problem, **form.service_fields())
            )
            if status is None:
                messages.success(request, f"{problem.reference} saved.")
                return redirect(problem)
    return render(
        request,
        "incidents/problem_form.html",
        {"form": form, "problem": problem, "ci_names": _ci_names(user)},
        status=status,
    )


# --- known errors, proposals, the priority matrix, search ----------------------------------


KNOWN_ERROR_EXPORT_COLUMNS = csv_io.columns(
    ("Title", "title"),
    ("Problem", "problem.reference"),
    ("Published", "published_at"),
    ("Symptoms", "symptoms"),
    ("Workaround", "workaround"),
    ("Root cause", "root_cause"),
)


@login_required
def known_error_list(request):
    q = request.GET.get("q", "").strip()
    service = request.GET.get("service", "")
    service_id = parse_id(service)
    error = None
    if service and (service_id is None or not Service.objects.filter(pk=service_id).exists()):
        error = "No such service: choose one from the list, or any service."
    if error is not None:  # a refused filter lists nothing and exports nothing, never every known error
        found, page = [], None
    elif q or service_id:
        found = list(selectors.known_error_search(q=q, service=service_id, limit=100))
        page = None
    else:
        found = None
        if csv_io.export_requested(request):  # every published one, not a page of them
            found = KnownError.objects.filter(active=True).select_related("problem")
        else:
            page = _page(request, KnownError.objects.filter(active=True).select_related("problem"))
    if (
        csv_io.export_requested(request) and error is None
    ):  # what the page lists; problem details only to who sees problems
        shown = [
            c
            for c in KNOWN_ERROR_EXPORT_COLUMNS
            if policy.can(request.user, "problem.view") or c.header not in ("Problem", "Root cause")
        ]
        return csv_io.export_csv(found, shown, filename="known-errors")
    return render(
        request,
        "incidents/known_error_list.html",
        {
            "items": found if found is not None else page.items,
            "page": page,
            "q": q,
            "service": service,
            "services": Service.objects.order_by("name"),
            "show_problems": policy.can(request.user, "problem.view"),
            "error": error,
        },
        status=400 if error else 200,
    )


PROPOSAL_EXPORT_COLUMNS = csv_io.columns(
    ("CI", "ci.name"),
    ("Service", "service.name"),
    ("Incidents", "incident_count"),
    ("From", "window_start"),
    ("To", "window_end"),
    ("Status", "get_status_display"),
    ("Decided by", "decided_by.username"),
    ("Problem", "problem.reference"),
    ("Found", "created_at"),
)


@login_required
def proposal_list(request):
    _require_problems(request.user)
    status = request.GET.get("status", ProposalStatus.PROPOSED)
    qs = ProblemProposal.objects.select_related("ci", "service", "decided_by", "problem").order_by("-created_at")
    error = None
    if status in ProposalStatus.values:
        qs = qs.filter(status=status)
    elif status:
        error = f"No such status: choose one of {', '.join(ProposalStatus.values)}."
    if csv_io.export_requested(request) and error is None:  # a refused filter is shown, never exported as no filter
        return csv_io.export_csv(qs, PROPOSAL_EXPORT_COLUMNS, filename="problem-proposals")
    return render(
        request,
        "incidents/proposal_list.html",
        {
            "page": _page(request, qs.none() if error else qs),
            "status": status,
            "statuses": ProposalStatus.choices,
            "can_decide": policy.can(request.user, "problemproposal.decide"),
            "error": error,
        },
        status=400 if error else 200,
    )


def _proposal(request, pk):
    _require_problems(request.user)
    proposal = ProblemProposal.objects.filter(pk=pk).first()
    if proposal is None:
        raise Http404("No such proposal.")
    return proposal


@login_required
@require_POST
def proposal_accept(request, pk):
    proposal = _proposal(request, pk)
    try:
        problem = services.proposal_accept(actor=request.user, proposal=proposal)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("proposal_list")
    messages.success(request, f"Accepted: {problem.reference} recorded with its incidents.")
    return redirect(problem)


@login_required
@require_POST
def proposal_dismiss(request, pk):
    proposal = _proposal(request, pk)
    try:
        services.proposal_dismiss(actor=request.user, proposal=proposal)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Proposal dismissed.")
    return redirect("proposal_list")


def _matrix() -> dict:
    matrix = dict(services.DEFAULT_MATRIX)
    matrix.update({(r.impact, r.urgency): r.priority for r in PriorityRule.objects.all()})
    return matrix


@login_required
def priority_matrix(request):
    user = request.user
    can_configure = policy.can(user, "priority.configure")
    matrix = _matrix()
    form = PriorityMatrixForm(request.POST or None, matrix=matrix) if can_configure else None
    status = 200
    if request.method == "POST":
        if not can_configure:
            raise PermissionDenied("Only managers edit the priority matrix.")
        status = 400
        if form.is_valid():
            services.priority_matrix_update(actor=user, cells=form.cells())
            messages.success(request, "Priority matrix saved; it applies to incidents filed from now on.")
            return redirect("priority_matrix")
    rows = [
        {
            "impact": i,
            "label": label,
            "cells": [
                {"urgency": u, "priority": matrix[(i, u)], "field": form[f"p_{i}_{u}"] if form else None}
                for u, _ in Scale.choices
            ],
        }
        for i, label in Scale.choices
    ]
    return render(
        request,
        "incidents/priority_matrix.html",
        {"rows": rows, "urgencies": Scale.choices, "form": form, "can_configure": can_configure},
        status=status,
    )


@login_required
def support_search(request):
    q = request.GET.get("q", "").strip()
    results = selectors.search(user=request.user, q=q) if q else None
    if results is not None:
        # Known errors are published to everyone; their problems only to IT staff.
        results["show_problems"] = policy.can(request.user, "problem.view")
    return render(request, "incidents/search.html", {"q": q, "results": results})
