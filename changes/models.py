"""Changing quadrant: requests for change, standard-change templates, releases and the
definitive software library."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin

from changes.choices import ApprovalPath, ChangeStatus, ChangeType, Outcome, ReleaseStatus, TemplateStatus
from changes.workflow import ReleaseWorkflow, RequestForChangeWorkflow, StandardChangeTemplateWorkflow
from mof.audit import AuditedModel
from mof.models import ConfigurationItem, RiskAssessment
from mof.numbering import NumberedModel


class StandardChangeTemplate(StandardChangeTemplateWorkflow, ConcurrentTransitionMixin, FSMModelMixin, NumberedModel):
    """A pre-approved standard change: routine, low risk, repeatable."""

    number_prefix = "STD"
    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    implementation_plan = models.TextField()
    backout_plan = models.TextField()
    test_plan = models.TextField()
    risk_probability = models.PositiveSmallIntegerField(default=1, choices=RiskAssessment.Probability.choices)
    risk_impact = models.PositiveSmallIntegerField(default=1, choices=RiskAssessment.Impact.choices)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = FSMField(max_length=20, choices=TemplateStatus.choices, default=TemplateStatus.PROPOSED, protected=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.reference} {self.name}"

    def get_absolute_url(self):
        return reverse("change_template_detail", args=[self.pk])


class RequestForChange(RequestForChangeWorkflow, ConcurrentTransitionMixin, FSMModelMixin, NumberedModel):
    number_prefix = "CHG"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    business_justification = models.TextField(blank=True)
    type = models.CharField(max_length=10, choices=ChangeType.choices, default=ChangeType.NORMAL)
    template = models.ForeignKey(
        StandardChangeTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="changes"
    )
    status = FSMField(
        max_length=30, choices=ChangeStatus.choices, default=ChangeStatus.DRAFT, protected=True, db_index=True
    )

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requested_changes")
    change_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="managed_changes"
    )
    developer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="developed_changes"
    )
    tester = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="tested_changes"
    )
    implementer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="implemented_changes"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="approved_changes",
        editable=False,
    )
    approved_at = models.DateTimeField(null=True, blank=True, editable=False)
    decision_reason = models.TextField(blank=True, editable=False)

    affected_cis = models.ManyToManyField(ConfigurationItem, blank=True, related_name="changes")
    affected_services = models.JSONField(
        default=list,
        blank=True,
        encoder=DjangoJSONEncoder,
        editable=False,
        help_text="Impact-analysis snapshot: services with criticality and path.",
    )
    impacted_ci_ids = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="Impact-analysis snapshot: every CI that depends on the affected CIs.",
    )
    impact_analysed_at = models.DateTimeField(null=True, blank=True, editable=False)
    risk_assessment = models.ForeignKey(
        RiskAssessment, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approval_path = models.CharField(max_length=20, choices=ApprovalPath.choices, blank=True, editable=False)

    cost_estimate = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    expected_benefit = models.TextField(blank=True)
    expected_benefit_value = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The benefit in money, to weigh against the cost.",
    )

    implementation_plan = models.TextField(blank=True)
    backout_plan = models.TextField(blank=True)
    test_plan = models.TextField(blank=True)
    test_results = models.TextField(blank=True)
    test_environment = models.ManyToManyField(
        ConfigurationItem,
        blank=True,
        related_name="test_changes",
        help_text="CIs of the test lab that mirror the affected production CIs.",
    )

    planned_start = models.DateTimeField(null=True, blank=True, db_index=True)
    planned_end = models.DateTimeField(null=True, blank=True, db_index=True)
    actual_start = models.DateTimeField(null=True, blank=True, editable=False)
    actual_end = models.DateTimeField(null=True, blank=True, editable=False)
    outcome = models.CharField(max_length=30, choices=Outcome.choices, blank=True, editable=False)
    pir_notes = models.TextField(blank=True, verbose_name="post-implementation review notes")
    freeze_warning = models.TextField(blank=True, editable=False)
    # Derived, kept by changes.conflicts.refresh_marks on every write it depends on, so the
    # forward schedule reads it instead of comparing a month of changes pairwise.
    schedule_conflicts = models.JSONField(
        default=list,
        blank=True,
        editable=False,
        help_text="Kinds of collision with other scheduled changes (same_ci, impact, shared_impact, implementer); empty outside the scheduled states.",
    )

    attachments = GenericRelation("mof.Attachment", content_type_field="ticket_type", object_id_field="ticket_id")
    ical_sequence = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="SEQUENCE of the change window's calendar invitation: raised on each reschedule and on cancellation.",
    )
    window_invited = models.BooleanField(
        default=False, editable=False, help_text="A calendar invitation for the change window went out."
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-number"]
        verbose_name = "request for change"
        verbose_name_plural = "requests for change"
        indexes = [models.Index(fields=["status", "planned_start"], name="change_status_start_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_end__gt=models.F("planned_start"))
                | Q(planned_start__isnull=True)
                | Q(planned_end__isnull=True),
                name="change_planned_end_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"

    def get_absolute_url(self):
        return reverse("change_detail", args=[self.pk])

    def notification_recipients(self):
        return [self.requester, self.change_manager, self.implementer]

    # The marks change whenever another change moves: not a decision anyone made on this one.
    audit_exclude = ("schedule_conflicts",)

    def save(self, *args, **kwargs):
        # The marks are written by refresh_marks alone (an UPDATE under its lock): a save of a
        # change loaded before a neighbour's refresh must not put its stale copy back.
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name for f in self._meta.concrete_fields if not f.primary_key and f.name != "schedule_conflicts"
            ]
        return super().save(*args, **kwargs)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # State and period as stored: a write that moves the change refreshes the marks of the changes it leaves.
        instance._stored_schedule = tuple(
            instance.__dict__.get(name) for name in ("status", "planned_start", "planned_end")
        )
        return instance


class ChangeComment(AuditedModel):
    """Comments on an RFC, notably from the people its impact reaches, before the decision."""

    change = models.ForeignKey(RequestForChange, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Comment on {self.change.reference} by {self.author}"


class ChangeStakeholder(AuditedModel):
    """Someone the change's impact reaches: told when it is assessed, invited to its review."""

    change = models.ForeignKey(RequestForChange, on_delete=models.CASCADE, related_name="stakeholders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="change_stakes")
    reasons = models.JSONField(
        default=list, encoder=DjangoJSONEncoder, help_text="Why: 'owner of service Exchange mail', ..."
    )
    notified_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["change", "user"], name="unique_change_stakeholder")]
        ordering = ["user__username"]

    def __str__(self):
        return f"{self.user} on {self.change.reference}"


class Release(ReleaseWorkflow, ConcurrentTransitionMixin, FSMModelMixin, NumberedModel):
    number_prefix = "REL"
    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    release_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="managed_releases"
    )
    changes = models.ManyToManyField(RequestForChange, blank=True, related_name="releases")
    status = FSMField(
        max_length=30, choices=ReleaseStatus.choices, default=ReleaseStatus.PLANNING, protected=True, db_index=True
    )
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    deployed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-number"]

    def __str__(self):
        return f"{self.reference} {self.name}"

    def get_absolute_url(self):
        return reverse("release_detail", args=[self.pk])

    def notification_recipients(self):
        return [self.release_manager]


class ReleaseArtifact(AuditedModel):
    """The definitive software library's record of a master copy the release deploys."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=150)
    version = models.CharField(max_length=60)
    checksum = models.CharField(max_length=128, help_text="e.g. sha256:…")
    location = models.CharField(max_length=500, help_text="Where the master copy is kept.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["release", "name", "version"], name="unique_release_artifact")]
        ordering = ["name", "version"]

    def __str__(self):
        return f"{self.name} {self.version}"
