"""Writes of the shared core. Each takes the acting user, checks the policy, validates,
writes inside one transaction and is recorded in the audit trail."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from django_fsm import FSMFieldMixin

from mof import audit, deletion, policy
from mof.choices import RiskLevel, RoleCluster
from mof.models import (
    CIClass,
    CIRelationship,
    ConfigurationItem,
    RiskAssessment,
    RiskThreshold,
    RoleAssignment,
    Service,
    Team,
    User,
)

DEFAULT_RISK_THRESHOLDS = {RiskLevel.LOW: 1, RiskLevel.MEDIUM: 5, RiskLevel.HIGH: 10, RiskLevel.CRITICAL: 17}

SERVICE_FIELDS = ("name", "owner", "criticality", "hours_of_service", "description")
CI_FIELDS = ("name", "ci_class", "owner", "environment", "attributes", "description")


def apply_fields(instance, fields: dict, allowed, *, exclude=(), validate_unique: bool = True):
    """Set the fields a service accepts and validate the model; anything else is a field error."""
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in sorted(unknown)})
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.full_clean(exclude=state_fields(type(instance)) + list(exclude), validate_unique=validate_unique)


def state_fields(model) -> list[str]:
    """Lifecycle fields are protected: validation must not re-assign them."""
    return [f.name for f in model._meta.fields if isinstance(f, FSMFieldMixin)]


# --- services -------------------------------------------------------------------


def service_create(*, actor, **fields) -> Service:
    policy.require(actor, "service.add")
    service = Service()
    apply_fields(service, fields, SERVICE_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        service.save()
    return service


def service_update(*, actor, service: Service, **fields) -> Service:
    policy.require(actor, "service.change", service)
    apply_fields(service, fields, SERVICE_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        service.save()
    return service


def service_delete(*, actor, service: Service) -> None:
    policy.require(actor, "service.delete", service)
    with audit.acting_as(actor), transaction.atomic():
        deletion.check_delete(service)
        service.delete()


# --- configuration items --------------------------------------------------------


def ci_create(*, actor, services=None, **fields) -> ConfigurationItem:
    policy.require(actor, "ci.add")
    ci = ConfigurationItem()
    apply_fields(ci, fields, CI_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        ci.save()
        if services:
            ci.services.set(services)
    return ci


def ci_update(*, actor, ci: ConfigurationItem, services=None, **fields) -> ConfigurationItem:
    """Edit a CI's record. Never its lifecycle status: that moves only by transitions."""
    policy.require(actor, "ci.change", ci)
    apply_fields(ci, fields, CI_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        ci.save()
        if services is not None:
            ci.services.set(services)
    return ci


def ci_delete(*, actor, ci: ConfigurationItem) -> None:
    policy.require(actor, "ci.delete", ci)
    with audit.acting_as(actor), transaction.atomic():
        deletion.check_delete(ci)
        ci.delete()


def ci_class_create(*, actor, name: str, description: str = "") -> CIClass:
    policy.require(actor, "ciclass.add")
    ci_class = CIClass(name=name.strip(), slug=slugify(name)[:60], description=description)
    ci_class.full_clean()
    with audit.acting_as(actor), transaction.atomic():
        ci_class.save()
    return ci_class


def relationship_create(*, actor, source: ConfigurationItem, target: ConfigurationItem, type: str) -> CIRelationship:
    relationship = CIRelationship(source=source, target=target, type=type)
    policy.require(actor, "relationship.add", relationship)
    if source.pk == target.pk:
        raise ValidationError({"target": "A CI cannot depend on itself."})
    relationship.full_clean(validate_unique=False, validate_constraints=False)
    if CIRelationship.objects.filter(source=source, target=target, type=type).exists():
        raise ValidationError({"target": f"{source} already {relationship.get_type_display()} {target}."})
    try:
        with audit.acting_as(actor), transaction.atomic():
            relationship.save()
    except IntegrityError:  # a concurrent request created the same edge first
        raise ValidationError({"target": f"{source} already {relationship.get_type_display()} {target}."}) from None
    return relationship


def relationship_delete(*, actor, relationship: CIRelationship) -> None:
    policy.require(actor, "relationship.delete", relationship)
    with audit.acting_as(actor), transaction.atomic():
        relationship.delete()


# --- Team Model -----------------------------------------------------------------

USER_FIELDS = ("username", "email", "first_name", "last_name", "is_manager", "is_active")


def _set_memberships(user: User, roles, teams):
    if roles is not None:
        wanted = set(roles)
        invalid = wanted - set(RoleCluster.values)
        if invalid:
            raise ValidationError({"roles": f"Unknown role cluster(s): {', '.join(sorted(invalid))}."})
        user.role_assignments.exclude(role__in=wanted).delete()
        have = set(user.role_assignments.values_list("role", flat=True))
        for role in sorted(wanted - have):
            RoleAssignment.objects.create(user=user, role=role)
    if teams is not None:
        user.teams.set(teams)
    user.forget_cached_memberships()


def user_provision(*, actor, password: str | None = None, roles=(), teams=(), **fields) -> User:
    policy.require(actor, "user.provision")
    user = User()
    _apply_user(user, fields)
    with audit.acting_as(actor), transaction.atomic():
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
        _set_memberships(user, roles, teams)
    return user


def user_update(*, actor, user: User, password: str | None = None, roles=None, teams=None, **fields) -> User:
    policy.require(actor, "user.provision", user)
    _apply_user(user, fields)
    with audit.acting_as(actor), transaction.atomic():
        if password:
            user.set_password(password)
        user.save()
        _set_memberships(user, roles, teams)
    return user


def _apply_user(user, fields):
    apply_fields(user, fields, USER_FIELDS, exclude=["password"])


def team_create(*, actor, name: str, role_cluster: str, manager=None, members=()) -> Team:
    policy.require(actor, "user.provision")
    team = Team(name=name, role_cluster=role_cluster, manager=manager)
    team.full_clean()
    with audit.acting_as(actor), transaction.atomic():
        team.save()
        team.members.set(members)
    return team


# --- Risk Model -----------------------------------------------------------------


def risk_thresholds() -> list[tuple[int, str]]:
    """(min_score, level) ascending; the admin's values, or the defaults if none are set."""
    rows = list(RiskThreshold.objects.order_by("min_score").values_list("min_score", "level"))
    return rows or sorted((score, level.value) for level, score in DEFAULT_RISK_THRESHOLDS.items())


def risk_level_for(score: int, thresholds=None) -> str:
    level = RiskLevel.LOW.value
    for min_score, name in thresholds or risk_thresholds():
        if score >= min_score:
            level = name
    return level


def risk_assess(*, actor, probability: int, impact: int, notes: str = "") -> RiskAssessment:
    policy.require(actor, "risk.assess")
    assessment = RiskAssessment(probability=probability, impact=impact, notes=notes, assessed_by=actor)
    errors = {}
    for name, value in (("probability", probability), ("impact", impact)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            errors[name] = "Choose a value from 1 to 5."
    if errors:
        raise ValidationError(errors)
    assessment.score = probability * impact
    assessment.level = risk_level_for(assessment.score)
    with audit.acting_as(actor), transaction.atomic():
        assessment.save()
    return assessment


SYSTEM_USERNAME = "mof-system"


def system_user() -> User:
    """The account scheduled tasks act as: recorded in the trail, unable to log in."""
    user = User.objects.filter(username=SYSTEM_USERNAME, is_system=True).first()
    if user is None:
        try:
            with transaction.atomic(), audit.acting_as(None, via="system"):
                user = User(username=SYSTEM_USERNAME, first_name="MOF", last_name="Portal", is_system=True)
                user.set_unusable_password()
                user.save()
        except IntegrityError:  # another worker created it a moment ago
            user = User.objects.get(username=SYSTEM_USERNAME, is_system=True)
    return user
