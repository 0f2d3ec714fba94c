"""The shared core: Team Model, audit trail, Risk Model, IT services and the CMDB,
separation-of-duties rules and review-gate decisions."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin

from mof.audit import AuditedModel, AuditedQuerySet
from mof.choices import (
    AuditAction,
    CIStatus,
    Criticality,
    Environment,
    RelationshipType,
    ReviewKind,
    RiskLevel,
    RoleCluster,
)
from mof.workflows import ConfigurationItemWorkflow

# --- Team Model -------------------------------------------------------------------


class PortalUserManager(UserManager.from_queryset(AuditedQuerySet)):
    pass


class User(AuditedModel, AbstractUser):
    """A person or a service account. Role clusters come from RoleAssignment."""

    is_manager = models.BooleanField(default=False, help_text="Managers chair reviews and approve (MOF Team Model).")
    is_system = models.BooleanField(
        default=False, editable=False, help_text="The portal itself, acting in scheduled tasks (cannot log in)."
    )
    is_service_account = models.BooleanField(
        default=False,
        editable=False,
        help_text="An integration acting through API tokens only (cannot sign in to the pages).",
    )
    audit_exclude = ("password", "last_login")

    objects = PortalUserManager()

    class Meta:
        ordering = ["username"]

    def __str__(self):
        return self.get_full_name() or self.username

    @property
    def roles(self) -> frozenset[str]:
        """The user's role clusters (cached on the instance)."""
        if not hasattr(self, "_roles_cache"):
            if self.pk is None:
                self._roles_cache = frozenset()
            else:
                self._roles_cache = frozenset(self.role_assignments.values_list("role", flat=True))
        return self._roles_cache

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def is_internal_staff(self) -> bool:
        """Staff of the IT organisation: any role other than Partner, a manager or an admin."""
        return self.is_superuser or self.is_manager or bool(self.roles - {RoleCluster.PARTNER})

    @property
    def team_ids(self) -> frozenset[int]:
        if not hasattr(self, "_team_ids_cache"):
            self._team_ids_cache = frozenset(self.teams.values_list("pk", flat=True)) if self.pk else frozenset()
        return self._team_ids_cache

    def forget_cached_memberships(self):
        for attr in ("_roles_cache", "_team_ids_cache"):
            self.__dict__.pop(attr, None)


class RoleAssignment(AuditedModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=20, choices=RoleCluster.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "role"], name="unique_user_role")]

    def __str__(self):
        return f"{self.user.username}: {self.get_role_display()}"


class Team(AuditedModel):
    """A team of people within a role cluster (later: assignment groups)."""

    name = models.CharField(max_length=100, unique=True)
    role_cluster = models.CharField(max_length=20, choices=RoleCluster.choices)
    manager = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="managed_teams")
    members = models.ManyToManyField(User, blank=True, related_name="teams")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


# --- Audit trail ------------------------------------------------------------------


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit trail is append-only.")

    def delete(self):
        raise PermissionError("The audit trail is append-only.")


class AuditEntry(models.Model):
    """Append-only. No foreign keys, so no cascade can ever touch a row."""

    append_only = True  # mof.dbroles: the runtime database role may only read and add rows

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150)
    via = models.CharField(max_length=60)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    model_label = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)
    transition = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, encoder=DjangoJSONEncoder, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["model_label", "object_id", "at"], name="audit_object_idx"),
            models.Index(fields=["action", "at"], name="audit_action_idx"),
        ]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.model_label} {self.object_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The audit trail is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit trail is append-only.")


# --- Risk Model -------------------------------------------------------------------


class RiskThreshold(models.Model):
    """The lowest risk score that reaches a level; edited by managers in the admin."""

    level = models.CharField(max_length=10, choices=RiskLevel.choices, unique=True)
    min_score = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["min_score"]

    def __str__(self):
        return f"{self.get_level_display()} from {self.min_score}"


class RiskAssessment(AuditedModel):
    """Probability and impact of failure on 1-5 scales; score = probability x impact."""

    class Probability(models.IntegerChoices):
        RARE = 1, "Rare"
        UNLIKELY = 2, "Unlikely"
        POSSIBLE = 3, "Possible"
        LIKELY = 4, "Likely"
        ALMOST_CERTAIN = 5, "Almost certain"

    class Impact(models.IntegerChoices):
        NEGLIGIBLE = 1, "Negligible"
        MINOR = 2, "Minor"
        MODERATE = 3, "Moderate"
        MAJOR = 4, "Major"
        SEVERE = 5, "Severe"

    probability = models.PositiveSmallIntegerField(choices=Probability.choices)
    impact = models.PositiveSmallIntegerField(choices=Impact.choices)
    score = models.PositiveSmallIntegerField(editable=False)
    level = models.CharField(max_length=10, choices=RiskLevel.choices, editable=False)
    notes = models.TextField(blank=True)
    assessed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    assessed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(probability__gte=1, probability__lte=5), name="risk_probability_scale"),
            models.CheckConstraint(condition=Q(impact__gte=1, impact__lte=5), name="risk_impact_scale"),
        ]

    def __str__(self):
        return f"{self.get_level_display()} risk ({self.score})"


# --- IT services and the CMDB -----------------------------------------------------


class Service(AuditedModel):
    name = models.CharField(max_length=120, unique=True)
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_services")
    criticality = models.CharField(max_length=10, choices=Criticality.choices, default=Criticality.MEDIUM)
    hours_of_service = models.CharField(max_length=120, blank=True, help_text="e.g. 24x7, Mon-Fri 08:00-18:00")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("service_detail", args=[self.pk])


class CIClass(AuditedModel):
    """A kind of configuration item; the built-in ones come with the portal."""

    name = models.CharField(max_length=60, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    builtin = models.BooleanField(default=False, editable=False)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "CI class"
        verbose_name_plural = "CI classes"

    def __str__(self):
        return self.name


class ConfigurationItem(ConfigurationItemWorkflow, ConcurrentTransitionMixin, FSMModelMixin, AuditedModel):
    name = models.CharField(max_length=150, unique=True)
    ci_class = models.ForeignKey(CIClass, on_delete=models.PROTECT, related_name="cis", verbose_name="class")
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_cis")
    status = FSMField(max_length=20, choices=CIStatus.choices, default=CIStatus.PLANNED, protected=True, db_index=True)
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.PRODUCTION, db_index=True
    )
    attributes = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    services = models.ManyToManyField(Service, blank=True, related_name="cis")
    description = models.TextField(blank=True)
    retired_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "configuration item"
        indexes = [models.Index(fields=["ci_class", "name"], name="ci_class_name_idx")]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("ci_detail", args=[self.pk])

    def clean(self):
        if not isinstance(self.attributes, dict):
            raise ValidationError({"attributes": "Attributes must be a JSON object of names and values."})


class CIRelationship(AuditedModel):
    """source <type> target, e.g. 'Exchange mailbox server' depends on 'SAN'."""

    source = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="outgoing")
    target = models.ForeignKey(ConfigurationItem, on_delete=models.CASCADE, related_name="incoming")
    type = models.CharField(max_length=20, choices=RelationshipType.choices, default=RelationshipType.DEPENDS_ON)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "type"], name="unique_ci_relationship"),
            models.CheckConstraint(condition=~Q(source=F("target")), name="ci_relationship_no_self_edge"),
        ]
        indexes = [models.Index(fields=["target", "source", "type"], name="ci_rel_target_type_idx")]
        verbose_name = "CI relationship"

    def __str__(self):
        return f"{self.source_id} {self.type} {self.target_id}"


# --- Separation of duties (configurable rules beside the built-in ones) -------------


class SeparationRule(AuditedModel):
    """A duty rule added by a manager in the admin, checked like the built-in ones.

    At `transitions` of objects of `model_label`, the acting person may not be
    the object's `party` (nor share a team with them, if `include_teams`).
    """

    name = models.SlugField(max_length=80, unique=True)
    description = models.CharField(max_length=200)
    model_label = models.CharField(max_length=100, help_text="app_label.model, e.g. changes.requestforchange")
    transitions = models.CharField(
        max_length=300, blank=True, help_text="Comma-separated transition names; empty means every transition."
    )
    duty = models.CharField(
        max_length=40, blank=True, help_text="Or: every transition performing this duty (approve, test, implement...)."
    )
    party = models.CharField(max_length=60, help_text="The object's field naming the person the actor must not be.")
    include_teams = models.BooleanField(default=False)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


# --- Review gate --------------------------------------------------------------------


class ReviewDecisionRecord(models.Model):
    """What a review milestone decided for an object; conditions of gated transitions read it."""

    kind = models.CharField(max_length=30, choices=ReviewKind.choices)
    model_label = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    decision = models.CharField(max_length=30)
    decided_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(default=timezone.now)
    notes = models.TextField(blank=True)
    reference = models.CharField(max_length=100, blank=True, help_text="The meeting or minute that recorded it.")
    detail = models.JSONField(
        default=dict,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Meeting facts the gate may weigh: emergency, quorum, votes.",
    )

    class Meta:
        ordering = ["-decided_at", "-id"]
        indexes = [models.Index(fields=["model_label", "object_id", "kind"], name="review_gate_idx")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.decision}"


# Security administration: API tokens and login lockouts (mof.tokens, mof.lockout).
from mof.models_access import ApiToken, LoginLockout  # noqa: F401
from mof.models_attachments import Attachment  # noqa: F401,E402
from mof.models_health import Heartbeat  # noqa: F401
from mof.models_mail import Delivery, MailStatus, Notification, NotificationPreference, OutgoingMail, RelayFlag  # noqa: F401
