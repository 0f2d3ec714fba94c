"""Pages of the job schedule: the job list (filters, pagination, flags), a job's form,
its page (runs, flags, the services it reaches) and backup coverage. Thin: reads
through operations.jobs_selectors, writes through operations.jobs."""

import datetime as dt

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from mof import csv_io, policy
from mof.deletion import HistoryKept
from mof.forms import attempt
from mof.models import Service, Team
from mof.pagination import paginate, parse_id, parse_positive_int
from mof.views import _get_or_404
from operations import jobs, jobs_selectors
from operations.forms import COMMON_ZONES
from operations.models_jobs import JobKind, RunStatus, recurrence_error

PAGE_SIZE = 25
MAX_PAGE_SIZE = 200


class JobForm(forms.Form):
    name = forms.CharField(max_length=150)
    kind = forms.ChoiceField(choices=JobKind.choices)
    schedule = forms.CharField(
        max_length=100,
        help_text="Cron: minute hour day-of-month month day-of-week, e.g. 30 2 * * * (02:30 every day) or 0 22 * * 6 (Saturdays 22:00); or @daily, @weekly.",
    )
    time_zone = forms.CharField(
        max_length=60,
        initial="UTC",
        help_text="The IANA time zone the schedule is read in.",
        widget=forms.TextInput(attrs={"list": "time-zones"}),
    )
    target_cis = forms.CharField(
        label="Target CIs",
        max_length=4000,
        help_text="CI names or ids, separated by commas.",
        widget=forms.TextInput(attrs={"placeholder": "mbx-01, mbx-02"}),
    )
    expected_duration_minutes = forms.IntegerField(
        min_value=1, max_value=7 * 24 * 60, label="Expected duration (minutes)"
    )
    owner_group = forms.ModelChoiceField(queryset=Team.objects.order_by("name"), label="Owner group")
    backup_max_age_hours = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=24 * 366,
        label="Backup policy (hours)",
        help_text="Backup jobs: a good backup of each target CI at least every this many hours.",
    )
    active = forms.BooleanField(required=False, initial=True)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_target_cis(self):
        names = [n.strip() for n in self.cleaned_data["target_cis"].split(",") if n.strip()]
        if not names:
            raise forms.ValidationError("Name at least one configuration item.")
        visible = policy.visible_cis(self.user)
        ids = [parse_id(n) for n in names if parse_id(n) is not None]
        found = list(visible.filter(Q(name__in=names) | Q(pk__in=ids)))
        known = {c.name for c in found} | {str(c.pk) for c in found}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise forms.ValidationError(f"No configuration item named {', '.join(unknown[:5])}.")
        return found

    def clean(self):
        data = super().clean()
        for field, message in recurrence_error(data.get("schedule", ""), data.get("time_zone", "")).items():
            if field in data:
                self.add_error(field, message)
        return data


def _initial(job):
    return {
        "name": job.name,
        "kind": job.kind,
        "schedule": job.schedule,
        "time_zone": job.time_zone,
        "target_cis": ", ".join(c.name for c in job.target_cis.all()),
        "expected_duration_minutes": job.expected_duration_minutes,
        "owner_group": job.owner_group_id,
        "backup_max_age_hours": job.backup_max_age_hours,
        "active": job.active,
        "description": job.description,
    }


JOB_EXPORT_COLUMNS = csv_io.columns(
    ("Name", "name"),
    ("Kind", "get_kind_display"),
    ("Schedule", "schedule"),
    ("Time zone", "time_zone"),
    ("Expected minutes", "expected_duration_minutes"),
    ("Owner group", "owner_group.name"),
    ("Active", "active"),
    ("Backup policy (hours)", "backup_max_age_hours"),
    ("Created", "created_at"),
)


@login_required
@require_GET
def job_list(request):
    user = request.user
    if not policy.can(user, "job.view"):
        raise PermissionDenied("The job schedule is visible to IT staff.")
    qs = jobs_selectors.job_list(user=user)
    errors = []
    kind = request.GET.get("kind", "")
    if kind:
        if kind in JobKind.values:
            qs = qs.filter(kind=kind)
        else:
            errors.append(f"Choose a kind: {', '.join(JobKind.values)}.")
    state = request.GET.get("active", "")
    if state in ("1", "0"):
        qs = qs.filter(active=state == "1")
    group = request.GET.get("group", "")
    if group:
        qs = qs.filter(owner_group_id=parse_id(group)) if parse_id(group) is not None else qs.none()
    q = request.GET.get("q", "").strip()[:100]
    if q:
        qs = qs.filter(name__icontains=q)
    flagged = request.GET.get("flagged", "")
    flags = None
    if flagged == "1":
        # Flags are judged from the coming runs, not stored: judge every job the other filters
        # leave (together, as a page is) and keep the flagged ones, so that the pages and the
        # export hold all of them (a page at a time would drop some and paginate wrongly).
        flags = jobs_selectors.job_flags(list(qs.filter(active=True)))
        qs = qs.filter(pk__in=[pk for pk, found in flags.items() if found])
    elif flagged not in ("", "0"):
        errors.append("Flags: 1 for flagged jobs only, or nothing for every job.")
    if csv_io.export_requested(request) and not errors:  # a refused filter is shown, never exported as no filter
        return csv_io.export_csv(
            qs.select_related("owner_group").order_by("name", "pk"), JOB_EXPORT_COLUMNS, filename="jobs"
        )
    page = paginate(
        qs.order_by("name", "pk"),
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=parse_positive_int(request.GET.get("page_size"), PAGE_SIZE, MAX_PAGE_SIZE),
    )
    if flags is None:
        flags = jobs_selectors.job_flags(page.items)
    latest = jobs_selectors.last_runs(j.pk for j in page.items)
    rows = [{"job": j, "flags": flags.get(j.pk, []), "last": latest.get(j.pk)} for j in page.items]
    return render(
        request,
        "operations/job_list.html",
        {
            "page": page,
            "rows": rows,
            "kinds": JobKind.choices,
            "groups": list(Team.objects.order_by("name").only("pk", "name")),
            "kind": kind,
            "active": state,
            "group": group,
            "q": q,
            "flagged": flagged,
            "errors": errors,
            "flag_days": jobs_selectors.flag_days(),
            "can_add": policy.can(user, "job.add"),
        },
        status=400 if errors else 200,
    )


def _job_get(user, pk):
    return jobs_selectors.job_get(user=user, pk=pk)


@login_required
@require_GET
def job_detail(request, pk):
    job = _get_or_404(_job_get, request.user, pk)
    runs = paginate(
        jobs_selectors.run_list(user=request.user, job=job).order_by("-start", "-id"),
        page=parse_positive_int(request.GET.get("page"), 1),
        page_size=parse_positive_int(request.GET.get("page_size"), PAGE_SIZE, MAX_PAGE_SIZE),
    )
    now = timezone.now()
    upcoming = job.occurrences(now, now + dt.timedelta(days=7))[:10] if job.active else []
    coverage = (
        jobs_selectors.backup_coverage(user=request.user, ci_ids=[c.pk for c in job.target_cis.all()])
        if job.kind == JobKind.BACKUP
        else []
    )
    return render(
        request,
        "operations/job_detail.html",
        {
            "job": job,
            "page": runs,
            "flags": jobs_selectors.job_flags([job]).get(job.pk, []),
            "flag_days": jobs_selectors.flag_days(),
            "upcoming": upcoming,
            "services": list(Service.objects.filter(pk__in=job.service_ids or []).order_by("name")),
            "coverage": coverage,
            "can_edit": policy.can(request.user, "job.change", job),
            "can_delete": policy.can(request.user, "job.delete", job),
        },
    )


@login_required
def job_create(request):
    return _job_form(request, None)


@login_required
def job_edit(request, pk):
    return _job_form(request, _get_or_404(_job_get, request.user, pk))


def _job_form(request, job):
    if not policy.can(request.user, "job.change" if job else "job.add", job):
        raise PermissionDenied("Managers and the Operations role define jobs.")
    form = JobForm(request.POST or None, user=request.user, initial=_initial(job) if job else None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = dict(form.cleaned_data)
            data["backup_max_age_hours"] = data.get("backup_max_age_hours") or None
            if job is None:
                saved, status = attempt(form, lambda: jobs.job_create(actor=request.user, **data))
            else:
                saved, status = attempt(form, lambda: jobs.job_update(actor=request.user, job=job, **data))
            if saved is not None:
                messages.success(request, f"Job {saved.name} saved.")
                return redirect(saved)
    title = f"Edit {job.name}" if job else "New job"
    return render(
        request,
        "operations/job_form.html",
        {
            "form": form,
            "title": title,
            "job": job,
            "zones": COMMON_ZONES,
            "cancel": job.get_absolute_url() if job else reverse("job_list"),
        },
        status=status,
    )


@login_required
@require_POST
def job_delete(request, pk):
    job = _get_or_404(_job_get, request.user, pk)
    try:
        jobs.job_delete(actor=request.user, job=job)
    except HistoryKept as exc:  # it would lose history: say why, delete nothing
        messages.error(request, str(exc))
        return redirect(job.get_absolute_url())
    messages.success(request, f"Job {job.name} deleted.")
    return redirect("job_list")


BACKUP_EXPORT_COLUMNS = csv_io.columns(
    ("CI", "ci_name"),
    ("Policy (hours)", "policy_hours"),
    ("Last good backup", "last_good"),
    ("State", lambda r: "at risk" if r.at_risk else "covered"),
    ("Backup jobs", lambda r: [name for _pk, name in r.jobs]),
)


@login_required
@require_GET
def backup_coverage(request):
    if not policy.can(request.user, "backup.view"):
        raise PermissionDenied("Backup coverage is visible to IT staff.")
    rows = jobs_selectors.backup_coverage(user=request.user)
    at_risk = sum(1 for r in rows if r.at_risk)
    if request.GET.get("all") != "1":
        rows = [r for r in rows if r.at_risk]
    if csv_io.export_requested(request):  # what the page lists: at risk only, or every covered CI
        return csv_io.export_csv(rows, BACKUP_EXPORT_COLUMNS, filename="backup-coverage")
    page_size = parse_positive_int(request.GET.get("page_size"), 100, 500)
    number = parse_positive_int(request.GET.get("page"), 1)
    shown = rows[(number - 1) * page_size : number * page_size]
    return render(
        request,
        "operations/backup_coverage.html",
        {
            "rows": shown,
            "at_risk": at_risk,
            "show_all": request.GET.get("all") == "1",
            "total": len(rows),
            "has_next": number * page_size < len(rows),
            "number": number,
            "statuses": RunStatus,
        },
    )
