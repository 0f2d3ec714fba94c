"""What the reviews with a period report share (the SLA Review's service level report,
the Operations Review's operational health report).

A review of such a kind has a module (`KIND_MODULES`) offering

- `PERIOD_MODEL`: its `reviews.models.ReviewPeriod`, the subject of one agenda item;
- `period_ensure(meeting)`: the meeting's period, created when the agenda is filled;
- `attach(meeting, items, user=...)`: the figures its pages show, computed once per agenda;
- `decided(period=, option=, actor=, reason=)`: what deciding the report does besides the
  record (open the follow-up, freeze the figures); returns the follow-up opened, if any.

reviews.services and reviews.selectors call them through `module_for_kind` and
`module_for_label`, so neither knows any one report.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property
from importlib import import_module

from django.db import transaction
from django.utils import timezone

from mof.choices import ReviewKind
from reviews.choices import ItemState, MeetingState

DEFAULT_PERIOD = dt.timedelta(days=30)

KIND_MODULES = {
    str(ReviewKind.SLA): "reviews.sla_review",
    str(ReviewKind.OPERATIONS): "reviews.operations_review",
}


def module_for_kind(kind):
    name = KIND_MODULES.get(str(kind))
    return import_module(name) if name else None


def module_for_label(model_label: str):
    """The report module whose period model is `model_label` (None for other subjects)."""
    for name in KIND_MODULES.values():
        module = import_module(name)
        if module.PERIOD_MODEL._meta.label_lower == model_label:
            return module
    return None


# --- the period ---------------------------------------------------------------------------


def period_bounds(meeting, model, *, now: dt.datetime | None = None, default: dt.timedelta = DEFAULT_PERIOD):
    """[start, end) of the report a meeting takes up: since the last closed review of its
    kind (the end of the period it reviewed, or when it closed), else the last `default`."""
    from reviews.models import Meeting

    end = now or timezone.now()
    last = (
        Meeting.objects.filter(kind=meeting.kind, state=MeetingState.CLOSED, closed_at__lt=end)
        .exclude(pk=meeting.pk)
        .order_by("-closed_at", "-pk")
        .first()
    )
    start = None
    if last is not None:
        reviewed = model.objects.filter(meeting=last).values_list("end", flat=True).first()
        start = reviewed or last.closed_at
    if start is None or start >= end:
        start = end - default
    return start, end


def untouched(period) -> bool:
    """Whether the report's agenda item is still pending and unvoted (or not on it yet)."""
    from reviews.models import AgendaItem

    item = AgendaItem.objects.filter(
        meeting_id=period.meeting_id, model_label=period._meta.label_lower, object_id=str(period.pk)
    ).first()
    return item is None or (item.state == ItemState.PENDING and not item.votes.exists())


def period_ensure(meeting, model, *, something_to_report, now: dt.datetime | None = None):
    """The meeting's period, created at the first agenda fill that finds something to
    report (None until then). Filled again before the meeting opens, with the report
    still undecided and unvoted, it runs up to now (unless the chair stated it)."""
    period = model.objects.filter(meeting=meeting).first()
    if period is None:
        start, end = period_bounds(meeting, model, now=now)
        if not something_to_report(start, end):
            return None
        period = model(meeting=meeting, start=start, end=end)
        period.save()
        return period
    if meeting.state == MeetingState.PLANNED and not getattr(period, "stated", False):
        end = now or timezone.now()
        if end > period.end and untouched(period):
            period.end = end
            period.save()
    return period


# --- "require improvement" / "follow up" -------------------------------------------------


def follow_up_open(*, period, kind: str, actor, title: str, description: str, reason: str, services=()):
    """Open what the meeting required: a problem ("problem", through the incidents app) or
    a draft RFC ("rfc", through the changes app), and name it on the period. Called within
    reviews.services.decide's transaction."""
    from changes.services import change_create
    from incidents.services import problem_create

    with transaction.atomic():
        if kind == "problem":
            opened = problem_create(actor=actor, title=title[:200], description=description, services=list(services))
        elif kind == "rfc":
            opened = change_create(
                actor=actor, title=title[:200], description=description, business_justification=reason
            )
        else:
            raise ValueError(f"Unknown follow-up {kind!r}")
        period.follow_up_label = opened._meta.label_lower
        period.follow_up_id = str(opened.pk)
        period.follow_up_reference = opened.reference
        period.save()
    return opened


# --- what an item shows --------------------------------------------------------------------


class ItemOptions:
    """The decisions that fit an agenda item's subject (a report is accepted, not
    activated; an SLA is not "accepted"): other buttons are hidden, decide() refuses them."""

    def __init__(self, meeting, item):
        self.meeting = meeting
        self.item = item

    @property
    def options(self):
        from reviews import decisions

        return decisions.options_for(self.meeting.kind, self.item.model_label)

    @property
    def not_for_this_subject(self) -> list[str]:
        from reviews import decisions

        fits = {o.value for o in self.options}
        return [o.value for o in decisions.vote_values(self.meeting.kind) if o.value not in fits]


class PeriodReview:
    """One agenda's period report (the SLA Review's, the Operations Review's), built on first
    use and shared by its items. A review names its period item's label and builds its report."""

    period_label = ""

    def __init__(self, meeting, items, user):
        self.meeting = meeting
        self.items = items
        self.user = user

    @cached_property
    def period_item(self):
        return next((i for i in self.items if i.model_label == self.period_label), None)

    @cached_property
    def period(self):
        return self.period_item.get_subject() if self.period_item is not None else None

    @cached_property
    def report(self) -> dict | None:
        return self.build_report(self.period) if self.period is not None else None

    def build_report(self, period) -> dict:
        raise NotImplementedError
