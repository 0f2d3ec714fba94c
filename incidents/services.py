"""Writes of the Supporting quadrant. State moves only through mof.transitions."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Count
from django.dispatch import Signal
from django.utils import timezone

from incidents import selectors
from incidents.choices import IncidentStatus, NoteKind, ProblemStatus, ProposalStatus
from incidents.models import (
    Incident,
    IncidentNote,
    KnownError,
    MajorIncidentUpdate,
    PriorityRule,
    Problem,
    ProblemProposal,
)
from mof import audit, policy
from mof.models import Team
from mof.services import apply_fields, system_user
from mof.transitions import perform_transition
from slas import services as sla_services

DEFAULT_MATRIX = {(1, 1): 1, (1, 2): 2, (1, 3): 3, (2, 1): 2, (2, 2): 3, (2, 3): 4, (3, 1): 3, (3, 2): 4, (3, 3): 5}

SELF_SERVICE_FIELDS = ("title", "description", "service", "urgency")
DESK_FIELDS = (
    "title",
    "description",
    "service",
    "impact",
    "urgency",
    "category",
    "assignment_group",
    "assignee",
    "channel",
    "known_error",
    "outage_start",
    "outage_end",
)
CLOSED_STATES = (IncidentStatus.CLOSED, IncidentStatus.CANCELLED)


def priority_for(impact: int, urgency: int) -> int:
    """P1..P5 from the priority matrix as it is now (a new matrix applies to new incidents)."""
    cell = (int(impact), int(urgency))
    return selectors.priority_matrix.get().get(cell) or DEFAULT_MATRIX[cell]


def priority_matrix_update(*, actor, cells: dict) -> int:
    """Set matrix cells {(impact, urgency): priority}; applies to incidents filed from now on."""
    policy.require(actor, "priority.configure")
    errors = [
        f"{cell}: P{p}"
        for cell, p in cells.items()
        if cell not in DEFAULT_MATRIX or not isinstance(p, int) or not 1 <= p <= 5
    ]
    if errors:
        raise ValidationError({"priority": [f"Priorities are P1 to P5 on a 3x3 matrix, not {e}." for e in errors]})
    changed = 0
    with audit.acting_as(actor, reason="priority matrix edited"), transaction.atomic():
        for (impact, urgency), priority in cells.items():
            rule, created = PriorityRule.objects.get_or_create(
                impact=impact, urgency=urgency, defaults={"priority": priority}
            )
            if not created and rule.priority != priority:
                rule.priority = priority
                rule.save()
                changed += 1
            changed += created
    return changed


def _check_assignee(incident):
    if incident.assignee_id and not incident.assignment_group_id:
        raise ValidationError({"assignment_group": "Choose the assignment group the assignee works in."})
    # The membership row itself, by ids: the group need not be loaded (a filing gives its id).
    if (
        incident.assignee_id
        and not Team.members.through.objects.filter(
            team_id=incident.assignment_group_id, user_id=incident.assignee_id
        ).exists()
    ):
        raise ValidationError({"assignee": f"{incident.assignee} is not a member of {incident.assignment_group}."})


def _checked_already(fields: dict, existing) -> list[str]:
    """Fields of a new incident whose model validation would only repeat what is known: a
    related object read from the database a moment ago exists, as does one in `existing`
    (full_clean would query it again), a new incident has no parent (the not-own-parent
    check is a query), and outage times that are both empty meet their constraint (another
    query)."""
    skip = ["parent"]
    for name, value in [*fields.items(), *((name, None) for name in existing)]:
        if name in existing or (isinstance(value, models.Model) and not value._state.adding and value.pk is not None):
            field = Incident._meta.get_field(name)
            if field.many_to_one and not field.get_limit_choices_to():
                skip.append(name)
    if fields.get("outage_start") is None and fields.get("outage_end") is None:
        skip += ["outage_start", "outage_end"]
    return skip


def incident_create(*, actor, caller=None, affected_cis=(), existing=None, **fields) -> Incident:
    """File an incident. `existing`: {field: id} of related objects the caller has just found in
    the database (and {"affected_cis": [ids]}), set by id and not looked up again: the API
    checks every id of a filing in one query (incidents.api.serializers.quick_input)."""
    existing = dict(existing or {})
    policy.require(actor, "incident.add")
    caller_id = existing.pop("caller", None)
    if caller_id is None:
        caller = caller or actor
        caller_id = caller.pk
    elif caller_id == actor.pk:
        caller = actor
    affected_cis = existing.pop("affected_cis", affected_cis)
    desk = policy.can(actor, "incident.file_for_others")
    if caller_id != actor.pk and not desk:
        policy.require(actor, "incident.file_for_others")
    allowed = DESK_FIELDS if desk else SELF_SERVICE_FIELDS + ("channel",)
    if affected_cis and not desk:
        raise ValidationError({"affected_cis": "Choose the service; the service desk finds the CIs."})
    not_here = sorted(set(existing) - set(allowed))
    if not_here:  # as apply_fields answers for the others
        raise ValidationError(
            {name: "This field cannot be set here." for name in sorted({*not_here, *(set(fields) - set(allowed))})}
        )
    incident = Incident(caller=caller) if caller is not None else Incident(caller_id=caller_id)
    for name, pk in existing.items():
        field = Incident._meta.get_field(name)
        if not field.many_to_one:
            raise TypeError(f"existing: {name} is not a foreign key of an incident")
        setattr(incident, field.attname, pk)
    apply_fields(
        incident, fields, allowed, exclude=["number", "caller", "priority", *_checked_already(fields, existing)]
    )
    _check_assignee(incident)
    incident.priority = priority_for(incident.impact, incident.urgency)
    with audit.acting_as(actor), transaction.atomic():
        incident.save()
        if affected_cis:
            incident.affected_cis.add(*affected_cis)  # a new incident has none: no set() reading them first
        sla_services.record_ticket_event(incident, kind="opened", created=True)  # its clocks start with it
    # The group's mail ("landed in your queue") is stored inside the save's own transaction
    # (incidents.receivers.mail_the_group_of_a_new_incident).
    return incident


def incident_update(*, actor, incident: Incident, affected_cis=None, reason: str = "", **fields) -> Incident:
    policy.require(actor, "incident.change", incident)
    if incident.status in CLOSED_STATES:
        raise ValidationError({"status": "A closed incident cannot be changed."})
    old_group, old_matrix_inputs = incident.assignment_group_id, (incident.impact, incident.urgency)
    apply_fields(incident, fields, DESK_FIELDS, exclude=["number", "caller", "priority"])
    _check_assignee(incident)
    regrouped = incident.assignment_group_id != old_group
    if regrouped and old_group is not None and not reason.strip():
        raise ValidationError({"reason": "Say why the incident moves to another group (functional escalation)."})
    if (incident.impact, incident.urgency) != old_matrix_inputs:
        incident.priority = priority_for(incident.impact, incident.urgency)
    with audit.acting_as(actor, reason=reason), transaction.atomic():
        incident.save()
        sla_services.record_ticket_event(incident)  # a new priority, group or service moves its clocks
        if affected_cis is not None:
            incident.affected_cis.set(affected_cis)
        if regrouped and old_group is not None:
            IncidentNote.objects.create(
                incident=incident,
                author=actor,
                kind=NoteKind.WORK_NOTE,
                body=f"Reassigned to {incident.assignment_group}: {reason.strip()}",
            )
        if regrouped and incident.assignment_group_id:
            _notify("landed_in_queue", incident)
    return incident


def incident_assign(*, actor, incident: Incident, assignment_group, assignee, reason: str = "") -> Incident:
    """Set group and assignee and, for a new incident, take the assign transition: one step."""
    with audit.refusals_survive_rollback(), transaction.atomic():
        incident = incident_update(
            actor=actor, incident=incident, assignment_group=assignment_group, assignee=assignee, reason=reason
        )
        if incident.status == IncidentStatus.NEW:
            incident = perform_transition(model=Incident, pk=incident.pk, name="assign", actor=actor)
    return incident


def incident_escalate(*, actor, incident: Incident, reason: str) -> IncidentNote:
    """Hierarchical escalation: the group's manager is told."""
    policy.require(actor, "incident.transition.work", incident)
    if not reason.strip():
        raise ValidationError({"reason": "Say why you escalate."})
    if incident.assignment_group_id is None or incident.assignment_group.manager_id is None:
        raise ValidationError({"assignment_group": "The incident's group has no manager to escalate to."})
    with audit.acting_as(actor), transaction.atomic():
        note = IncidentNote.objects.create(
            incident=incident,
            author=actor,
            kind=NoteKind.WORK_NOTE,
            body=f"Escalated to {incident.assignment_group.manager}: {reason.strip()}",
        )
        _notify("escalated", incident, note)
    return note


def incident_note(*, actor, incident: Incident, kind: str, body: str) -> IncidentNote:
    if kind not in NoteKind.values:
        raise ValidationError({"kind": f"Choose one of: {', '.join(NoteKind.values)}."})
    policy.require(actor, "incident.comment" if kind == NoteKind.COMMENT else "incident.work_note", incident)
    if not body or not body.strip():
        raise ValidationError({"body": "Write something."})
    if incident.status in CLOSED_STATES:
        raise ValidationError({"body": "This incident is closed; open a new one if the fault came back."})
    with audit.acting_as(actor), transaction.atomic():
        note = IncidentNote.objects.create(incident=incident, author=actor, kind=kind, body=body.strip())
        if kind == NoteKind.COMMENT and actor.pk != incident.caller_id:
            _notify("commented", incident, note)
    return note


# Sent inside the declaration's transaction (a queryset update sends no post_save): integrations' outbox.
major_incident_declared = Signal()


def incident_declare_major(*, actor, incident: Incident, major_incident_manager, outage_start=None) -> Incident:
    policy.require(actor, "incident.declare_major", incident)
    if incident.status in CLOSED_STATES + (IncidentStatus.RESOLVED,):
        raise ValidationError({"status": "Only an open incident can be declared major."})
    if major_incident_manager is None or not major_incident_manager.is_active:
        raise ValidationError({"major_incident_manager": "Name the major incident manager."})
    with audit.acting_as(actor, reason="declared a major incident"), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(
            is_major=True,
            major_incident_manager=major_incident_manager,
            outage_start=outage_start or incident.outage_start or timezone.now(),
        )
        major_incident_declared.send(sender=Incident, incident_id=incident.pk, actor=actor)
    incident.refresh_from_db()
    return incident


def incident_link_child(*, actor, parent: Incident, child: Incident) -> Incident:
    policy.require(actor, "incident.change", child)
    if not parent.is_major:
        raise ValidationError({"parent": "Only a major incident has child incidents."})
    if parent.pk == child.pk or child.children.exists():
        raise ValidationError({"parent": "An incident cannot be its own parent, nor a parent be a child."})
    with audit.acting_as(actor), transaction.atomic():
        Incident.objects.filter(pk=child.pk).update(parent=parent)
    child.refresh_from_db()
    return child


def major_incident_communicate(*, actor, incident: Incident, body: str, recipients: list[str]) -> MajorIncidentUpdate:
    policy.require(actor, "incident.change", incident)
    if not incident.is_major:
        raise ValidationError({"incident": "Only a major incident has a communications log."})
    if not body.strip():
        raise ValidationError({"body": "Write the update."})
    from django.core.validators import validate_email

    for address in recipients:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError({"recipients": f"{address!r} is not an e-mail address."}) from None
    with audit.acting_as(actor), transaction.atomic():
        # sent_at: handed to the notification outbox with the update (delivered from there).
        update = MajorIncidentUpdate.objects.create(
            incident=incident,
            author=actor,
            body=body.strip(),
            recipients=sorted(set(recipients)),
            sent_at=timezone.now(),
        )
        from incidents.mail import major_update_mail

        major_update_mail(update)
    return update


def incident_after_transition(incident: Incident, name: str, *, actor, data) -> None:
    sla_services.record_ticket_event(incident)  # a hold pauses its clocks, a resolution stops them
    if name == "resolve":
        if incident.is_major:
            Incident.objects.filter(pk=incident.pk, outage_end__isnull=True).update(outage_end=timezone.now())
            for child in incident.children.exclude(status__in=[IncidentStatus.RESOLVED, *CLOSED_STATES]):
                perform_transition(
                    model=Incident,
                    pk=child.pk,
                    name="resolve",
                    actor=actor,
                    data={
                        "resolution_code": incident.resolution_code,
                        "resolution_notes": f"Resolved with major incident {incident.reference}: {incident.resolution_notes}",
                    },
                )
        _notify("resolved", incident)
    elif name in ("assign", "start_work") and incident.assignee_id:
        _notify("assigned", incident)


def _notify(event: str, incident: Incident, note=None):
    """The event's mail, stored in the caller's transaction (mof.notifications)."""
    from incidents.mail import incident_mail

    fresh = Incident.objects.select_related("caller", "assignee", "assignment_group__manager").get(pk=incident.pk)
    return incident_mail(event, fresh, note)


# --- bulk actions: all or nothing -------------------------------------------------

BULK_ACTIONS = ("assign", "set_priority", "resolve_duplicate")


def incident_bulk(*, actor, incident_ids: list[int], action: str, params: dict) -> list[Incident]:
    policy.require(actor, "incident.bulk")
    if action not in BULK_ACTIONS:
        raise ValidationError({"action": f"Choose one of: {', '.join(BULK_ACTIONS)}."})
    ids = list(dict.fromkeys(incident_ids))
    if not ids:
        raise ValidationError({"incidents": "Choose at least one incident."})
    done = []
    reason = (params.get("reason") or "").strip()  # said once for all: each incident's audit entry carries it
    with audit.refusals_survive_rollback(), transaction.atomic():
        incidents = {i.pk: i for i in Incident.objects.filter(pk__in=ids).select_related("assignment_group")}
        missing = [i for i in ids if i not in incidents]
        if missing:
            raise ValidationError({"incidents": f"Unknown incidents: {missing}."})
        for pk in ids:
            incident = incidents[pk]
            try:
                if action == "assign":
                    done.append(
                        incident_assign(
                            actor=actor,
                            incident=incident,
                            assignment_group=params.get("assignment_group"),
                            assignee=params.get("assignee"),
                            reason=reason,
                        )
                    )
                elif action == "set_priority":
                    done.append(
                        incident_update(
                            actor=actor,
                            incident=incident,
                            impact=params.get("impact"),
                            urgency=params.get("urgency"),
                            reason=reason,
                        )
                    )
                else:
                    master = params.get("duplicate_of")
                    if master is None or master.pk == pk:
                        raise ValidationError({"duplicate_of": "Name the incident these duplicate (not one of them)."})
                    done.append(
                        perform_transition(
                            model=Incident,
                            pk=pk,
                            name="cancel",
                            actor=actor,
                            data={
                                "cancel_reason": "duplicate",
                                "reason": f"Duplicate of {master.reference}" + (f": {reason}" if reason else ""),
                            },
                        )
                    )
                    master.related_incidents.add(incident)
            except ValidationError as exc:
                raise ValidationError({"incidents": [f"{incident.reference}: {m}" for m in exc.messages]}) from exc
    return done


# --- closing resolved incidents ---------------------------------------------------


def close_resolved_incidents(*, now=None, limit: int = 1000) -> int:
    """Close incidents resolved more than MOF_INCIDENT_AUTO_CLOSE_DAYS ago, as the system account."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=settings.MOF_INCIDENT_AUTO_CLOSE_DAYS)
    actor = system_user()
    closed = 0
    for pk in Incident.objects.filter(status=IncidentStatus.RESOLVED, resolved_at__lte=cutoff).values_list(
        "pk", flat=True
    )[:limit]:
        try:
            with audit.acting_as(actor, via="task:incidents.close_resolved"):
                perform_transition(model=Incident, pk=pk, name="close", actor=actor, notify=False)
            closed += 1
        except Exception:  # reopened meanwhile (409) or similar: it is no longer due
            continue
    return closed


# --- problems and known errors ----------------------------------------------------

PROBLEM_FIELDS = ("title", "description", "problem_manager", "rca_notes", "root_cause", "workaround")


def problem_create(*, actor, incidents=(), services=(), affected_cis=(), fixing_changes=(), **fields) -> Problem:
    policy.require(actor, "problem.add")
    problem = Problem(problem_manager=fields.pop("problem_manager", None) or actor)
    apply_fields(problem, fields, PROBLEM_FIELDS, exclude=["number"])
    with audit.acting_as(actor), transaction.atomic():
        problem.save()
        problem.services.set(services)
        problem.affected_cis.set(affected_cis)
        problem.fixing_changes.set(fixing_changes)
        if incidents:
            Incident.objects.filter(pk__in=[i.pk for i in incidents]).update(problem=problem)
    return problem


def problem_update(
    *, actor, problem: Problem, incidents=None, services=None, affected_cis=None, fixing_changes=None, **fields
) -> Problem:
    policy.require(actor, "problem.change", problem)
    if problem.status in (ProblemStatus.CLOSED, ProblemStatus.CLOSED_NO_FIX):
        raise ValidationError({"status": "A closed problem cannot be changed."})
    apply_fields(problem, fields, PROBLEM_FIELDS, exclude=["number"])
    with audit.acting_as(actor), transaction.atomic():
        problem.save()
        for name, value in (("services", services), ("affected_cis", affected_cis), ("fixing_changes", fixing_changes)):
            if value is not None:
                getattr(problem, name).set(value)
        if incidents is not None:
            Incident.objects.filter(pk__in=[i.pk for i in incidents]).update(problem=problem)
        if hasattr(problem, "known_error"):
            _publish_known_error(problem)
    return problem


def _publish_known_error(problem: Problem) -> KnownError:
    known_error, _ = KnownError.objects.update_or_create(
        problem=problem,
        defaults={
            "title": problem.title,
            "symptoms": problem.description,
            "root_cause": problem.root_cause,
            "workaround": problem.workaround,
            "active": True,
        },
    )
    known_error.services.set(problem.services.all())
    known_error.cis.set(problem.affected_cis.all())
    return known_error


def problem_after_transition(problem: Problem, name: str, *, actor, data) -> None:
    if name == "publish_known_error":
        _publish_known_error(problem)
    elif name in ("close", "close_no_fix") and hasattr(problem, "known_error") and name == "close":
        KnownError.objects.filter(problem=problem).update(active=False)


def problems_fixed_by_change_closed(*, change, actor) -> list[Problem]:
    resolved = []
    for problem in Problem.objects.filter(fixing_changes=change, status=ProblemStatus.FIX_IN_PROGRESS):
        if not problem.fixing_changes.exclude(status="closed").exclude(pk=change.pk).exists():
            resolved.append(perform_transition(model=Problem, pk=problem.pk, name="resolve", actor=actor))
    return resolved


def link_known_error(*, actor, incident: Incident, known_error: KnownError) -> Incident:
    return incident_update(actor=actor, incident=incident, known_error=known_error)


# --- proactive problem management -------------------------------------------------


def propose_problems(*, now=None) -> list[ProblemProposal]:
    """Clusters of recent incidents on one CI or service, not yet tied to a problem."""
    now = now or timezone.now()
    start = now - dt.timedelta(days=settings.MOF_PROBLEM_CLUSTER_DAYS)
    recent = Incident.objects.filter(created_at__gte=start, created_at__lte=now, problem__isnull=True).exclude(
        status=IncidentStatus.CANCELLED
    )
    proposals = []
    clusters = [
        (
            "ci",
            "affected_cis",
            recent.values("affected_cis")
            .exclude(affected_cis=None)
            .annotate(n=Count("pk", distinct=True))
            .filter(n__gte=settings.MOF_PROBLEM_CLUSTER_COUNT),
        ),
        (
            "service",
            "service",
            recent.values("service")
            .exclude(service=None)
            .annotate(n=Count("pk"))
            .filter(n__gte=settings.MOF_PROBLEM_CLUSTER_COUNT),
        ),
    ]
    with audit.acting_as(None, via="task:incidents.propose_problems"):
        for scope, field, rows in clusters:
            for row in rows:
                key = row[field]
                members = list(recent.filter(**{field: key}).values_list("pk", flat=True).distinct())
                try:
                    with transaction.atomic():
                        proposal = ProblemProposal.objects.create(
                            scope=scope,
                            ci_id=key if scope == "ci" else None,
                            service_id=key if scope == "service" else None,
                            incident_count=len(members),
                            window_start=start,
                            window_end=now,
                        )
                        proposal.incidents.set(members)
                except IntegrityError:  # an open proposal for this cluster exists (or a second run raced us)
                    continue
                proposals.append(proposal)
    return proposals


def proposal_accept(*, actor, proposal: ProblemProposal) -> Problem:
    policy.require(actor, "problemproposal.decide", proposal)
    with audit.acting_as(actor), transaction.atomic():
        locked = ProblemProposal.objects.select_for_update().get(pk=proposal.pk)
        if locked.status != ProposalStatus.PROPOSED:
            raise ValidationError({"status": "This proposal was already decided."})
        target = locked.ci or locked.service
        problem = problem_create(
            actor=actor,
            title=f"Recurring incidents on {target}",
            description=f"{locked.incident_count} incidents between {locked.window_start:%Y-%m-%d} and {locked.window_end:%Y-%m-%d}.",
            incidents=list(locked.incidents.all()),
            services=[locked.service] if locked.service else [],
            affected_cis=[locked.ci] if locked.ci else [],
        )
        ProblemProposal.objects.filter(pk=locked.pk).update(problem=problem)
        perform_transition(model=ProblemProposal, pk=locked.pk, name="accept", actor=actor)
    return problem


def proposal_dismiss(*, actor, proposal: ProblemProposal) -> None:
    policy.require(actor, "problemproposal.decide", proposal)
    with audit.acting_as(actor), transaction.atomic():
        locked = ProblemProposal.objects.select_for_update().get(pk=proposal.pk)
        if locked.status != ProposalStatus.PROPOSED:
            raise ValidationError({"status": "This proposal was already decided."})
        perform_transition(model=ProblemProposal, pk=locked.pk, name="dismiss", actor=actor)
