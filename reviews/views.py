"""Pages of the four review milestones: the landing page, meetings, their agendas, the
meeting mode in which managers decide one item at a time, minutes and invitations.

Thin: reads through reviews.selectors, writes through reviews.services; the meeting's
own transitions through the generic transition view (mof.views.transition_view)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from mof import csv_io, policy
from mof.choices import ReviewKind
from mof.forms import attempt
from mof.transitions import ConcurrentTransition, TransitionBlocked, TransitionNotAllowed
from mof.views import _get_or_404, history_rows, reviews_page, transition_panel, transition_view
from reviews import decisions, ics, minutes, operations_review, selectors, services
from reviews.choices import ItemState, MeetingState
from reviews.forms import AgendaAddForm, DecisionForm, HealthPeriodForm, MeetingForm
from reviews.models import Meeting


@login_required
def landing(request):
    """The review milestones, what each decides and gates, and the decisions recorded."""
    extra = {}
    if policy.can(request.user, "review.view"):
        meetings = selectors.meeting_list(user=request.user)
        extra = {
            "open_meetings": list(
                meetings.filter(state__in=[MeetingState.PLANNED, MeetingState.IN_SESSION]).order_by(
                    "scheduled_at", "id"
                )[:20]
            ),
            "meetings_url": reverse("review_meeting_list"),
            "can_add_meeting": policy.can(request.user, "review.add"),
        }
    return reviews_page(request, extra)


def _meeting_get(user, pk):
    return selectors.meeting_get(user=user, pk=pk)


def _messages_of(exc: ValidationError) -> list[str]:
    if hasattr(exc, "error_dict"):
        return [f"{m}" for msgs in exc.message_dict.values() for m in msgs]
    return list(exc.messages)


MEETING_EXPORT_COLUMNS = csv_io.columns(
    ("Number", "reference"),
    ("Meeting", "name"),
    ("Review", "get_kind_display"),
    ("Emergency", "emergency"),
    ("When", "scheduled_at"),
    ("Minutes", "duration_minutes"),
    ("Chair", "chair.username"),
    ("Items", "n_items"),
    ("Pending", "n_pending"),
    ("State", "get_state_display"),
)


@login_required
def meeting_list(request):
    policy.require(request.user, "review.view")
    qs = selectors.meeting_list(user=request.user).order_by("-scheduled_at", "-id")
    state = request.GET.get("state", "")
    error = None
    if state in MeetingState.values:
        qs = qs.filter(state=state)
    elif state:
        error = f"No such state: choose one of {', '.join(MeetingState.values)}, or any."
        qs = qs.none()
    if (
        csv_io.export_requested(request) and error is None
    ):  # every meeting the filter selects, not only the 200 shown; never a refused one as all
        return csv_io.export_csv(qs, MEETING_EXPORT_COLUMNS, filename="review-meetings")
    return render(
        request,
        "reviews/meeting_list.html",
        {
            "meetings": qs[:200],
            "state": state,
            "states": MeetingState.choices,
            "can_add": policy.can(request.user, "review.add"),
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
def meeting_create(request):
    policy.require(request.user, "review.add")
    form = MeetingForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
        try:
            meeting = services.meeting_create(actor=request.user, **data)
        except ValidationError as exc:
            for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"{meeting} planned.")
            return redirect(meeting)
    return render(request, "reviews/meeting_form.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_POST
def emergency_convene(request):
    meeting = services.emergency_cab_convene(actor=request.user)
    messages.success(
        request, f"{meeting} convened and in session: {meeting.items.count()} emergency change(s) on its agenda."
    )
    return redirect("review_mode", pk=meeting.pk)


def _meeting_context(request, meeting, panel=None, *, add_form=None, period_form=None):
    user = request.user
    items = selectors.agenda(meeting, user=user)
    return {
        "meeting": meeting,
        "items": items,
        "attendees": list(meeting.attendees.order_by("username")),
        "is_attendee": any(a.pk == user.pk for a in meeting.attendees.all()) or meeting.chair_id == user.pk,
        "can_edit_agenda": meeting.state in (MeetingState.PLANNED, MeetingState.IN_SESSION)
        and policy.can(user, "review.agenda", meeting),
        "can_mode": policy.can(user, "review.meeting_mode"),
        "vote_options": decisions.vote_values(meeting.kind),
        "add_form": add_form or AgendaAddForm(),
        "period_form": period_form or HealthPeriodForm(),
        "pending": sum(1 for i in items if i.state == ItemState.PENDING),
        **(panel or transition_panel(request, meeting, url_name="review_meeting_transition")),
    }


@login_required
def meeting_detail(request, pk):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    return render(request, "reviews/meeting_detail.html", _meeting_context(request, meeting))


def _render_meeting(request, obj, panel, status):
    return render(request, "reviews/meeting_detail.html", _meeting_context(request, obj, panel), status=status)


@login_required
def meeting_transition(request, pk, name):
    return transition_view(
        request,
        model=Meeting,
        pk=pk,
        name=name,
        get_object=_meeting_get,
        url_name="review_meeting_transition",
        render_page=_render_meeting,
    )


@login_required
@require_POST
def agenda_refresh(request, pk):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    try:
        added = services.agenda_refresh(actor=request.user, meeting=meeting)
    except ValidationError as exc:
        messages.error(request, " ".join(_messages_of(exc)))
    else:
        messages.success(
            request, f"{len(added)} item(s) added to the agenda." if added else "Nothing new awaits this review."
        )
    return redirect(meeting)


@login_required
@require_POST
def agenda_add(request, pk):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    policy.require(request.user, "review.agenda", meeting)
    form = AgendaAddForm(request.POST)
    if form.is_valid():
        try:
            subject = services.parse_subject(form.cleaned_data["subject"])
            item = services.agenda_add(actor=request.user, meeting=meeting, subject=subject)
        except ValidationError as exc:
            form.add_error("subject", _messages_of(exc))
        else:
            messages.success(request, f"{item.subject_repr} added to the agenda.")
            return redirect(meeting)
    return render(request, "reviews/meeting_detail.html", _meeting_context(request, meeting, add_form=form), status=400)


@login_required
@require_POST
def health_period(request, pk):
    """The chair states the period of an Operations Review's health report."""
    meeting = _get_or_404(_meeting_get, request.user, pk)
    if meeting.kind != ReviewKind.OPERATIONS:
        raise Http404("Only an Operations Review has an operational health report.")
    policy.require(request.user, "review.agenda", meeting)
    form = HealthPeriodForm(request.POST)
    if form.is_valid():
        _, status = attempt(
            form, lambda: operations_review.period_state(actor=request.user, meeting=meeting, **form.cleaned_data)
        )
        if status is None:
            messages.success(request, "The health report now covers the period you stated.")
            return redirect(reverse("review_meeting", args=[meeting.pk]) + "#health-report")
        form_status = status
    else:
        form_status = 400
    return render(
        request, "reviews/meeting_detail.html", _meeting_context(request, meeting, period_form=form), status=form_status
    )


@login_required
@require_POST
def agenda_publish(request, pk):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    try:
        services.agenda_publish(actor=request.user, meeting=meeting)
    except ValidationError as exc:
        messages.error(request, " ".join(_messages_of(exc)))
    else:
        messages.success(request, "Agenda published: the attendees have been sent it.")
    return redirect(meeting)


def _item_or_404(user, meeting, item_id):
    try:
        return selectors.item_get(user=user, meeting=meeting, item_id=item_id)
    except ObjectDoesNotExist:
        raise Http404("No such agenda item on this meeting.") from None


@login_required
@require_POST
def item_remove(request, pk, item_id):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    item = _item_or_404(request.user, meeting, item_id)
    try:
        services.agenda_remove(actor=request.user, item=item)
    except (ValidationError, TransitionNotAllowed) as exc:
        messages.error(request, " ".join(_messages_of(exc)) if isinstance(exc, ValidationError) else str(exc))
    else:
        messages.success(request, f"{item.subject_repr} taken off the agenda.")
    return redirect(meeting)


# --- meeting mode ------------------------------------------------------------------------


def _subject_facts(request, item) -> dict:
    """Everything a manager needs to decide the item, for its kind of subject."""
    subject = item.subject
    facts: dict = {"subject": subject, "kind": item.model_label}
    if subject is None:
        return facts
    facts["history"] = history_rows(subject, limit=30, user=request.user)
    if item.model_label == "changes.requestforchange":
        facts["comments"] = list(subject.comments.select_related("author"))
        facts["stakeholders"] = list(subject.stakeholders.select_related("user"))
        facts["affected_cis"] = list(policy.visible_cis(request.user).filter(changes=subject))
        facts["test_environment"] = list(policy.visible_cis(request.user).filter(test_changes=subject))
        facts["balance"] = (
            subject.expected_benefit_value - subject.cost_estimate
            if subject.expected_benefit_value is not None and subject.cost_estimate is not None
            else None
        )
        facts.update(_conflicts(subject))
    elif item.model_label == "changes.release":
        facts["release_changes"] = list(subject.changes.select_related("implementer", "risk_assessment"))
        facts["artifacts"] = list(subject.artifacts.all())
    return facts


def _conflicts(change) -> dict:
    try:
        from changes import conflicts
    except ImportError:  # pragma: no cover - the schedule is optional here
        return {}
    found: dict = {}
    conflicts_for = getattr(conflicts, "conflicts_for", None)
    next_free_slots = getattr(conflicts, "next_free_slots", None)
    if conflicts_for is not None and change.planned_start and change.planned_end:
        found["checked"] = True
        found["conflicts"] = conflicts_for(change)
        if found["conflicts"] and next_free_slots is not None:
            found["free_slots"] = next_free_slots(change)
    return found


def _mode_context(request, meeting, item, *, result=None, failed=None) -> dict:
    items = selectors.agenda(meeting, user=request.user)
    index = next((n for n, i in enumerate(items) if i.pk == item.pk), 0)
    current = items[index] if items else item
    return {
        "meeting": meeting,
        "item": current,
        "position": index + 1,
        "count": len(items),
        "previous": items[index - 1] if index > 0 else None,
        "next": items[index + 1] if index + 1 < len(items) else None,
        "next_pending": next((i for i in items[index + 1 :] if i.state == ItemState.PENDING), None),
        "options": decisions.options_for(meeting.kind, current.model_label),
        "vote_options": decisions.vote_values(meeting.kind, current.model_label),
        "votes": list(selectors.votes(current)),
        "quorum": services.quorum_facts(current),
        "shortfall": services.quorum_shortfall(meeting, services.quorum_facts(current)),
        "is_attendee": meeting.chair_id == request.user.pk or meeting.attendees.filter(pk=request.user.pk).exists(),
        "in_session": meeting.state == MeetingState.IN_SESSION,
        "facts": _subject_facts(request, current),
        "result": result,
        "failed": failed,
        "show_paths": policy.is_internal(request.user),
    }


@login_required
def meeting_mode(request, pk, item_id=None):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    policy.require(request.user, "review.meeting_mode", meeting)
    if item_id is None:
        items = list(meeting.items.order_by("position", "id"))
        if not items:
            messages.info(request, "The agenda is empty: refresh it first.")
            return redirect(meeting)
        first = next((i for i in items if i.state == ItemState.PENDING), items[0])
        return redirect("review_mode_item", pk=meeting.pk, item_id=first.pk)
    item = _item_or_404(request.user, meeting, item_id)
    return render(request, "reviews/meeting_mode.html", _mode_context(request, meeting, item))


def _after_item_action(request, meeting, item_id, *, result=None, failed=None, status=200):
    meeting = _get_or_404(_meeting_get, request.user, meeting.pk)
    item = _item_or_404(request.user, meeting, item_id)
    if request.htmx:
        return render(
            request,
            "reviews/_mode_item.html",
            _mode_context(request, meeting, item, result=result, failed=failed),
            status=status,
        )
    if failed:
        if status == 403:
            raise policy.Refused(" ".join(failed["reasons"]))
        return render(
            request, "reviews/meeting_mode.html", _mode_context(request, meeting, item, failed=failed), status=status
        )
    messages.success(request, result)
    return redirect("review_mode_item", pk=meeting.pk, item_id=item.pk)


def _failure(exc) -> tuple[dict, int]:
    if isinstance(exc, policy.Refused):
        return {"status": 403, "reasons": [str(exc)]}, 403
    if isinstance(exc, TransitionBlocked):
        return {"status": 400, "reasons": exc.reasons, "rules": exc.rules}, 400
    if isinstance(exc, ValidationError):
        return {"status": 400, "reasons": _messages_of(exc)}, 400
    if isinstance(exc, services.AlreadyDecided | services.MeetingNotInSession):
        return {"status": 409, "reasons": [str(exc)]}, 409
    return {
        "status": 409,
        "reasons": [
            "This is not possible in the current state: someone may have changed it first. The page now shows the current state."
        ],
    }, 409


@login_required
@require_POST
def item_decide(request, pk, item_id):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    item = _item_or_404(request.user, meeting, item_id)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _after_item_action(
            request, meeting, item.pk, failed={"status": 400, "reasons": ["Choose a decision."]}, status=400
        )
    try:
        decided = services.decide(item_id=item.pk, actor=request.user, **form.cleaned_data)
    except (policy.Refused, TransitionBlocked, ValidationError, TransitionNotAllowed, ConcurrentTransition) as exc:
        failed, status = _failure(exc)
        return _after_item_action(request, meeting, item.pk, failed=failed, status=status)
    option = decisions.option(meeting.kind, decided.decision)
    subject = decided.subject
    state = getattr(subject, "get_status_display", lambda: "")() if subject is not None else ""
    result = f"{decided.subject_repr}: {option.label}" + (
        f" — now {state.lower()}." if state and option.transition else " recorded."
    )
    if decided.deferred_to_id:
        result += f" It is on the agenda of {decided.deferred_to.meeting} now."
    return _after_item_action(request, meeting, item.pk, result=result)


@login_required
@require_POST
def item_vote(request, pk, item_id):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    item = _item_or_404(request.user, meeting, item_id)
    try:
        services.vote(item=item, voter=request.user, vote=request.POST.get("vote", ""))
    except (policy.Refused, TransitionBlocked, ValidationError, TransitionNotAllowed) as exc:
        failed, status = _failure(exc)
        if not policy.can(request.user, "review.meeting_mode"):
            if status == 403:
                raise
            messages.error(request, " ".join(failed["reasons"]))
            return redirect(meeting)
        return _after_item_action(request, meeting, item.pk, failed=failed, status=status)
    if not policy.can(request.user, "review.meeting_mode"):
        messages.success(request, f"Your vote on {item.subject_repr} is recorded.")
        return redirect(meeting)
    return _after_item_action(request, meeting, item.pk, result="Your vote is recorded.")


# --- minutes and invitation --------------------------------------------------------------


@login_required
def meeting_minutes(request, pk):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    return render(
        request, "reviews/minutes.html", {**minutes.build(meeting), "final": meeting.state == MeetingState.CLOSED}
    )


@login_required
def meeting_ics(request, pk):
    meeting = _get_or_404(_meeting_get, request.user, pk)
    body = ics.meeting_invitation(meeting, agenda=selectors.agenda(meeting))
    response = HttpResponse(
        body.encode("utf-8"),
        content_type="text/calendar; charset=utf-8; method="
        + ("CANCEL" if meeting.state == MeetingState.CANCELLED else "REQUEST"),
    )
    response["Content-Disposition"] = f'attachment; filename="review-{meeting.pk}.ics"'
    return response
