"""Reads of the review meetings: what a person may see, what awaits a meeting, and an
agenda with its subjects loaded in bulk (one query per kind of subject, whatever the
agenda's length)."""

from __future__ import annotations

from collections import defaultdict
from typing import Callable

from django.apps import apps
from django.db.models import Count, Q

from mof import policy
from reviews import decisions, review_periods
from reviews.choices import OPEN_STATES, ItemState
from reviews.models import AgendaItem, Meeting, Vote

# Per kind of review and kind of subject, how to narrow "in a state that awaits the
# review" to what this meeting should take up. Apps may add their own with refine().
Refinement = Callable[[object, Meeting], object]
_REFINEMENTS: dict[tuple[str, str], Refinement] = {}
# Related rows a page shows with each kind of subject (loaded with it, in bulk).
SUBJECT_RELATED: dict[str, tuple[str, ...]] = {
    "changes.requestforchange": ("requester", "risk_assessment", "implementer", "change_manager"),
    "changes.release": ("release_manager",),
    "changes.standardchangetemplate": ("owner",),
}


def refine(kind: str, model_label: str, func: Refinement) -> None:
    _REFINEMENTS[(str(kind), model_label)] = func


def _changes_for_cab(qs, meeting):
    from changes.choices import ApprovalPath

    if meeting.emergency:
        return qs.filter(approval_path=ApprovalPath.EMERGENCY_CAB)
    # Low-risk changes the change manager approves alone never wait for the CAB.
    return qs.filter(approval_path__in=[ApprovalPath.CAB, ApprovalPath.CAB_QUORUM])


def _changes_for_operations(qs, meeting):
    from changes.choices import ChangeStatus, ChangeType

    # A routine standard change closes when done; a backed-out one is still reviewed.
    return qs.exclude(type=ChangeType.STANDARD, status=ChangeStatus.IMPLEMENTED)


refine("release_approved", "changes.requestforchange", _changes_for_cab)
refine("operations", "changes.requestforchange", _changes_for_operations)


def visible_meetings(user, queryset=None):
    qs = Meeting.objects.all() if queryset is None else queryset
    return qs if policy.can(user, "review.view") else qs.none()


def meeting_list(*, user):
    return (
        visible_meetings(user)
        .select_related("chair")
        .annotate(
            n_items=Count("items", distinct=True),
            n_pending=Count("items", filter=Q(items__state=ItemState.PENDING), distinct=True),
        )
    )


def meeting_get(*, user, pk) -> Meeting:
    return visible_meetings(user).select_related("chair").get(pk=pk)


def awaiting(meeting: Meeting) -> list[tuple]:
    """(model, queryset) of everything awaiting this meeting's kind of review."""
    from mof.review_gate import gated_sources

    found = []
    report = review_periods.module_for_kind(meeting.kind)
    if report is not None:
        # The period's report (reviews.sla_review, reviews.operations_review) comes first.
        found.append((report.PERIOD_MODEL, report.PERIOD_MODEL.objects.filter(meeting=meeting)))
    for model, field, states in gated_sources().get(str(meeting.kind), []):
        label = model._meta.label_lower
        if meeting.emergency and label != "changes.requestforchange":
            continue  # an emergency CAB takes emergency changes only
        qs = model._default_manager.filter(**{f"{field.name}__in": states})
        func = _REFINEMENTS.get((str(meeting.kind), label))
        if func is not None:
            qs = func(qs, meeting)
        found.append((model, qs))
    return found


def subjects_on_open_meetings(model_label: str, *, exclude_meeting=None):
    """Ids of subjects pending on an open meeting (planned or in session)."""
    qs = AgendaItem.objects.filter(model_label=model_label, state=ItemState.PENDING, meeting__state__in=OPEN_STATES)
    if exclude_meeting is not None:
        qs = qs.exclude(meeting=exclude_meeting)
    return qs.values_list("object_id", flat=True)


def load_subjects(items) -> None:
    """Attach each item's subject, one query per kind of subject."""
    by_label: dict[str, list] = defaultdict(list)
    for item in items:
        by_label[item.model_label].append(item)
    for label, group in by_label.items():
        try:
            model = apps.get_model(label)
        except LookupError:
            for item in group:
                item.set_subject(None)
            continue
        qs = model._default_manager.filter(pk__in={i.object_id for i in group})
        related = SUBJECT_RELATED.get(label)
        if related:
            qs = qs.select_related(*related)
        found = {str(o.pk): o for o in qs}
        for item in group:
            item.set_subject(found.get(item.object_id))


def agenda(meeting: Meeting, *, user=None) -> list[AgendaItem]:
    """The agenda in order, with subjects, vote tallies and the user's own vote."""
    items = list(meeting.items.select_related("decided_by", "deferred_to__meeting").order_by("position", "id"))
    load_subjects(items)
    tallies: dict[int, dict[str, int]] = defaultdict(dict)
    mine: dict[int, str] = {}
    rows = Vote.objects.filter(item__meeting=meeting).order_by().values_list("item_id", "vote", "voter_id")
    for item_id, vote, voter_id in rows:
        tallies[item_id][vote] = tallies[item_id].get(vote, 0) + 1
        if user is not None and voter_id == user.pk:
            mine[item_id] = vote
    for item in items:
        item.tally = tallies.get(item.pk, {})
        item.vote_count = sum(item.tally.values())
        item.my_vote = mine.get(item.pk, "")
        item.vote_options = decisions.vote_values(meeting.kind, item.model_label)  # those that fit its subject
    report = review_periods.module_for_kind(meeting.kind)
    if report is not None:
        report.attach(meeting, items, user=user)  # the report, computed once if shown
    return items


def item_get(*, user, meeting: Meeting, item_id) -> AgendaItem:
    item = meeting.items.select_related("decided_by", "meeting", "meeting__chair").get(pk=item_id)
    load_subjects([item])
    return item


def votes(item: AgendaItem):
    return item.votes.select_related("voter").order_by("cast_at", "id")
