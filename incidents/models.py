"""Supporting quadrant: incidents, the priority matrix, problems and known errors."""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin

from incidents.choices import (
    Channel,
    HoldReason,
    IncidentStatus,
    NoteKind,
    ProblemStatus,
    ProposalStatus,
    ResolutionCode,
    Scale,
)
from incidents.workflow import IncidentWorkflow, ProblemProposalWorkflow, ProblemWorkflow
from mof.audit import AuditedModel
from mof.models import ConfigurationItem, Service, Team
from mof.numbering import NumberedModel

User = settings.AUTH_USER_MODEL


class PriorityRule(AuditedModel):
    """One cell of the priority matrix: impact x urgency -> P1..P5 (managers edit it)."""

    impact = models.PositiveSmallIntegerField(choices=Scale.choices)
    urgency = models.PositiveSmallIntegerField(choices=Scale.choices)
    priority = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["impact", "urgency"]
        constraints = [
            models.UniqueConstraint(fields=["impact", "urgency"], name="unique_priority_cell"),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=5), name="priority_p1_to_p5"),
        ]

    def __str__(self):
        return f"impact {self.impact} x urgency {self.urgency} = P{self.priority}"


class Incident(IncidentWorkflow, ConcurrentTransitionMixin, FSMModelMixin, NumberedModel):
    number_prefix = "INC"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    caller = models.ForeignKey(User, on_delete=models.PROTECT, related_name="called_incidents")
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.PORTAL)
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents")
    affected_cis = models.ManyToManyField(ConfigurationItem, blank=True, related_name="incidents")
    impact = models.PositiveSmallIntegerField(choices=Scale.choices, default=Scale.MEDIUM)
    urgency = models.PositiveSmallIntegerField(choices=Scale.choices, default=Scale.MEDIUM)
    priority = models.PositiveSmallIntegerField(default=3, editable=False, db_index=True)
    category = models.CharField(max_length=60, blank=True)
    assignment_group = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    assignee = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_incidents"
    )
    status = FSMField(max_length=20, choices=IncidentStatus.choices, default=IncidentStatus.NEW, protected=True)
    hold_reason = models.CharField(max_length=20, choices=HoldReason.choices, blank=True, editable=False)
    resolution_code = models.CharField(max_length=20, choices=ResolutionCode.choices, blank=True, editable=False)
    resolution_notes = models.TextField(blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    reopen_count = models.PositiveSmallIntegerField(default=0, editable=False)
    sla_breached = models.BooleanField(
        default=False, editable=False, help_text="Marked by the SLA engine when a clock breaches."
    )
    related_incidents = models.ManyToManyField("self", blank=True, symmetrical=True)
    related_changes = models.ManyToManyField("changes.RequestForChange", blank=True, related_name="incidents")
    problem = models.ForeignKey("Problem", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents")
    known_error = models.ForeignKey(
        "KnownError", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    # Major incidents.
    is_major = models.BooleanField(default=False, editable=False)
    major_incident_manager = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="major_incidents"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    outage_start = models.DateTimeField(null=True, blank=True)
    outage_end = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    attachments = GenericRelation("mof.Attachment", content_type_field="ticket_type", object_id_field="ticket_id")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-number"]
        indexes = [
            models.Index(fields=["assignment_group", "status", "priority"], name="incident_queue_idx"),
            models.Index(fields=["assignee", "status"], name="incident_assignee_idx"),
            models.Index(fields=["caller", "status"], name="incident_caller_idx"),
            models.Index(fields=["status", "created_at"], name="incident_status_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(outage_end__isnull=True)
                | Q(outage_start__isnull=False) & Q(outage_end__gt=models.F("outage_start")),
                name="incident_outage_end_after_start",
            ),
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="incident_not_own_parent"),
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"

    def get_absolute_url(self):
        return reverse("incident_detail", args=[self.pk])

    def notification_recipients(self):
        return [self.caller, self.assignee]


class IncidentNote(AuditedModel):
    """A work note (internal) or a comment (the caller sees it)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=NoteKind.choices)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["incident", "kind", "created_at"], name="incident_note_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.incident.reference}"

    @property
    def is_internal(self) -> bool:
        """A work note: what comes with it (its attachments) is never shown to the caller."""
        return self.kind == NoteKind.WORK_NOTE


class MajorIncidentUpdate(AuditedModel):
    """The communications log of a major incident: timed updates e-mailed to stakeholders."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="communications")
    author = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    recipients = models.JSONField(default=list, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]


class Problem(ProblemWorkflow, ConcurrentTransitionMixin, FSMModelMixin, NumberedModel):
    number_prefix = "PRB"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    problem_manager = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="managed_problems"
    )
    services = models.ManyToManyField(Service, blank=True, related_name="problems")
    affected_cis = models.ManyToManyField(ConfigurationItem, blank=True, related_name="problems")
    rca_notes = models.TextField(blank=True, verbose_name="root-cause analysis notes")
    root_cause = models.TextField(blank=True)
    workaround = models.TextField(blank=True)
    fixing_changes = models.ManyToManyField("changes.RequestForChange", blank=True, related_name="fixed_problems")
    status = FSMField(max_length=20, choices=ProblemStatus.choices, default=ProblemStatus.NEW, protected=True)
    known_error_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    closure_reason = models.TextField(blank=True, editable=False)
    attachments = GenericRelation("mof.Attachment", content_type_field="ticket_type", object_id_field="ticket_id")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-number"]

    def __str__(self):
        return f"{self.reference} {self.title}"

    def get_absolute_url(self):
        return reverse("problem_detail", args=[self.pk])

    def notification_recipients(self):
        return [self.problem_manager]


class KnownError(AuditedModel):
    """A problem's root cause and workaround, published to the service desk."""

    problem = models.OneToOneField(Problem, on_delete=models.CASCADE, related_name="known_error")
    title = models.CharField(max_length=200)
    symptoms = models.TextField(blank=True)
    root_cause = models.TextField()
    workaround = models.TextField()
    services = models.ManyToManyField(Service, blank=True, related_name="known_errors")
    cis = models.ManyToManyField(ConfigurationItem, blank=True, related_name="known_errors")
    published_at = models.DateTimeField(default=timezone.now)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-published_at"]

    def __str__(self):
        return f"KE {self.problem.reference}: {self.title}"


class ProblemProposal(ProblemProposalWorkflow, FSMModelMixin, AuditedModel):
    """Proactive problem management: a cluster of incidents that may share a cause."""

    scope = models.CharField(max_length=10, choices=[("ci", "CI"), ("service", "Service")])
    ci = models.ForeignKey(ConfigurationItem, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    incidents = models.ManyToManyField(Incident, related_name="problem_proposals")
    incident_count = models.PositiveIntegerField()
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    status = FSMField(max_length=20, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED, protected=True)
    decided_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    problem = models.ForeignKey(Problem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open proposal per cluster key, enforced by the database (the task may run twice).
            models.UniqueConstraint(
                fields=["scope", "ci"], condition=Q(status="proposed", scope="ci"), name="one_open_proposal_per_ci"
            ),
            models.UniqueConstraint(
                fields=["scope", "service"],
                condition=Q(status="proposed", scope="service"),
                name="one_open_proposal_per_service",
            ),
        ]

    def __str__(self):
        target = self.ci or self.service
        return f"{self.incident_count} incidents on {target}"


class SavedFilter(models.Model):
    """A service desk queue filter a user saved under a name (the query string of the page)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="saved_incident_filters")
    name = models.CharField(max_length=80)
    querystring = models.CharField(max_length=2000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="unique_saved_filter_name")]

    def __str__(self):
        return self.name


from incidents.models_inbound import InboundMessage, InboundOutcome, MailboxCursor  # noqa: E402,F401  (models of this app)
