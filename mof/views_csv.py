"""Pages of the CMDB's CSV import: upload, preview (every error by row and field, and
what each row would do), then apply (all or nothing). Stateless: the preview page
carries the decoded file and its SHA-256 back in the apply form, and the apply step
plans it again from scratch. The rules live in mof.cmdb_import."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from mof import cmdb_import, csv_io, policy
from mof.csv_io import ImportRejected, max_bytes, template_csv
from mof.models import CIRelationship

PREVIEW_ROWS = 1000  # rows listed on the preview page (errors are always all listed)


@dataclass(frozen=True)
class ImportKind:
    slug: str
    title: str
    what: str
    may: Callable
    plan: Callable
    apply: Callable
    template: list
    columns_help: list[tuple[str, str]]


KINDS = {
    "cis": ImportKind(
        "cis",
        "Import configuration items",
        "configuration items",
        lambda user: policy.can(user, "ci.add"),
        cmdb_import.plan_ci_import,
        cmdb_import.apply_ci_import,
        cmdb_import.CI_TEMPLATE,
        [
            ("name", "Required. A name the CMDB has updates that CI; a new name creates one (planned)."),
            ("class", "A CI class's name or slug; required for a new CI."),
            ("owner", "The owner's username."),
            ("environment", "production, staging, test, development or dr (default production)."),
            ("services", 'The IT services it helps deliver, by name, separated by ";": replaces the CI\'s list.'),
            ("attributes", 'A JSON object of names and values, e.g. {"ip": "10.0.0.1"}.'),
            ("description", "Free text."),
        ],
    ),
    "relationships": ImportKind(
        "relationships",
        "Import relationships",
        "relationships",
        lambda user: policy.can(user, "relationship.add", CIRelationship()),
        cmdb_import.plan_relationship_import,
        cmdb_import.apply_relationship_import,
        cmdb_import.RELATIONSHIP_TEMPLATE,
        [
            ("source", "Required. The dependent CI, by name."),
            ("type", "depends_on (default), runs_on, connects_to or hosted_by."),
            (
                "target",
                "Required. What the source depends on, by name. Cycles are allowed; a CI cannot depend on itself.",
            ),
        ],
    ),
}


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="UTF-8 (with or without BOM), comma, semicolon or tab separated."
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > max_bytes():
            raise forms.ValidationError(
                f"The file is {upload.size:,} bytes; at most {max_bytes():,} may be imported at once."
            )
        return upload


class ApplyForm(forms.Form):
    content = forms.CharField(strip=False, widget=forms.Textarea)
    digest = forms.RegexField(regex=r"^[0-9a-f]{64}$")


def _kind(request, slug) -> ImportKind:
    kind = KINDS.get(slug)
    if kind is None:
        raise Http404("No such import.")
    if not kind.may(request.user):
        raise PermissionDenied(f"You may not import {kind.what}.")
    return kind


def _page(request, kind, *, form=None, plan=None, errors=None, status=200):
    return render(
        request,
        "mof/csv_import.html",
        {
            "kind": kind,
            "form": form or UploadForm(),
            "plan": plan,
            "rows": plan.rows[:PREVIEW_ROWS] if plan else [],
            "more_rows": max(0, len(plan.rows) - PREVIEW_ROWS) if plan else 0,
            "errors": errors if errors is not None else (plan.errors if plan else []),
            "max_bytes": max_bytes(),
            "template_url": reverse("csv_import_template", args=[kind.slug]),
        },
        status=status,
    )


@login_required
def csv_import(request, kind):
    kind = _kind(request, kind)
    if request.method != "POST":
        return _page(request, kind)
    if request.POST.get("step") == "apply":
        apply_form = ApplyForm(request.POST)
        if not apply_form.is_valid():
            return _page(
                request,
                kind,
                errors=[
                    {
                        "row": None,
                        "field": "file",
                        "message": "The previewed file did not come back whole: upload it again.",
                    }
                ],
                status=400,
            )
        try:
            plan = kind.apply(
                actor=request.user,
                data=apply_form.cleaned_data["content"],
                expected_digest=apply_form.cleaned_data["digest"],
            )
        except ImportRejected as rejected:
            return _page(request, kind, errors=rejected.errors, status=400)
        counts = plan.summary
        messages.success(
            request,
            f"Imported {kind.what}: {counts['create']} created, {counts['update']} updated, {counts['unchanged']} unchanged.",
        )
        return redirect("ci_list")
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _page(request, kind, form=form, status=400)
    try:
        plan = kind.plan(actor=request.user, data=form.cleaned_data["file"].read(max_bytes() + 1))
    except ImportRejected as rejected:
        return _page(request, kind, form=form, errors=rejected.errors, status=400)
    return _page(request, kind, form=form, plan=plan, status=400 if plan.errors else 200)


@login_required
@require_GET
def csv_import_template(request, kind):
    kind = _kind(request, kind)
    return template_csv(kind.template[0], kind.template[1:], filename=f"{kind.slug}-import-template")


# The relationships have no list page of their own (each CI's page shows its edges): this
# export is their list, in the import's columns, so an edited copy imports back.
RELATIONSHIP_EXPORT_COLUMNS = csv_io.columns(
    ("source", "source.name"),
    ("type", "type"),
    ("target", "target.name"),
    ("created", "created_at"),
)


@login_required
@require_GET
def relationship_export(request):
    visible = policy.visible_cis(request.user)
    rows = (
        CIRelationship.objects.filter(source__in=visible, target__in=visible)
        .select_related("source", "target")
        .order_by("source__name", "type", "target__name", "pk")
    )
    return csv_io.export_csv(rows, RELATIONSHIP_EXPORT_COLUMNS, filename="ci-relationships")
