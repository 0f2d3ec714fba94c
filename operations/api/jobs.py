"""API of the job schedule: jobs (CRUD, with their off-peak flags), the runs a job's tool
reports, and backup coverage.

    POST  /api/v1/jobs/{id}/runs/            a run started (with `status`: and finished, in one call)
    PATCH /api/v1/jobs/{id}/runs/{run_id}/   a run finished: status, figures, log excerpt
"""

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from mof import audit, policy
from mof.api.fields import SPARSE_ACTIONS, SparseFieldsMixin, SparseFieldsView
from mof.api.views import HistoryMixin, _written
from mof.models import ConfigurationItem, Team
from operations import jobs, jobs_selectors
from operations.models_jobs import (
    FLAG_KINDS,
    LOG_EXCERPT_MAX,
    RUN_OUTCOMES,
    Job,
    JobKind,
    JobRun,
    RunStatus,
    recurrence_error,
)

MAX_REQUEST_LOG = 100_000  # characters of log a report may carry; the tail is kept


class FlagSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=FLAG_KINDS)
    reason = serializers.CharField()
    item = serializers.CharField()
    url = serializers.CharField(allow_blank=True)
    first = serializers.DateTimeField(help_text="The first run in the horizon that clashes.")
    count = serializers.IntegerField(help_text="How many runs in the horizon clash.")


class JobSerializer(serializers.ModelSerializer):
    target_cis = serializers.PrimaryKeyRelatedField(
        many=True, queryset=ConfigurationItem.objects.all(), help_text="Ids of the CIs the job works on."
    )
    owner_group = serializers.PrimaryKeyRelatedField(
        queryset=Team.objects.all(), help_text="Id of the owning assignment group."
    )
    schedule = serializers.CharField(
        max_length=100,
        help_text="Cron: minute hour day-of-month month day-of-week, e.g. '30 2 * * *'; or @daily, @weekly ...",
    )
    time_zone = serializers.CharField(max_length=60, default="UTC", help_text="An IANA time zone, e.g. Europe/London.")
    expected_duration_minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60)
    backup_max_age_hours = serializers.IntegerField(
        min_value=1,
        max_value=24 * 366,
        required=False,
        allow_null=True,
        help_text="Backup jobs: a good backup of each target CI at least every N hours.",
    )
    flags = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "schedule",
            "time_zone",
            "target_cis",
            "expected_duration_minutes",
            "owner_group",
            "active",
            "backup_max_age_hours",
            "service_ids",
            "incident",
            "flags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["service_ids", "incident", "created_at", "updated_at"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["target_cis"].child_relation.queryset = policy.visible_cis(request.user)

    @extend_schema_field(FlagSerializer(many=True))
    def get_flags(self, obj) -> list[dict]:
        flags = self.context.get("flags")
        if flags is None:
            flags = jobs_selectors.job_flags([obj])
        return FlagSerializer(flags.get(obj.pk, []), many=True).data

    def validate(self, data):
        schedule = data.get("schedule", getattr(self.instance, "schedule", ""))
        time_zone = data.get("time_zone", getattr(self.instance, "time_zone", "UTC"))
        errors = recurrence_error(schedule, time_zone)
        kind = data.get("kind", getattr(self.instance, "kind", JobKind.BATCH))
        hours = data.get("backup_max_age_hours", getattr(self.instance, "backup_max_age_hours", None))
        if kind == JobKind.BACKUP and not hours:
            errors["backup_max_age_hours"] = (
                "A backup job needs a policy: a good backup of each target CI at least every N hours."
            )
        elif kind != JobKind.BACKUP and hours:
            errors["backup_max_age_hours"] = "Only backup jobs have a backup policy."
        if "target_cis" in data and not data["target_cis"]:
            errors["target_cis"] = "Name at least one configuration item the job works on."
        if errors:
            raise serializers.ValidationError(errors)
        return data


class RunSerializer(serializers.ModelSerializer):
    job = serializers.PrimaryKeyRelatedField(read_only=True)
    cis = serializers.PrimaryKeyRelatedField(many=True, read_only=True, help_text="The target CIs it works on.")

    class Meta:
        model = JobRun
        fields = [
            "id",
            "job",
            "status",
            "planned_for",
            "start",
            "end",
            "started_at",
            "finished_at",
            "bytes_processed",
            "items_processed",
            "log_excerpt",
            "cis",
            "reported_by",
            "incident",
            "created_at",
        ]
        read_only_fields = fields


class RunStartSerializer(serializers.Serializer):
    """A run started; with `status` it also finished (one call for tools that report afterwards)."""

    started_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    planned_for = serializers.DateTimeField(
        required=False, allow_null=True, help_text="The occurrence it answers; default: the one matching its start."
    )
    cis = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=ConfigurationItem.objects.all(),
        help_text="Target CIs it works on; default: all.",
    )
    status = serializers.ChoiceField(choices=RUN_OUTCOMES, required=False)
    finished_at = serializers.DateTimeField(required=False)
    bytes_processed = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    items_processed = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    log_excerpt = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_REQUEST_LOG,
        help_text=f"The last {LOG_EXCERPT_MAX} characters are kept.",
    )

    def validate(self, data):
        finish = {"finished_at", "bytes_processed", "items_processed", "log_excerpt"} & set(data)
        if finish and "status" not in data:
            raise serializers.ValidationError(
                {
                    "status": "Say how the run ended (success, failed, partial) with its figures, or report them when it finishes."
                }
            )
        started, finished = data.get("started_at"), data.get("finished_at")
        if started and finished and finished < started:
            raise serializers.ValidationError({"finished_at": "A run cannot finish before it started."})
        return data


class RunFinishSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RUN_OUTCOMES)
    finished_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    bytes_processed = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    items_processed = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    log_excerpt = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_REQUEST_LOG,
        help_text=f"The last {LOG_EXCERPT_MAX} characters are kept.",
    )


FINISH_FIELDS = ("status", "finished_at", "bytes_processed", "items_processed", "log_excerpt")


def _finish_data(validated: dict) -> dict:
    return {k: v for k, v in validated.items() if k in FINISH_FIELDS and v is not None}


def _check_finish_time(run, finished_at):
    if finished_at is not None and finished_at < run.start:
        raise ValidationError({"finished_at": "A run cannot finish before it started."})


class JobViewSet(SparseFieldsMixin, HistoryMixin, viewsets.ModelViewSet):
    """Scheduled jobs (backup, batch, maintenance) with their off-peak flags for the next
    days (business hours of the services they reach, freezes, changes on the same CIs)."""

    serializer_class = JobSerializer
    sparse_actions = (*SPARSE_ACTIONS, "runs")
    paginated_actions = ("runs",)  # GET runs answers a page, and the schema says so (mof.api.schema)
    filterset_fields = {"kind": ["exact"], "active": ["exact"], "owner_group": ["exact"]}
    ordering_fields = ["name", "id"]
    search_fields = ["name"]

    def get_queryset(self):
        return jobs_selectors.job_list(user=self.request.user).order_by("name", "id")

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        serializer = self.get_serializer(page, many=True)
        if "flags" in serializer.child.fields:  # not when ?fields= leaves them out
            serializer.context["flags"] = jobs_selectors.job_flags(page)  # the page's jobs judged together
        return self.get_paginated_response(serializer.data)

    def create(self, request, *args, **kwargs):
        policy.require(request.user, "job.add")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = jobs.job_create(actor=request.user, **serializer.validated_data)
        return _written(serializer, self.get_queryset().get(pk=job.pk))

    def update(self, request, *args, **kwargs):
        job = self.get_object()
        policy.require(request.user, "job.change", job)
        serializer = self.get_serializer(job, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        jobs.job_update(actor=request.user, job=job, **serializer.validated_data)
        return Response(self.get_serializer(self.get_queryset().get(pk=job.pk)).data)

    def destroy(self, request, *args, **kwargs):
        jobs.job_delete(actor=request.user, job=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["get"], responses=RunSerializer(many=True), summary="The job's runs, latest first")
    @extend_schema(
        methods=["post"],
        request=RunStartSerializer,
        responses={201: RunSerializer},
        summary="Report a run started (or, with status, started and finished)",
    )
    @action(detail=True, methods=["get", "post"], url_path="runs")
    def runs(self, request, pk=None):
        job = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(
                jobs_selectors.run_list(user=request.user, job=job).prefetch_related("cis").order_by("-start", "-id")
            )
            return self.get_paginated_response(self.sparse(RunSerializer(page, many=True)).data)
        policy.require(request.user, "job.report_run", job)
        serializer = RunStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        with audit.refusals_survive_rollback(), transaction.atomic():
            run = jobs.run_start(
                actor=request.user,
                job=job,
                started_at=data.get("started_at"),
                planned_for=data.get("planned_for"),
                cis=data.get("cis", ()),
            )
            if "status" in data:
                _check_finish_time(run, data.get("finished_at"))
                run = jobs.run_finish(actor=request.user, run=run, data=_finish_data(data))
        run = JobRun.objects.prefetch_related("cis").get(pk=run.pk)
        return Response(RunSerializer(run).data, status=status.HTTP_201_CREATED)


class JobRunView(SparseFieldsView, APIView):
    """One run of a job: read it, or report that it finished."""

    sparse_serializer = RunSerializer

    @extend_schema(responses=RunSerializer, summary="A run of a job")
    def get(self, request, job_pk, pk):
        return Response(self.sparse(RunSerializer(self._run(request, job_pk, pk))).data)

    @extend_schema(
        request=RunFinishSerializer,
        responses=RunSerializer,
        summary="Report a run finished: status, figures, log excerpt",
    )
    def patch(self, request, job_pk, pk):
        run = self._run(request, job_pk, pk)
        policy.require(request.user, "job.report_run", run.job)
        serializer = RunFinishSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        _check_finish_time(run, serializer.validated_data.get("finished_at"))
        if run.status not in (RunStatus.RUNNING, RunStatus.MISSED):
            raise ValidationError({"status": f"This run is already reported {run.get_status_display().lower()}."})
        run = jobs.run_finish(actor=request.user, run=run, data=_finish_data(serializer.validated_data))
        return Response(RunSerializer(JobRun.objects.prefetch_related("cis").get(pk=run.pk)).data)

    def _run(self, request, job_pk, pk) -> JobRun:
        job = get_object_or_404(jobs_selectors.job_list(user=request.user), pk=job_pk)
        return get_object_or_404(jobs_selectors.run_list(user=request.user, job=job).prefetch_related("cis"), pk=pk)


class CoverageSerializer(serializers.Serializer):
    ci_id = serializers.IntegerField()
    ci_name = serializers.CharField()
    policy_hours = serializers.IntegerField()
    last_good = serializers.DateTimeField(allow_null=True)
    at_risk = serializers.BooleanField()
    jobs = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ListField(child=serializers.DictField()))
    def get_jobs(self, obj):
        return [{"id": pk, "name": name} for pk, name in obj.jobs]


class BackupCoverageView(SparseFieldsView, APIView):
    """Every CI under a backup policy: its last good backup and whether it is at risk."""

    sparse_serializer = CoverageSerializer

    @extend_schema(responses=CoverageSerializer(many=True), summary="Backup coverage: CIs at risk first")
    def get(self, request):
        policy.require(request.user, "backup.view")
        rows = jobs_selectors.backup_coverage(user=request.user)
        if request.query_params.get("at_risk") in ("1", "true"):
            rows = [r for r in rows if r.at_risk]
        return Response(self.sparse(CoverageSerializer(rows[:5000], many=True)).data)


class ScheduleJobItemSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text="Always 'job'.")
    id = serializers.IntegerField(help_text="The job's id.")
    uid = serializers.CharField()
    reference = serializers.CharField(allow_blank=True)
    title = serializers.CharField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    status = serializers.CharField(help_text="A run's status, or 'planned' for an occurrence not run yet.")
    url = serializers.CharField(allow_blank=True)
    conflicts = serializers.ListField(child=serializers.CharField())


def schedule_serializer():
    """The forward schedule's response with its job runs and planned occurrences (schema)."""
    from operations.api.serializers import ScheduleSerializer

    class ScheduleWithJobsSerializer(ScheduleSerializer):
        jobs = ScheduleJobItemSerializer(
            many=True, help_text="Job runs in the period, and planned occurrences from now on."
        )

    return ScheduleWithJobsSerializer
