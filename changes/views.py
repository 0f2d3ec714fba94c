"""Pages of the Changing quadrant: requests for change, releases and standard-change
templates. Reads through changes.selectors, state changes through the one generic
transition view (mof.views.transition_view) and the one door."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.views.decorators.http import require_POST

from changes import selectors, services
from changes.choices import (
    OPEN_BEFORE_IMPLEMENTATION,
    ChangeStatus,
    ChangeType,
    ReleaseStatus,
    TemplateStatus,
)
from changes.forms import (
    DATALIST_SIZE,
    ArtifactForm,
    AssessForm,
    ChangeForm,
    CommentForm,
    ReleaseForm,
    TemplateForm,
    TestEvidenceForm,
)
from changes.models import (
    Release,
    ReleaseArtifact,
    RequestForChange,
    StandardChangeTemplate,
)
from mof import csv_io, policy
from mof.attachments import KINDS as ATTACHMENT_KINDS
from mof.forms import attempt
from mof.models import ConfigurationItem
from mof.pagination import paginate, parse_id, parse_positive_int
from mof.views import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    _get_or_404,
    history_rows,
    quadrant_page,
    transition_panel,
    transition_view,
)
from mof.views_attachments import attach_from_form, attachment_context, attachment_form


@login_required
def landing(request):
    """The Changing quadrant: its SMFs, what exists for each, and the review it ends in."""
    changes = selectors.change_list(user=request.user).order_by()
    stats = [
        {
            "label": "changes awaiting a decision",
            "value": changes.filter(status__in=[ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED]).count(),
            "url": reverse("change_list") + "?status=assessed",
        },
        {
            "label": "changes ready for deployment",
            "value": changes.filter(status=ChangeStatus.READY).count(),
            "url": reverse("change_list") + "?status=ready_for_deployment",
        },
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


CHANGE_EXPORT_COLUMNS = csv_io.columns(
    ("Number", "reference"),
    ("Title", "title"),
    ("Type", "get_type_display"),
    ("Status", "get_status_display"),
    ("Risk", "risk_assessment.get_level_display"),
    ("Requester", "requester.username"),
    ("Change manager", "change_manager.username"),
    ("Implementer", "implementer.username"),
    ("Template", "template.reference"),
    ("Planned start", "planned_start"),
    ("Planned end", "planned_end"),
    ("Created", "created_at"),
)


@login_required
def change_list(request):
    qs = selectors.change_list(user=request.user)
    status, change_type, q = (
        request.GET.get("status", ""),
        request.GET.get("type", ""),
        request.GET.get("q", "").strip(),
    )
    errors = []
    if status in ChangeStatus.values:
        qs = qs.filter(status=status)
    elif status:
        errors.append(f"No such status: choose one of {', '.join(ChangeStatus.values)}, or any status.")
    if change_type in ChangeType.values:
        qs = qs.filter(type=change_type)
    elif change_type:
        errors.append(f"No such type: choose one of {', '.join(ChangeType.values)}, or any type.")
    if q:
        number = parse_id(q.upper().removeprefix("CHG-"))
        qs = qs.filter(number=number) if number is not None else qs.filter(title__icontains=q)
    if errors:  # a refused filter lists nothing and is never exported as no filter
        qs = qs.none()
    elif csv_io.export_requested(request):
        return csv_io.export_csv(qs, CHANGE_EXPORT_COLUMNS, filename="changes")
    # Counts for the states still in play only (an index scan over the few open changes);
    # the history (closed, cancelled, rejected) is never counted on a page view.
    finished = {ChangeStatus.CLOSED, ChangeStatus.CANCELLED, ChangeStatus.REJECTED}
    by_status = dict(
        selectors.visible_changes(request.user)
        .filter(status__in=[v for v in ChangeStatus.values if v not in finished])
        .order_by()
        .values_list("status")
        .annotate(n=Count("*"))
        .values_list("status", "n")
    )
    return render(
        request,
        "changes/change_list.html",
        {
            "page": _page(request, qs),
            "statuses": [
                (value, label, None if value in finished else by_status.get(value, 0))
                for value, label in ChangeStatus.choices
            ],
            "types": ChangeType.choices,
            "status": status,
            "type": change_type,
            "q": q,
            "can_add": policy.can(request.user, "change.add"),
            "errors": errors,
        },
        status=400 if errors else 200,
    )


def _conflicts_partial_exists() -> bool:
    try:
        get_template("changes/_conflicts.html")
    except TemplateDoesNotExist:
        return False
    return True


def _conflicts_context(change, user) -> dict:
    """The forward schedule's conflicts of a change still to be implemented, as the reader
    may read them (changes.conflicts.redact_for), with the next free slots when it has any
    (templates/changes/_conflicts.html)."""
    from changes import conflicts

    if change.status not in OPEN_BEFORE_IMPLEMENTATION or not _conflicts_partial_exists():
        return {"show_conflicts": False}
    found = conflicts.conflicts_for(change)
    return {
        "show_conflicts": True,
        "conflicts": conflicts.redact_for(found, user),
        "free_slots": conflicts.next_free_slots(change) if found else None,
    }


def _ci_datalist(user) -> list[str]:
    return list(policy.visible_cis(user).order_by("name").values_list("name", flat=True)[:DATALIST_SIZE])


def _may_record_evidence(user, change) -> bool:
    return change.status in (ChangeStatus.IN_DEVELOPMENT, ChangeStatus.IN_TEST) and policy.can(
        user, "change.change", change
    )


def _may_assess(user, change) -> bool:
    return (
        change.status == ChangeStatus.SUBMITTED
        and change.type != ChangeType.STANDARD
        and policy.can(user, "change.transition.assess", change)
        and policy.can(user, "risk.assess")
    )


def _may_analyse(user, change) -> bool:
    return change.status in OPEN_BEFORE_IMPLEMENTATION and policy.can(user, "change.analyse_impact", change)


def _may_comment(user, change) -> bool:
    return change.status not in (ChangeStatus.CLOSED, ChangeStatus.CANCELLED) and policy.can(
        user, "change.comment", change
    )


def _change_context(request, change, panel=None, *, forms=None):
    user = request.user
    forms = forms or {}
    visible = policy.visible_cis(user)
    visible_ci_ids = set(visible.filter(pk__in=change.impacted_ci_ids or []).values_list("pk", flat=True))
    affected_cis = list(visible.filter(changes=change).select_related("ci_class"))
    test_environment = list(visible.filter(test_changes=change).select_related("ci_class"))
    may = {
        "can_edit": policy.can(user, "change.change", change),
        "can_assess": _may_assess(user, change),
        "can_analyse": _may_analyse(user, change),
        "can_comment": _may_comment(user, change),
        "can_record_evidence": _may_record_evidence(user, change),
    }
    cost, benefit = change.cost_estimate, change.expected_benefit_value
    return {
        "change": change,
        "show_paths": policy.is_internal(user),  # paths name CIs a partner may not see
        "affected_cis": affected_cis,
        "test_environment": test_environment,
        "impacted_cis": list(
            ConfigurationItem.objects.filter(pk__in=visible_ci_ids).select_related("ci_class").order_by("name")[:200]
        ),
        "stakeholders": list(change.stakeholders.select_related("user")),
        "comments": list(change.comments.select_related("author")),
        "releases": list(change.releases.all()) if policy.can(user, "release.view") else [],
        "net_benefit": benefit - cost if cost is not None and benefit is not None else None,
        "history": history_rows(
            change,
            user=user,
            redact=() if policy.is_internal(user) else ("affected_services", "impacted_ci_ids", "internal_attachment"),
        ),
        "assess_form": forms.get("assess") or (AssessForm() if may["can_assess"] else None),
        "comment_form": forms.get("comment") or (CommentForm() if may["can_comment"] else None),
        "evidence_form": forms.get("evidence")
        or (
            TestEvidenceForm(
                visible_cis=visible, initial={"test_results": change.test_results, "test_environment": test_environment}
            )
            if may["can_record_evidence"]
            else None
        ),
        "impact_errors": forms.get("impact_errors", []),
        "ci_names": _ci_datalist(user) if (may["can_record_evidence"] or forms.get("evidence")) else [],
        **may,
        **_conflicts_context(change, user),
        **(panel or transition_panel(request, change, url_name="change_transition", elsewhere=CHANGE_FORMS_ELSEWHERE)),
        **attachment_context(
            user,
            change,
            url=reverse("change_attach", args=[change.pk]),
            form=forms.get("attach"),
            can_attach=change.status not in ATTACH_CLOSED and policy.can(user, "change.attach", change),
        ),
    }


ATTACH_CLOSED = ATTACHMENT_KINDS["changes.requestforchange"].closed
# A change is assessed with the page's risk and impact form, shown under the panel.
CHANGE_FORMS_ELSEWHERE = {"assess": "#assess"}


def _render_change(request, change, *, status=200, panel=None, **forms):
    return render(
        request, "changes/change_detail.html", _change_context(request, change, panel, forms=forms), status=status
    )


@login_required
def change_detail(request, pk):
    change = _get_or_404(_change_get, request.user, pk)
    return _render_change(request, change)


@login_required
def change_transition(request, pk, name):
    return transition_view(
        request,
        model=RequestForChange,
        pk=pk,
        name=name,
        get_object=_change_get,
        url_name="change_transition",
        elsewhere=CHANGE_FORMS_ELSEWHERE,
        render_page=lambda request, obj, panel, status: _render_change(request, obj, status=status, panel=panel),
    )


def _change_form_page(request, form, *, change=None, template=None, status=200):
    return render(
        request,
        "changes/change_form.html",
        {"form": form, "change": change, "from_template": template, "ci_names": _ci_datalist(request.user)},
        status=status,
    )


def _file_change(request, form, *, template=None):
    fields = form.service_fields()
    if template is not None:
        fields.update(template=template, type=ChangeType.STANDARD)
    return attempt(form, lambda: services.change_create(actor=request.user, **fields))


@login_required
def change_create(request):
    """File a request for change: normal or emergency, or standard from a chosen template."""
    if not policy.can(request.user, "change.add"):
        raise PermissionDenied("You may not file requests for change.")
    visible = policy.visible_cis(request.user)
    form = ChangeForm(request.POST or None, user=request.user, visible_cis=visible)
    if request.method == "POST":
        if form.is_valid():
            change, status = _file_change(request, form)
            if change is not None:
                messages.success(
                    request, f"{change.reference} filed as a draft: submit it when its plans are complete."
                )
                return redirect(change)
        else:
            status = 400
        return _change_form_page(request, form, status=status)
    return _change_form_page(request, form)


@login_required
def change_create_from_template(request, pk):
    """ "Use this template": the RFC pre-filled from an approved standard-change template,
    its type forced to standard and its plans those the template was approved with."""
    if not policy.can(request.user, "change.add"):
        raise PermissionDenied("You may not file requests for change.")
    template = _get_or_404(_template_get, request.user, pk)
    visible = policy.visible_cis(request.user)
    form = ChangeForm(request.POST or None, user=request.user, visible_cis=visible, template=template)
    if template.status != TemplateStatus.APPROVED:
        messages.error(
            request,
            f"{template.reference} is not approved for use: it awaits the Release Approved Review, or it is retired.",
        )
        if request.method == "POST":
            return _change_form_page(request, form, template=template, status=400)
        return redirect(template)
    if request.method == "POST":
        if form.is_valid():
            change, status = _file_change(request, form, template=template)
            if change is not None:
                messages.success(
                    request,
                    f"{change.reference} filed from {template.reference}: submitting it approves it (pre-approved).",
                )
                return redirect(change)
        else:
            status = 400
        return _change_form_page(request, form, template=template, status=status)
    return _change_form_page(request, form, template=template)


def _keep_invisible(change, field, chosen, visible):
    """A reader who sees only some CIs edits only those: the others named stay named."""
    hidden = list(getattr(change, field).exclude(pk__in=visible.values("pk")))
    return list(chosen) + hidden


@login_required
def change_edit(request, pk):
    change = _get_or_404(_change_get, request.user, pk)
    if not policy.can(request.user, "change.change", change):
        raise PermissionDenied("You may not change this request for change now.")
    visible = policy.visible_cis(request.user)
    form = ChangeForm(request.POST or None, user=request.user, visible_cis=visible, change=change)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            fields = form.service_fields()
            for name in ("affected_cis", "test_environment"):
                if name in fields:
                    fields[name] = _keep_invisible(change, name, fields[name], visible)
            # The service decides on the record as stored, not on a copy the form touched.
            stored = _change_get(request.user, pk)
            saved, status = attempt(form, lambda: services.change_update(actor=request.user, change=stored, **fields))
            if saved is not None:
                messages.success(request, f"{saved.reference} saved.")
                return redirect(saved)
    return _change_form_page(request, form, change=change, status=status)


@login_required
@require_POST
def change_assess(request, pk):
    """Risk (probability x impact on the Risk Model's scales) and impact in one step."""
    change = _get_or_404(_change_get, request.user, pk)
    policy.require(request.user, "change.transition.assess", change)
    form = AssessForm(request.POST)
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        done, status = attempt(
            form,
            lambda: services.change_assess(
                actor=request.user,
                change=change,
                probability=data["probability"],
                impact=data["impact"],
                notes=data["notes"],
            ),
        )
        if done is not None:
            messages.success(
                request,
                f"{done.reference} assessed: {done.risk_assessment.get_level_display()} risk, {done.get_approval_path_display()}.",
            )
            return redirect(done)
    return _render_change(request, _change_get(request.user, pk), status=status, assess=form)


@login_required
@require_POST
def change_analyse_impact(request, pk):
    """Refresh the impact-analysis snapshot through the CMDB."""
    change = _get_or_404(_change_get, request.user, pk)
    policy.require(request.user, "change.analyse_impact", change)
    try:
        change = services.change_analyse_impact(actor=request.user, change=change)
    except ValidationError as exc:
        return _render_change(request, change, status=400, impact_errors=exc.messages)
    messages.success(request, f"Impact analysed: {len(change.affected_services)} IT service(s) reached.")
    return redirect(reverse("change_detail", args=[change.pk]) + "#impact")


@login_required
@require_POST
def change_comment(request, pk):
    change = _get_or_404(_change_get, request.user, pk)
    policy.require(request.user, "change.comment", change)
    form = CommentForm(request.POST)
    status = 400
    if form.is_valid():
        comment, status = attempt(
            form, lambda: services.change_comment(actor=request.user, change=change, body=form.cleaned_data["body"])
        )
        if comment is not None:
            messages.success(request, "Comment added.")
            return redirect(reverse("change_detail", args=[change.pk]) + "#comments")
    return _render_change(request, change, status=status, comment=form)


@login_required
@require_POST
def change_attach(request, pk):
    change = _get_or_404(_change_get, request.user, pk)
    form = attachment_form(request)
    status = 400
    if form.is_valid():
        _, status = attempt(form, lambda: attach_from_form(request, form, change))
        if status is None:
            messages.success(request, "File attached.")
            return redirect(reverse("change_detail", args=[change.pk]) + "#attach")
    return _render_change(request, change, status=status, attach=form)


@login_required
@require_POST
def change_test_evidence(request, pk):
    """Test results and the test environment they came from: what passing the tests needs."""
    change = _get_or_404(_change_get, request.user, pk)
    if not _may_record_evidence(request.user, change):
        policy.require(request.user, "change.change", change)
        raise PermissionDenied("Test evidence is recorded while the change is in development or in test.")
    visible = policy.visible_cis(request.user)
    form = TestEvidenceForm(request.POST, visible_cis=visible)
    status = 400
    if form.is_valid():
        environment = _keep_invisible(change, "test_environment", form.cleaned_data["test_environment"], visible)
        saved, status = attempt(
            form,
            lambda: services.change_update(
                actor=request.user,
                change=change,
                test_results=form.cleaned_data["test_results"],
                test_environment=environment,
            ),
        )
        if saved is not None:
            messages.success(request, "Test evidence recorded.")
            return redirect(saved)
    return _render_change(request, _change_get(request.user, pk), status=status, evidence=form)


# --- releases ---------------------------------------------------------------------------


def _release_get(user, pk):
    return selectors.release_list(user=user).get(pk=pk)


RELEASE_EXPORT_COLUMNS = csv_io.columns(
    ("Number", "reference"),
    ("Name", "name"),
    ("Status", "get_status_display"),
    ("Release manager", "release_manager.username"),
    ("Changes", "change_count"),
    ("Planned start", "planned_start"),
    ("Planned end", "planned_end"),
    ("Deployed", "deployed_at"),
)


@login_required
def release_list(request):
    qs = selectors.release_list(user=request.user).annotate(change_count=Count("changes"))
    if csv_io.export_requested(request):
        return csv_io.export_csv(qs, RELEASE_EXPORT_COLUMNS, filename="releases")
    return render(
        request,
        "changes/release_list.html",
        {
            "page": _page(request, qs),
            "can_view": policy.can(request.user, "release.view"),
            "can_add": policy.can(request.user, "release.add"),
        },
    )


def _release_context(request, release, panel=None, *, artifact_form=None):
    user = request.user
    can_add_artifacts = release.status == ReleaseStatus.PLANNING and policy.can(user, "release.change", release)
    return {
        "release": release,
        "changes": list(
            selectors.visible_changes(user, release.changes.all()).select_related("risk_assessment").order_by("-number")
        ),
        "artifacts": list(release.artifacts.all()),
        "can_edit": release.status in (ReleaseStatus.PLANNING, ReleaseStatus.BUILT)
        and policy.can(user, "release.change", release),
        "artifact_form": artifact_form or (ArtifactForm() if can_add_artifacts else None),
        "history": history_rows(release, user=user),
        **(panel or transition_panel(request, release, url_name="release_transition")),
    }


@login_required
def release_detail(request, pk):
    release = _get_or_404(_release_get, request.user, pk)
    return render(request, "changes/release_detail.html", _release_context(request, release))


@login_required
def release_transition(request, pk, name):
    return transition_view(
        request,
        model=Release,
        pk=pk,
        name=name,
        get_object=_release_get,
        url_name="release_transition",
        render_page=lambda request, obj, panel, status: render(
            request, "changes/release_detail.html", _release_context(request, obj, panel), status=status
        ),
    )


def _change_refs(user) -> list[str]:
    """Suggestions for the release form: the newest changes still before implementation."""
    numbers = (
        selectors.visible_changes(user)
        .filter(status__in=OPEN_BEFORE_IMPLEMENTATION)
        .order_by("-number")
        .values_list("number", flat=True)
    )
    return [f"CHG-{n}" for n in numbers[:DATALIST_SIZE]]


def _release_form_page(request, form, *, release=None, status=200):
    return render(
        request,
        "changes/release_form.html",
        {"form": form, "release": release, "change_refs": _change_refs(request.user)},
        status=status,
    )


@login_required
def release_create(request):
    if not policy.can(request.user, "release.add"):
        raise PermissionDenied("Releases are planned by the Release role and managers.")
    form = ReleaseForm(request.POST or None, visible_changes=selectors.visible_changes(request.user))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            release, status = attempt(
                form,
                lambda: services.release_create(
                    actor=request.user, changes=form.cleaned_data["changes"], **form.service_fields()
                ),
            )
            if release is not None:
                messages.success(
                    request, f"{release.reference} planned: add its artifacts from the definitive software library."
                )
                return redirect(release)
    return _release_form_page(request, form, status=status)


@login_required
def release_edit(request, pk):
    release = _get_or_404(_release_get, request.user, pk)
    if not policy.can(request.user, "release.change", release):
        raise PermissionDenied("You may not change this release.")
    visible = selectors.visible_changes(request.user)
    form = ReleaseForm(request.POST or None, visible_changes=visible, release=release)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            # Changes the editor may not see stay in the release.
            hidden = list(release.changes.exclude(pk__in=visible.values("pk")))
            changes = list(form.cleaned_data["changes"]) + hidden
            saved, status = attempt(
                form,
                lambda: services.release_update(
                    actor=request.user, release=_release_get(request.user, pk), changes=changes, **form.service_fields()
                ),
            )
            if saved is not None:
                messages.success(request, f"{saved.reference} saved.")
                return redirect(saved)
    return _release_form_page(request, form, release=release, status=status)


@login_required
@require_POST
def release_artifact_add(request, pk):
    """Record a master copy of the definitive software library in the release."""
    release = _get_or_404(_release_get, request.user, pk)
    policy.require(request.user, "release.change", release)
    form = ArtifactForm(request.POST, instance=ReleaseArtifact(release=release))
    status = 400
    if form.is_valid():
        artifact, status = attempt(
            form, lambda: services.artifact_add(actor=request.user, release=release, **form.service_fields())
        )
        if artifact is not None:
            messages.success(request, f"Artifact {artifact} added to {release.reference}.")
            return redirect(release)
    return render(
        request, "changes/release_detail.html", _release_context(request, release, artifact_form=form), status=status
    )


# --- standard-change templates -----------------------------------------------------------


def _template_get(user, pk):
    return selectors.template_list(user=user).get(pk=pk)


TEMPLATE_EXPORT_COLUMNS = csv_io.columns(
    ("Number", "reference"),
    ("Name", "name"),
    ("Status", "get_status_display"),
    ("Owner", "owner.username"),
    ("Risk probability", "risk_probability"),
    ("Risk impact", "risk_impact"),
    ("Changes", "change_count"),
)


@login_required
def change_template_list(request):
    qs = selectors.template_list(user=request.user).annotate(change_count=Count("changes"))
    if csv_io.export_requested(request):
        return csv_io.export_csv(qs, TEMPLATE_EXPORT_COLUMNS, filename="standard-change-templates")
    return render(
        request,
        "changes/template_list.html",
        {
            "page": _page(request, qs),
            "can_view": policy.can(request.user, "changetemplate.view"),
            "can_add": policy.can(request.user, "changetemplate.add"),
            "can_file": policy.can(request.user, "change.add"),
        },
    )


def _template_context(request, template, panel=None):
    from mof.services import risk_level_for

    user = request.user
    score = template.risk_probability * template.risk_impact
    return {
        "template": template,
        "risk_score": score,
        "risk_level": risk_level_for(score),
        "can_edit": template.status == TemplateStatus.PROPOSED and policy.can(user, "changetemplate.change", template),
        "can_use": template.status == TemplateStatus.APPROVED and policy.can(user, "change.add"),
        "recent_changes": list(selectors.visible_changes(user, template.changes.all()).order_by("-number")[:20]),
        "history": history_rows(template, user=user),
        **(panel or transition_panel(request, template, url_name="change_template_transition")),
    }


@login_required
def change_template_detail(request, pk):
    template = _get_or_404(_template_get, request.user, pk)
    return render(request, "changes/template_detail.html", _template_context(request, template))


@login_required
def change_template_transition(request, pk, name):
    return transition_view(
        request,
        model=StandardChangeTemplate,
        pk=pk,
        name=name,
        get_object=_template_get,
        url_name="change_template_transition",
        render_page=lambda request, obj, panel, status: render(
            request, "changes/template_detail.html", _template_context(request, obj, panel), status=status
        ),
    )


@login_required
def change_template_create(request):
    if not policy.can(request.user, "changetemplate.add"):
        raise PermissionDenied("Standard-change templates are proposed by the Release role and managers.")
    form = TemplateForm(request.POST or None, instance=StandardChangeTemplate(owner=request.user))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            template, status = attempt(
                form, lambda: services.template_create(actor=request.user, **form.service_fields())
            )
            if template is not None:
                messages.success(
                    request, f"{template.reference} proposed: it is approved at a Release Approved Review."
                )
                return redirect(template)
    return render(request, "changes/template_form.html", {"form": form, "template": None}, status=status)


@login_required
def change_template_edit(request, pk):
    template = _get_or_404(_template_get, request.user, pk)
    if not policy.can(request.user, "changetemplate.change", template):
        raise PermissionDenied("You may not change this template.")
    # The form validates a copy; the service decides on the record as stored.
    form = TemplateForm(request.POST or None, instance=_template_get(request.user, pk))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            saved, status = attempt(
                form, lambda: services.template_update(actor=request.user, template=template, **form.service_fields())
            )
            if saved is not None:
                messages.success(request, f"{saved.reference} saved.")
                return redirect(saved)
    return render(request, "changes/template_form.html", {"form": form, "template": template}, status=status)
