"""Review meetings: the four MOF review milestones as meetings with agendas, votes and decisions.

An agenda item names its subject generically (model label + id, as the review gate does),
so changes, releases, standard-change templates and, later, SLAs can be put before a
meeting without this app knowing their models.
"""

import datetime as dt

from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.urls import reverse
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin

from mof.audit import AuditedModel
from mof.choices import ReviewKind
from reviews.choices import ItemState, MeetingState
from reviews.workflow import AgendaItemWorkflow, MeetingWorkflow


class Meeting(MeetingWorkflow, ConcurrentTransitionMixin, FSMModelMixin, AuditedModel):
    kind = models.CharField(max_length=30, choices=ReviewKind.choices, db_index=True)
    title = models.CharField(max_length=200, blank=True)
    emergency = models.BooleanField(
        default=False, help_text="An emergency CAB, convened at once with a smaller quorum."
    )
    scheduled_at = models.DateTimeField(db_index=True)
    duration_minutes = models.PositiveSmallIntegerField(default=60)
    location = models.CharField(max_length=200, blank=True)
    chair = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="chaired_meetings")
    attendees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="review_meetings")
    quorum = models.PositiveSmallIntegerField(default=3, help_text="Votes needed before an item can be decided.")
    quorum_role_clusters = models.PositiveSmallIntegerField(
        default=2, help_text="Distinct role clusters needed among the voters."
    )
    state = FSMField(
        max_length=20, choices=MeetingState.choices, default=MeetingState.PLANNED, protected=True, db_index=True
    )
    agenda_published_at = models.DateTimeField(null=True, blank=True, editable=False)
    opened_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    ical_sequence = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="SEQUENCE of the calendar invitation: raised on each reschedule and on cancellation.",
    )

    class Meta:
        ordering = ["-scheduled_at", "-id"]
        indexes = [models.Index(fields=["kind", "state", "scheduled_at"], name="meeting_kind_state_idx")]
        constraints = [
            models.CheckConstraint(condition=models.Q(quorum__gte=1), name="meeting_quorum_positive"),
        ]

    def __str__(self):
        return f"{self.reference} {self.name}"

    @property
    def reference(self) -> str:
        return f"REV-{self.pk}"

    @property
    def name(self) -> str:
        if self.title:
            return self.title
        label = "Emergency CAB" if self.emergency else ReviewKind(self.kind).label
        return f"{label} {self.scheduled_at:%Y-%m-%d %H:%M}" if self.scheduled_at else label

    @property
    def ends_at(self):
        return self.scheduled_at + dt.timedelta(minutes=self.duration_minutes)

    def get_absolute_url(self):
        return reverse("review_meeting", args=[self.pk])

    def notification_recipients(self):
        return [self.chair]


class AgendaItem(AgendaItemWorkflow, FSMModelMixin, AuditedModel):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="items")
    model_label = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    subject_repr = models.CharField(
        max_length=250, blank=True, help_text="What the subject was called when it was put on the agenda."
    )
    position = models.PositiveIntegerField(default=0)
    state = FSMField(
        max_length=20,
        choices=ItemState.choices,
        default=ItemState.PENDING,
        db_index=True,
        editable=False,
        protected=True,
    )
    decision = models.CharField(max_length=30, blank=True, editable=False)
    reason = models.TextField(blank=True, editable=False)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    decided_at = models.DateTimeField(null=True, blank=True, editable=False)
    decision_record = models.ForeignKey(
        "mof.ReviewDecisionRecord", null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    deferred_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="deferred_from", editable=False
    )
    added_by_hand = models.BooleanField(default=False)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["meeting", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "model_label", "object_id"], name="unique_agenda_subject")
        ]
        indexes = [models.Index(fields=["model_label", "object_id", "state"], name="agenda_subject_idx")]

    def __str__(self):
        return (
            f"{self.meeting.reference} #{self.position}: {self.subject_repr or self.model_label + ' ' + self.object_id}"
        )

    @property
    def subject_model(self):
        return apps.get_model(self.model_label)

    def get_subject(self):
        """The subject, loaded on its own (pages load them in bulk: reviews.selectors)."""
        if not hasattr(self, "_subject"):
            self._subject = self.subject_model._default_manager.filter(pk=self.object_id).first()
        return self._subject

    @property
    def subject(self):
        return self.get_subject()

    def set_subject(self, subject):
        self._subject = subject


class Vote(AuditedModel):
    item = models.ForeignKey(AgendaItem, on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_votes")
    vote = models.CharField(max_length=30)
    role_clusters = models.JSONField(
        default=list, blank=True, help_text="The voter's role clusters when the vote was cast."
    )
    is_manager = models.BooleanField(default=False, help_text="Whether the voter was a manager when the vote was cast.")
    cast_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cast_at", "id"]
        constraints = [models.UniqueConstraint(fields=["item", "voter"], name="unique_vote_per_item")]

    def __str__(self):
        return f"{self.voter}: {self.vote}"


class ReviewPeriod(AuditedModel):
    """The period report a review takes up, the subject of one agenda item: [start, end)
    of its meeting. A decision requiring improvement opens a problem or a draft RFC, named
    here (and in the item's reason, for the minutes). reviews.review_periods holds what
    the reviews that have one share."""

    start = models.DateTimeField()
    end = models.DateTimeField()
    follow_up_label = models.CharField(max_length=100, blank=True, editable=False)
    follow_up_id = models.CharField(max_length=64, blank=True, editable=False)
    follow_up_reference = models.CharField(max_length=40, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    @property
    def reference(self) -> str:
        return f"REV-{self.meeting_id} report"

    @property
    def follow_up_url(self) -> str:
        if not self.follow_up_label:
            return ""
        subject = apps.get_model(self.follow_up_label)._default_manager.filter(pk=self.follow_up_id).first()
        return subject.get_absolute_url() if subject is not None and hasattr(subject, "get_absolute_url") else ""


class SLAReviewPeriod(ReviewPeriod):
    """The service level report an SLA Review takes up.

    The figures are not stored: they are read from the clocks, outages and warnings of
    [start, end) when shown (reviews.sla_review)."""

    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="sla_period")

    class Meta:
        ordering = ["-end", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="sla_review_period_positive")
        ]

    def __str__(self):
        return f"Service level report {self.start:%Y-%m-%d} – {self.end:%Y-%m-%d}"

    def get_absolute_url(self):
        return reverse("review_meeting", args=[self.meeting_id]) + "#sla-report"


class OperationsReviewPeriod(ReviewPeriod):
    """The operational health report an Operations Review takes up (reviews.operations_review).

    Live until decided; the decision freezes it (`snapshot`), so the minutes keep saying
    what the meeting saw. `stated` marks a period the chair set by hand: filling the
    agenda again does not move it."""

    meeting = models.OneToOneField(Meeting, on_delete=models.CASCADE, related_name="operations_period")
    stated = models.BooleanField(default=False, editable=False)
    snapshot = models.JSONField(null=True, blank=True, editable=False, encoder=DjangoJSONEncoder)
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-end", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end__gt=models.F("start")), name="operations_review_period_positive"
            )
        ]

    def __str__(self):
        return f"Operational health report {self.start:%Y-%m-%d} – {self.end:%Y-%m-%d}"

    def get_absolute_url(self):
        return reverse("review_meeting", args=[self.meeting_id]) + "#health-report"
