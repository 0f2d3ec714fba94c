"""Writes of the Changing quadrant. State moves only through mof.transitions."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from changes import conflicts
from changes.choices import (
    ApprovalPath,
    ChangeStatus,
    ChangeType,
    ReleaseStatus,
    TemplateStatus,
)
from changes.conflicts import SCHEDULED_STATES
from changes.models import (
    ChangeComment,
    ChangeStakeholder,
    Release,
    ReleaseArtifact,
    RequestForChange,
    StandardChangeTemplate,
)
from mof import audit, impact, policy, separation
from mof import services as core_services
from mof.choices import ReviewKind, RiskLevel
from mof.models import ConfigurationItem
from mof.transitions import perform_transition

CHANGE_FIELDS = (
    "title",
    "description",
    "business_justification",
    "type",
    "change_manager",
    "developer",
    "tester",
    "implementer",
    "cost_estimate",
    "expected_benefit",
    "expected_benefit_value",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "test_results",
    "planned_start",
    "planned_end",
    "pir_notes",
)
# What may still change once a change is approved: the builders' evidence and the schedule's people.
FIELDS_AFTER_APPROVAL = ("developer", "tester", "implementer", "test_results", "pir_notes", "change_manager")


def _check_parties(change, actor):
    """Separation of duties on the persons named (tester vs developer...): refused and recorded."""
    found = [v for v in separation.violations(change, actor=actor) if v.rule]
    found = [v for v in found if isinstance(_rule_named(v.rule), separation.PartiesDiffer)]
    if found:
        audit.record_refusal(
            actor=actor,
            action="changes.requestforchange.assign",
            target=change if change.pk else None,
            reasons=[f"[{v.rule}] {v.message}" for v in found],
        )
        raise ValidationError({"tester": [f"{v.message} [{v.rule}]" for v in found]})


def _rule_named(name):
    for rule in [*separation.BUILT_IN, *separation._registered]:
        if rule.name == name and isinstance(rule, separation.PartiesDiffer):
            return rule
    return None


def _set_fields(change, fields, allowed):
    core_services.apply_fields(change, fields, allowed, exclude=["number", "requester"])
    if change.planned_start and change.planned_end and change.planned_end <= change.planned_start:
        raise ValidationError({"planned_end": "The end must be after the start."})


def change_create(
    *, actor, template: StandardChangeTemplate | None = None, affected_cis=(), test_environment=(), **fields
) -> RequestForChange:
    policy.require(actor, "change.add")
    change = RequestForChange(requester=actor)
    if template is not None:
        if fields.get("type", ChangeType.STANDARD) != ChangeType.STANDARD:
            raise ValidationError(
                {"template": "A standard-change template files a standard change, not a %s one." % fields["type"]}
            )
        if template.status != TemplateStatus.APPROVED:
            raise ValidationError({"template": "This template is not approved for use."})
        fields = {
            "title": template.name,
            "description": template.description,
            "implementation_plan": template.implementation_plan,
            "backout_plan": template.backout_plan,
            "test_plan": template.test_plan,
            **{k: v for k, v in fields.items() if v not in (None, "")},
            "type": ChangeType.STANDARD,
        }
        change.template = template
    elif fields.get("type") == ChangeType.STANDARD:
        raise ValidationError({"template": "A standard change is filed from an approved standard-change template."})
    _set_fields(change, fields, CHANGE_FIELDS)
    _check_parties(change, actor)
    with audit.acting_as(actor), transaction.atomic():
        change.save()
        if affected_cis:
            change.affected_cis.set(affected_cis)
        if test_environment:
            change.test_environment.set(test_environment)
    return change


def change_update(
    *, actor, change: RequestForChange, affected_cis=None, test_environment=None, **fields
) -> RequestForChange:
    policy.require(actor, "change.change", change)
    before_approval = change.status in (ChangeStatus.DRAFT, ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED)
    allowed = CHANGE_FIELDS if before_approval else FIELDS_AFTER_APPROVAL
    if "type" in fields and fields["type"] != change.type and change.status != ChangeStatus.DRAFT:
        raise ValidationError({"type": "The type can only change while the change is a draft."})
    if fields.get("type") == ChangeType.STANDARD and change.template_id is None:
        raise ValidationError({"type": "A standard change is filed from an approved standard-change template."})
    if change.template_id and any(
        fields[k] != getattr(change, k) for k in ("implementation_plan", "backout_plan", "test_plan") if k in fields
    ):
        raise ValidationError(
            {
                "implementation_plan": "A standard change follows its approved template's plans; propose a new template to change them."
            }
        )
    if affected_cis is not None and not before_approval:
        raise ValidationError({"affected_cis": "The affected CIs cannot change once the change is approved."})
    stored = (change.status, change.planned_start, change.planned_end)
    if change.window_invited:
        from changes.mail import window_people

        invited = {p.pk: p for p in window_people(change)}
    moves = affected_cis is not None or any(k in fields for k in ("implementer", "planned_start", "planned_end"))
    _set_fields(change, fields, allowed)
    _check_parties(change, actor)
    # The marks of a scheduled change and its neighbours depend on its implementer, period and CIs.
    refresh = moves and change.status in SCHEDULED_STATES
    with audit.acting_as(actor), transaction.atomic():
        if refresh:
            conflicts.lock_marks()  # before the row's lock, as the transition door takes it
        change.save()  # never writes the marks back (RequestForChange.save)
        if affected_cis is not None:
            change.affected_cis.set(affected_cis)
        if test_environment is not None:
            change.test_environment.set(test_environment)
        if refresh:
            conflicts.refresh_marks_around(change, before=stored)
        if change.window_invited and change.status in SCHEDULED_STATES:
            _window_changed(change, stored, invited)
    return change


def _window_changed(change: RequestForChange, stored, invited) -> None:
    """The change window moved or its people changed: the invitation again with a higher
    SEQUENCE, and METHOD:CANCEL to whoever is no longer invited."""
    from changes.mail import window_mail, window_people

    now_invited = {p.pk: p for p in window_people(change)}
    if (change.planned_start, change.planned_end) == stored[1:] and set(now_invited) == set(invited):
        return
    _window_mail(change, update=True)
    dropped = [p for pk, p in invited.items() if pk not in now_invited]
    if dropped:
        window_mail(change, cancelled=True, people=dropped)


def _window_mail(change: RequestForChange, *, update: bool = False, cancelled: bool = False) -> None:
    """The change window's invitation, its update or its cancellation (changes.mail), each
    after the first with a higher SEQUENCE, so calendars replace the event they hold."""
    from changes.mail import window_mail

    if update or cancelled:
        RequestForChange.objects.filter(pk=change.pk).update(ical_sequence=F("ical_sequence") + 1)
        change.ical_sequence += 1
    if not change.window_invited:
        RequestForChange.objects.filter(pk=change.pk).update(window_invited=True)
        change.window_invited = True
    window_mail(change, update=update, cancelled=cancelled)


def change_window_after_transition(change: RequestForChange, name: str) -> None:
    """Scheduling a change invites its people to the change window; cancelling a change that
    had one sends METHOD:CANCEL. (Called by the transition door, in its transaction.)"""
    if name == "schedule" and change.planned_start and change.planned_end:
        _window_mail(change, update=change.window_invited)
    elif name == "cancel" and change.window_invited:
        _window_mail(change, cancelled=True)


def change_analyse_impact(*, actor, change: RequestForChange) -> RequestForChange:
    """Snapshot the services and CIs the change can touch (refreshable on demand)."""
    policy.require(actor, "change.analyse_impact", change)
    ci_ids = list(change.affected_cis.values_list("pk", flat=True))
    if not ci_ids:
        raise ValidationError({"affected_cis": "Name the affected CIs before analysing the impact."})
    result = impact.analyse(ci_ids, impact.DOWNSTREAM)
    with audit.acting_as(actor), transaction.atomic():
        scheduled = change.status in SCHEDULED_STATES
        if scheduled:
            conflicts.lock_marks()  # before the row's lock, as the transition door takes it
        RequestForChange.objects.filter(pk=change.pk).update(
            affected_services=[
                {"id": s.id, "name": s.name, "criticality": s.criticality, "via_ci": s.via_ci, "path": s.path}
                for s in result.services
            ],
            impacted_ci_ids=sorted(ci_ids + [c.id for c in result.cis]),
            impact_analysed_at=timezone.now(),
        )
        if scheduled:  # a new snapshot: the impact marks of this change and its neighbours follow it
            conflicts.refresh_marks_around(change)
    change.refresh_from_db()
    return change


def approval_path_for(change: RequestForChange) -> str:
    if change.type == ChangeType.STANDARD:
        return ApprovalPath.PRE_APPROVED
    if change.type == ChangeType.EMERGENCY:
        return ApprovalPath.EMERGENCY_CAB
    level = change.risk_assessment.level if change.risk_assessment_id else RiskLevel.HIGH
    if level == RiskLevel.LOW and settings.MOF_CHANGE_MANAGER_APPROVES_LOW_RISK and change.change_manager_id:
        return ApprovalPath.CHANGE_MANAGER
    if level == RiskLevel.CRITICAL:
        return ApprovalPath.CAB_QUORUM
    return ApprovalPath.CAB


def change_assess(
    *, actor, change: RequestForChange, probability: int, impact: int, notes: str = ""
) -> RequestForChange:
    """Risk and impact in one step, then the assess transition and the stakeholders told."""
    policy.require(actor, "change.transition.assess", change)
    with audit.refusals_survive_rollback(), transaction.atomic():
        assessment = core_services.risk_assess(actor=actor, probability=probability, impact=impact, notes=notes)
        with audit.acting_as(actor):
            RequestForChange.objects.filter(pk=change.pk).update(risk_assessment=assessment)
        change_analyse_impact(actor=actor, change=change)
        change = perform_transition(model=RequestForChange, pk=change.pk, name="assess", actor=actor)
        inform_stakeholders(change=change, actor=actor)
    return change


def inform_stakeholders(*, change: RequestForChange, actor) -> list[ChangeStakeholder]:
    """MOF's key goal: everyone the change can touch hears of it in time, with what, when and why."""
    from mof.models import Service

    reasons: dict[int, list[str]] = {}
    service_ids = [s["id"] for s in change.affected_services]
    for service in Service.objects.filter(pk__in=service_ids, owner__isnull=False).select_related("owner"):
        reasons.setdefault(service.owner_id, []).append(f"owner of service {service.name}")
    for ci in ConfigurationItem.objects.filter(pk__in=change.impacted_ci_ids, owner__isnull=False).only(
        "pk", "name", "owner_id"
    ):
        reasons.setdefault(ci.owner_id, []).append(f"owner of CI {ci.name}")
    reasons.pop(change.requester_id, None)
    now = timezone.now()
    stakeholders = []
    with audit.acting_as(actor):
        for user_id, why in reasons.items():
            stakeholder, _ = ChangeStakeholder.objects.update_or_create(
                change=change, user_id=user_id, defaults={"reasons": sorted(set(why))[:50], "notified_at": now}
            )
            stakeholders.append(stakeholder)
    if stakeholders:
        from changes.mail import stakeholder_mail

        # Stored in the caller's transaction (the assessment): sent once it commits, never lost.
        stakeholder_mail(
            change, ChangeStakeholder.objects.filter(pk__in=[s.pk for s in stakeholders]).select_related("user")
        )
    return stakeholders


def change_comment(*, actor, change: RequestForChange, body: str) -> ChangeComment:
    policy.require(actor, "change.comment", change)
    if not body or not body.strip():
        raise ValidationError({"body": "Write a comment."})
    if change.status in (ChangeStatus.CLOSED, ChangeStatus.CANCELLED):
        raise ValidationError({"body": "This change is closed to comments."})
    with audit.acting_as(actor), transaction.atomic():
        comment = ChangeComment.objects.create(change=change, author=actor, body=body.strip())
        ChangeStakeholder.objects.filter(change=change, user=actor, responded_at__isnull=True).update(
            responded_at=timezone.now()
        )
    return comment


def change_after_transition(change: RequestForChange, name: str, *, actor) -> None:
    """Submitting a standard change applies its pre-approval, through the door, in the same
    transaction (a refused pre-approval undoes the submission); the caller's copy then shows it."""
    if name == "submit" and change.type == ChangeType.STANDARD:
        perform_transition(model=RequestForChange, pk=change.pk, name="pre_approve", actor=actor)
        change.refresh_from_db()


# --- standard-change templates --------------------------------------------------

TEMPLATE_FIELDS = (
    "name",
    "description",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "risk_probability",
    "risk_impact",
)


def template_create(*, actor, **fields) -> StandardChangeTemplate:
    policy.require(actor, "changetemplate.add")
    template = StandardChangeTemplate(owner=actor)
    _apply(template, fields, TEMPLATE_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        template.save()
    return template


def template_update(*, actor, template: StandardChangeTemplate, **fields) -> StandardChangeTemplate:
    policy.require(actor, "changetemplate.change", template)
    if template.status != TemplateStatus.PROPOSED:
        raise ValidationError({"name": "An approved template is changed by proposing a new one."})
    _apply(template, fields, TEMPLATE_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        template.save()
    return template


def _apply(obj, fields, allowed):
    core_services.apply_fields(obj, fields, allowed, exclude=["number", "owner", "release_manager"])


# --- releases -------------------------------------------------------------------

RELEASE_FIELDS = ("name", "description", "planned_start", "planned_end")


def release_create(*, actor, changes=(), artifacts=(), **fields) -> Release:
    policy.require(actor, "release.add")
    release = Release(release_manager=actor)
    _apply(release, fields, RELEASE_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        release.save()
        release.changes.set(changes)
        for artifact in artifacts:
            artifact_add(actor=actor, release=release, **artifact)
    return release


def release_update(*, actor, release: Release, changes=None, **fields) -> Release:
    policy.require(actor, "release.change", release)
    if release.status not in (ReleaseStatus.PLANNING, ReleaseStatus.BUILT) and (fields or changes is not None):
        raise ValidationError({"changes": "A tested release is changed by cancelling it and planning another."})
    _apply(release, fields, RELEASE_FIELDS)
    with audit.acting_as(actor), transaction.atomic():
        release.save()
        if changes is not None:
            release.changes.set(changes)
    return release


def artifact_add(*, actor, release: Release, name: str, version: str, checksum: str, location: str) -> ReleaseArtifact:
    policy.require(actor, "release.change", release)
    if release.status != ReleaseStatus.PLANNING:
        raise ValidationError({"artifacts": "Artifacts are added while the release is being planned."})
    artifact = ReleaseArtifact(release=release, name=name, version=version, checksum=checksum, location=location)
    artifact.full_clean(validate_unique=False)
    if ReleaseArtifact.objects.filter(release=release, name=name, version=version).exists():
        raise ValidationError({"version": f"{name} {version} is already in this release."})
    with audit.acting_as(actor), transaction.atomic():
        artifact.save()
    return artifact


def release_after_transition(release: Release, name: str, *, actor, data) -> None:
    """A release moves its changes on together, each through the one door."""
    from mof import review_gate

    reason = data.get("reason", "") or f"with {release.reference}"
    if name == "mark_ready":
        for change in release.changes.filter(status=ChangeStatus.TESTED):
            review_gate.record_decision(
                kind=ReviewKind.RELEASE_READINESS,
                subject=change,
                decision="go",
                actor=actor,
                notes=reason,
                reference=release.reference,
                fire="mark_ready",
            )
    elif name == "deploy":
        for change in release.changes.filter(status=ChangeStatus.READY):
            perform_transition(model=RequestForChange, pk=change.pk, name="start_implementation", actor=actor)
            perform_transition(
                model=RequestForChange,
                pk=change.pk,
                name="complete",
                actor=actor,
                data={"outcome": "successful", "reason": f"deployed with {release.reference}"},
            )
    elif name == "close":
        for change in release.changes.filter(status__in=[ChangeStatus.IMPLEMENTED, ChangeStatus.BACKED_OUT]):
            review_gate.record_decision(
                kind=ReviewKind.OPERATIONS,
                subject=change,
                decision="accept",
                actor=actor,
                notes=reason,
                reference=release.reference,
                fire="close",
            )
