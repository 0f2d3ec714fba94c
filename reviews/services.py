"""Writes of the review meetings. Decisions go through mof.review_gate.record_decision,
which fires the gated transition through the one door (mof.transitions) in the same
transaction: the decision, the item's outcome and the subject's move land together or
not at all. Mail goes out after commit (reviews.tasks)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from mof import audit, policy, review_gate, separation
from mof.choices import ReviewKind
from mof.pagination import parse_id
from mof.transitions import TransitionBlocked, TransitionNotAllowed, perform_transition
from reviews import decisions as decision_registry
from reviews import review_periods, selectors
from reviews.choices import OPEN_STATES, ItemState, MeetingState
from reviews.models import AgendaItem, Meeting, Vote

EMERGENCY_QUORUM = 2
EMERGENCY_ROLE_CLUSTERS = 1
DEFAULT_QUORUM = 3
DEFAULT_ROLE_CLUSTERS = 2


class AlreadyDecided(TransitionNotAllowed):
    """The item was decided (or deferred) already, perhaps a moment ago by someone else: 409."""


class MeetingNotInSession(TransitionNotAllowed):
    """Decisions and votes are taken while the meeting is in session: 409."""


# --- meetings ---------------------------------------------------------------------------


def meeting_create(
    *,
    actor,
    kind: str,
    scheduled_at,
    chair=None,
    attendees=(),
    emergency: bool = False,
    quorum: int | None = None,
    quorum_role_clusters: int | None = None,
    title: str = "",
    location: str = "",
    duration_minutes: int = 60,
) -> Meeting:
    policy.require(actor, "review.add")
    chair = chair or actor
    errors = {}
    if kind not in ReviewKind.values:
        errors["kind"] = f"Choose one of: {', '.join(ReviewKind.values)}."
    if emergency and kind != ReviewKind.RELEASE_APPROVED:
        errors["emergency"] = "Only a Release Approved Review (the CAB) meets as an emergency CAB."
    if not policy.is_manager(chair):
        errors["chair"] = "A review is chaired by a manager."
    if quorum is not None and quorum < 1:
        errors["quorum"] = "At least one vote."
    if quorum_role_clusters is not None and quorum_role_clusters < 0:
        errors["quorum_role_clusters"] = "Zero or more."
    if errors:
        raise ValidationError(errors)
    meeting = Meeting(
        kind=kind,
        emergency=emergency,
        scheduled_at=scheduled_at,
        chair=chair,
        title=title,
        location=location,
        duration_minutes=duration_minutes,
        quorum=quorum if quorum is not None else (EMERGENCY_QUORUM if emergency else DEFAULT_QUORUM),
        quorum_role_clusters=quorum_role_clusters
        if quorum_role_clusters is not None
        else (EMERGENCY_ROLE_CLUSTERS if emergency else DEFAULT_ROLE_CLUSTERS),
    )
    meeting.full_clean(exclude=["state", "chair"], validate_unique=False)
    with audit.acting_as(actor), transaction.atomic():
        meeting.save()
        meeting.attendees.set({chair.pk, *[getattr(a, "pk", a) for a in attendees]})
        _mail("meeting_invitation_mail", meeting)
    return meeting


def meeting_update(*, actor, meeting: Meeting, attendees=None, **fields) -> Meeting:
    policy.require(actor, "review.change", meeting)
    if meeting.state not in OPEN_STATES:
        raise ValidationError({"state": "A closed meeting is a record; it does not change."})
    allowed = {"title", "scheduled_at", "duration_minutes", "location", "quorum", "quorum_role_clusters"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    before = (meeting.scheduled_at, meeting.duration_minutes, meeting.location)
    for name, value in fields.items():
        setattr(meeting, name, value)
    meeting.full_clean(exclude=["state", "chair"], validate_unique=False)
    moved = (meeting.scheduled_at, meeting.duration_minutes, meeting.location) != before
    with audit.acting_as(actor), transaction.atomic():
        if moved:  # rescheduled: the invitation goes again with a higher SEQUENCE
            meeting.ical_sequence += 1
        meeting.save()
        if attendees is not None:
            meeting.attendees.set({meeting.chair_id, *[getattr(a, "pk", a) for a in attendees]})
        if moved:
            _mail("meeting_invitation_mail", meeting, update=True)
    return meeting


def meeting_after_transition(meeting: Meeting, name: str) -> None:
    """A cancelled meeting is cancelled in the attendees' calendars: METHOD:CANCEL with a
    higher SEQUENCE (called by the transition door, in its transaction)."""
    if name != "cancel":
        return
    Meeting.objects.filter(pk=meeting.pk).update(ical_sequence=F("ical_sequence") + 1)
    meeting.ical_sequence += 1
    _mail("meeting_invitation_mail", meeting)


def emergency_cab_convene(*, actor, attendees=(), quorum: int | None = None, title: str = "") -> Meeting:
    """A manager convenes an emergency CAB at once: in session now, its agenda filled."""
    with transaction.atomic():
        meeting = meeting_create(
            actor=actor,
            kind=ReviewKind.RELEASE_APPROVED,
            emergency=True,
            scheduled_at=timezone.now(),
            attendees=attendees,
            quorum=quorum,
            title=title,
        )
        meeting = perform_transition(model=Meeting, pk=meeting.pk, name="open", actor=actor)
        agenda_refresh(actor=actor, meeting=meeting)
    return meeting


def agenda_publish(*, actor, meeting: Meeting) -> Meeting:
    """Publish the agenda: the attendees' mail is stored with it (sent after commit)."""
    policy.require(actor, "review.publish", meeting)
    if meeting.state not in OPEN_STATES:
        raise ValidationError({"state": "The agenda of a closed meeting is not published any more."})
    with audit.acting_as(actor), transaction.atomic():
        Meeting.objects.filter(pk=meeting.pk).update(agenda_published_at=timezone.now())
        _mail("notify_agenda_published", meeting.pk)
    meeting.refresh_from_db()
    return meeting


# --- the agenda -------------------------------------------------------------------------


def _subject_label(model) -> str:
    return model._meta.label_lower


def _next_position(meeting) -> int:
    return (AgendaItem.objects.filter(meeting=meeting).aggregate(m=Max("position"))["m"] or 0) + 1


def _lock_meeting(meeting_id) -> Meeting:
    return Meeting.objects.select_for_update().get(pk=meeting_id)


def agenda_refresh(*, actor, meeting: Meeting) -> list[AgendaItem]:
    """Put on the agenda everything awaiting this kind of review that is neither on it
    already nor pending on another open meeting. Returns the items added."""
    policy.require(actor, "review.agenda", meeting)
    added = []
    with audit.acting_as(actor), transaction.atomic():
        meeting = _lock_meeting(meeting.pk)
        if meeting.state not in OPEN_STATES:
            raise ValidationError({"state": "The agenda of a closed meeting is fixed."})
        report = review_periods.module_for_kind(meeting.kind)
        if report is not None:
            report.period_ensure(meeting)  # the period's report leads the agenda
        position = _next_position(meeting)
        for model, qs in selectors.awaiting(meeting):
            label = _subject_label(model)
            taken = set(
                AgendaItem.objects.filter(meeting=meeting, model_label=label).values_list("object_id", flat=True)
            )
            taken |= set(selectors.subjects_on_open_meetings(label, exclude_meeting=meeting))
            for subject in qs.order_by("pk"):
                if str(subject.pk) in taken:
                    continue
                added.append(
                    AgendaItem(
                        meeting=meeting,
                        model_label=label,
                        object_id=str(subject.pk),
                        subject_repr=str(subject)[:250],
                        position=position,
                    )
                )
                position += 1
        for item in added:
            item.save()
    return added


def agenda_add(*, actor, meeting: Meeting, subject) -> AgendaItem:
    """Put one subject on the agenda by hand."""
    from mof.review_gate import gated_sources

    policy.require(actor, "review.agenda", meeting)
    label = _subject_label(type(subject))
    if label not in {m._meta.label_lower for m, _, _ in gated_sources().get(str(meeting.kind), [])}:
        raise ValidationError(
            {
                "subject": f"A {ReviewKind(meeting.kind).label} decides nothing about a {type(subject)._meta.verbose_name}."
            }
        )
    with audit.acting_as(actor), transaction.atomic():
        meeting = _lock_meeting(meeting.pk)
        if meeting.state not in OPEN_STATES:
            raise ValidationError({"state": "The agenda of a closed meeting is fixed."})
        if AgendaItem.objects.filter(meeting=meeting, model_label=label, object_id=str(subject.pk)).exists():
            raise ValidationError({"subject": f"{subject} is on this agenda already."})
        elsewhere = (
            AgendaItem.objects.filter(
                model_label=label, object_id=str(subject.pk), state=ItemState.PENDING, meeting__state__in=OPEN_STATES
            )
            .select_related("meeting")
            .first()
        )
        if elsewhere is not None:
            raise ValidationError(
                {"subject": f"{subject} is on the agenda of {elsewhere.meeting} already; defer it from there."}
            )
        item = AgendaItem(
            meeting=meeting,
            model_label=label,
            object_id=str(subject.pk),
            subject_repr=str(subject)[:250],
            position=_next_position(meeting),
            added_by_hand=True,
            added_by=actor,
        )
        item.save()
    return item


def agenda_remove(*, actor, item: AgendaItem) -> None:
    policy.require(actor, "review.agenda", item.meeting)
    with audit.acting_as(actor), transaction.atomic():
        item = AgendaItem.objects.select_for_update().select_related("meeting").get(pk=item.pk)
        if item.state != ItemState.PENDING:
            raise AlreadyDecided(
                f"Item {item} was {item.get_state_display().lower()} already; it stays in the minutes."
            )
        if item.meeting.state not in OPEN_STATES:
            raise ValidationError({"state": "The agenda of a closed meeting is fixed."})
        votes = item.votes.count()
        if votes:  # removing it would delete the votes cast: history is kept (mof.deletion)
            raise AlreadyDecided(
                f"Item {item} has {votes} vote{'s' if votes > 1 else ''} cast; it stays on the agenda: defer it instead."
            )
        item.delete()


# --- votes and decisions ------------------------------------------------------------------


def vote(*, item: AgendaItem, voter, vote: str) -> Vote:
    """An attendee's vote on a pending item of a meeting in session (cast again to change it)."""
    with audit.acting_as(voter), transaction.atomic():
        item = AgendaItem.objects.select_for_update().select_related("meeting").get(pk=item.pk)
        meeting = item.meeting
        policy.require(voter, "review.vote", meeting)
        if meeting.state != MeetingState.IN_SESSION:
            raise MeetingNotInSession(f"{meeting} is not in session: votes are cast in session.")
        if item.state != ItemState.PENDING:
            raise AlreadyDecided(f"This item was {item.get_state_display().lower()} already; votes are closed.")
        allowed = [o.value for o in decision_registry.vote_values(meeting.kind, item.model_label)]
        if vote not in allowed:
            raise ValidationError({"vote": f"Vote one of: {', '.join(allowed)}."})
        subject = item.get_subject()
        if subject is not None and getattr(subject, "requester_id", None) == voter.pk:
            audit.record_refusal(
                actor=voter,
                action="review.vote",
                target=subject,
                reasons=["[voter-is-not-requester] The requester does not vote on their own request"],
            )
            raise TransitionBlocked(
                ["The requester does not vote on their own request."], rules=["voter-is-not-requester"]
            )
        voter.forget_cached_memberships()
        cast, _ = Vote.objects.update_or_create(
            item=item,
            voter=voter,
            defaults={
                "vote": vote,
                "role_clusters": sorted(voter.roles),
                "is_manager": bool(voter.is_manager or voter.is_superuser),
            },
        )
    return cast


def quorum_facts(item: AgendaItem) -> dict:
    """What the votes on an item add up to: what the gate and the minutes record."""
    rows = list(item.votes.values_list("vote", "role_clusters", "is_manager"))
    tally: dict[str, int] = {}
    clusters: set[str] = set()
    for value, roles, manager in rows:
        tally[value] = tally.get(value, 0) + 1
        clusters.update(roles or ())
    return {
        "votes": len(rows),
        "tally": tally,
        "role_clusters": sorted(clusters),
        "managers_voting": sum(1 for _, _, manager in rows if manager),
    }


def quorum_shortfall(meeting: Meeting, facts: dict) -> list[str]:
    reasons = []
    if facts["votes"] < meeting.quorum:
        reasons.append(f"No quorum: {facts['votes']} of the {meeting.quorum} votes needed.")
    if len(facts["role_clusters"]) < meeting.quorum_role_clusters:
        reasons.append(
            f"No quorum: voters from {len(facts['role_clusters'])} role cluster(s), {meeting.quorum_role_clusters} needed."
        )
    return reasons


def managers_shortfall(subject, decision: str, facts: dict) -> list[str]:
    """A change whose risk asks for a CAB with a quorum of managers (critical) is decided
    only with that many managers voting: said here plainly, enforced again by the gate."""
    from django.conf import settings

    if getattr(subject, "approval_path", "") != "cab_quorum" or decision not in ("approve", "reject"):
        return []
    needed = settings.MOF_CAB_QUORUM_MANAGERS
    if facts["managers_voting"] >= needed:
        return []
    return [
        f"No quorum of managers: this critical change needs {needed} managers voting, {facts['managers_voting']} did."
    ]


def _roll_forward(item: AgendaItem, actor) -> AgendaItem | None:
    """Put a deferred item on the next planned meeting of that kind (if one exists;
    otherwise the next meeting's agenda refresh picks it up)."""
    meeting = item.meeting
    nxt = (
        Meeting.objects.filter(
            kind=meeting.kind,
            emergency=meeting.emergency,
            state=MeetingState.PLANNED,
            scheduled_at__gte=meeting.scheduled_at,
        )
        .exclude(pk=meeting.pk)
        .order_by("scheduled_at", "pk")
        .first()
    )
    if nxt is None:
        return None
    existing = AgendaItem.objects.filter(meeting=nxt, model_label=item.model_label, object_id=item.object_id).first()
    if existing is not None:
        return existing
    rolled = AgendaItem(
        meeting=nxt,
        model_label=item.model_label,
        object_id=item.object_id,
        subject_repr=item.subject_repr,
        position=_next_position(nxt),
        added_by=actor,
    )
    rolled.save()
    return rolled


def _check_judge(subject, actor) -> None:
    """A decision that moves nothing (no-go, follow-up) is still a judgement: whoever
    takes it is bound by the approver's separation-of-duties rules."""
    baseline = set(separation.violations(subject, actor=actor))
    found = [v for v in separation.violations(subject, actor=actor, duty="approve") if v not in baseline]
    if found:
        audit.record_refusal(
            actor=actor,
            action=f"{subject._meta.label_lower}.review_decision",
            target=subject,
            reasons=[f"[{v.rule}] {v.message}" for v in found],
        )
        raise TransitionBlocked([v.message for v in found], rules=[v.rule for v in found])


def decide(*, item_id: int, decision: str, actor, reason: str = "") -> AgendaItem:
    """Record the meeting's decision on an agenda item and fire the gated transition.

    One transaction with the item row locked: a second decision (a colleague a moment
    later, or a double click) finds the item decided and gets AlreadyDecided (409).
    Refused without quorum or in a meeting not in session; the gate and the one door
    apply separation of duties and the review's conditions (400), all or nothing."""
    policy.require(actor, "review.decide")
    with audit.refusals_survive_rollback(), audit.acting_as(actor), transaction.atomic():
        item = AgendaItem.objects.select_for_update().select_related("meeting").get(pk=item_id)
        meeting = item.meeting
        if item.state != ItemState.PENDING:
            who = f" by {item.decided_by}" if item.decided_by_id else ""
            raise AlreadyDecided(
                f"This item was {item.get_state_display().lower()} already{who} ({item.decision or '-'}); nothing was changed."
            )
        option = decision_registry.option(meeting.kind, decision, item.model_label)
        if option is None:
            allowed = [o.value for o in decision_registry.options_for(meeting.kind, item.model_label)]
            raise ValidationError(
                {"decision": f"A {ReviewKind(meeting.kind).label} decides one of: {', '.join(allowed)}."}
            )
        deferring = option.value == decision_registry.DEFER
        if meeting.state != MeetingState.IN_SESSION and not (deferring and meeting.state == MeetingState.PLANNED):
            raise MeetingNotInSession(
                f"{meeting} is {meeting.get_state_display().lower()}: decisions are taken in session."
            )
        subject = item.subject_model._default_manager.filter(pk=item.object_id).first()
        if subject is None:
            raise ValidationError({"subject": "The item's subject no longer exists."})

        if option.needs_reason and not reason.strip():
            raise ValidationError({"reason": f"{option.label}: say why (the reason goes with it)."})
        facts = quorum_facts(item)
        if not deferring:
            shortfall = quorum_shortfall(meeting, facts)
            if shortfall:
                raise TransitionBlocked(shortfall, rules=["quorum"])
            managers = managers_shortfall(subject, option.value, facts)
            if managers:
                raise TransitionBlocked(managers, rules=["quorum-managers"])
            if option.transition_for(item.model_label) is None:
                _check_judge(subject, actor)
        detail = {
            "meeting": meeting.pk,
            "item": item.pk,
            "emergency": meeting.emergency,
            "quorum": meeting.quorum,
            "quorum_role_clusters": meeting.quorum_role_clusters,
            **facts,
        }
        opened = None
        report = review_periods.module_for_label(item.model_label)
        if report is not None and not deferring:
            # A period report: its follow-up (a problem or a draft RFC) opens, and its
            # figures may freeze, in the same transaction.
            opened = report.decided(period=subject, option=option, actor=actor, reason=reason)
        if opened is not None:
            detail["follow_up"] = {
                "model_label": opened._meta.label_lower,
                "id": opened.pk,
                "reference": opened.reference,
            }
        wanted = option.transition_for(item.model_label)
        fire = wanted if wanted and wanted in _transition_names(subject) else None
        record = review_gate.record_decision(
            kind=meeting.kind,
            subject=subject,
            decision=option.value,
            actor=actor,
            notes=reason,
            reference=f"{meeting.reference} item {item.position}",
            fire=fire,
            detail=detail,
            data={"reason": reason or f"{ReviewKind(meeting.kind).label} {meeting.reference}: {option.label}"},
        )
        item.decision = option.value
        item.reason = reason
        item.decision_record = record
        if opened is not None:
            item.reason = f"{reason}\nFollow-up: {opened.reference}"
        if deferring:
            item.deferred_to = _roll_forward(item, actor)
        item.save(update_fields=["decision", "reason", "decision_record", "deferred_to"])
        # The item's own move passes the door like every other (audited with its transition).
        item = perform_transition(model=AgendaItem, pk=item.pk, name="defer" if deferring else "decide", actor=actor)
        if option.notify:
            _mail("notify_decision", item.pk)
    return item


def _transition_names(subject) -> set[str]:
    from mof.transitions import transition_names

    return set(transition_names(type(subject)))


def _mail(task_name: str, *args, **kwargs) -> None:
    """Compose the mail now, in the caller's transaction, into the notification outbox
    (mof.notifications): it commits with the decision and is sent after commit."""
    from reviews import tasks

    getattr(tasks, task_name)(*args, **kwargs)


def parse_subject(reference: str):
    """A subject named as people say it: CHG-12, REL-3, STD-4 (or model label and id)."""
    from django.apps import apps

    prefixes = {}
    for model in apps.get_models():
        prefix = getattr(model, "number_prefix", "")
        if prefix:
            prefixes[prefix] = model
    text = (reference or "").strip().upper()
    prefix, _, number = text.partition("-")
    model = prefixes.get(prefix)
    if model is None or parse_id(number) is None:
        raise ValidationError({"subject": f"Name the subject as {', '.join(p + '-123' for p in sorted(prefixes))}."})
    subject = model._default_manager.filter(number=parse_id(number)).first()
    if subject is None:
        raise ValidationError({"subject": f"{text} does not exist."})
    return subject


__all__ = [
    "AlreadyDecided",
    "MeetingNotInSession",
    "agenda_add",
    "agenda_publish",
    "agenda_refresh",
    "agenda_remove",
    "decide",
    "emergency_cab_convene",
    "meeting_create",
    "meeting_update",
    "parse_subject",
    "quorum_facts",
    "vote",
]
